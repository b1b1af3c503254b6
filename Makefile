# The two commands of the README, and the steps they share.
#   make demo   install everything (Debian packages, venv) and run the demo
#   make test   install everything and run the whole test suite
# Run as root on Debian (the plugins and their tests need CAP_NET_ADMIN).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := iproute2 iptables nftables iputils-ping containernetworking-plugins \
                python3-venv procps kmod
PLUGINS := bridge host-local loopback

.PHONY: deps venv demo test dist bench clean

# Debian packages: apt-get runs only when one is missing (CI machines may be new).
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

# The venv: an editable install with test and packaging extras. pip rewrites the
# plugins' shebangs to the venv interpreter but drops '-I' (isolated mode: the
# caller's PYTHON* variables are ignored), so it is put back here; bytecode is
# compiled now so that no exec pays for it. editable_mode=compat makes the
# editable install a plain path in a .pth file: the default mode installs an
# import hook that every interpreter start-up (every plugin exec) imports,
# with pathlib and importlib.util, for ~9 ms.
venv: $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,dist]' \
	  --config-settings editable_mode=compat
	sed -i '1s|^#!\(/.*python[0-9.]*\)$$|#!\1 -I|' $(addprefix $(VENV)/bin/,$(PLUGINS))
	$(PY) -m compileall -q cni ipam $(VENV)/lib >/dev/null

demo: deps venv
	VENV=$(VENV) bash scripts/demo.sh

test: deps venv
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

dist: deps venv
	VENV=$(VENV) bash scripts/dist.sh

bench: deps venv dist
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info
