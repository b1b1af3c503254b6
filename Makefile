# The two commands of the README (scripts/run installs make first on a bare
# machine, then runs these), and the steps they share.
#   make demo   install everything (Debian packages, venv) and run the demo
#   make test   install everything and run the whole test suite
#   make lint   ruff (style, import order) on the tree, mypy (strict) on cni/ and ipam/
#   make dist   the release tarball;  make bench   the benchmark against the Go plugins
# Run as root on Debian (the plugins and their tests need CAP_NET_ADMIN).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# PyInstaller (make dist) needs objdump (binutils) and the interpreter's shared
# library: for Debian's python3 (installed under /usr) that is libpython3.X, a
# package of its own; an interpreter built elsewhere (pyenv...) carries its own.
LIBPYTHON := $(shell $(PYTHON) -c 'import sys; v = sys.version_info; \
               print(f"libpython{v[0]}.{v[1]}" if sys.base_prefix == "/usr" else "")')
# gcc and libc6-dev build the daemon mode's native shim; python3-nftables lets the
# daemon's workers drive libnftables in-process.
APT_PACKAGES := iproute2 iptables nftables iputils-ping containernetworking-plugins \
                python3-venv procps kmod binutils gcc libc6-dev python3-nftables $(LIBPYTHON)
PLUGINS := bridge host-local loopback

.PHONY: deps venv demo test lint dist bench clean

# Debian packages: apt-get runs only when one is missing (CI machines may be new).
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

# The venv: an editable install with the test, lint and packaging extras. pip rewrites the
# plugins' shebangs to the venv interpreter but drops '-I' (isolated mode: the
# caller's PYTHON* variables are ignored), so it is put back here; bytecode is
# compiled now so that no exec pays for it. editable_mode=compat makes the
# editable install a plain path in a .pth file: the default mode installs an
# import hook that every interpreter start-up (every plugin exec) imports,
# with pathlib and importlib.util, for ~9 ms.
venv: $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,lint,dist]' \
	  --config-settings editable_mode=compat
	sed -i '1s|^#!\(/.*python[0-9.]*\)$$|#!\1 -I|' $(addprefix $(VENV)/bin/,$(PLUGINS))
	$(PY) -m compileall -q cni ipam $(VENV)/lib >/dev/null

demo: deps venv
	VENV=$(VENV) bash scripts/demo.sh

test: deps venv
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

lint: deps venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

dist: deps venv
	VENV=$(VENV) bash scripts/dist.sh

bench: deps venv dist
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
