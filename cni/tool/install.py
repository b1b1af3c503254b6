"""`pycni install`: put the plugins where runtimes exec them, without a torn file.

Where it sits: called by cni/tool/cli.py only. Two sources:
- the frozen bundle (sys.frozen): each plugin name becomes a symlink to the
  bundle's executable, which dispatches on the name it was called by
  (cni.main.multicall). The bundle directory holds a `PYCNI_BUNDLE` file, by
  which any symlink into a pycni bundle is recognised as ours;
- a virtualenv: each plugin becomes a small launcher script whose shebang is
  the venv's interpreter in isolated mode (-I) and whose head carries the
  `# pycni-plugin: <name>` marker (cni.delegate runs such a file in-process).

Every file is written aside (`.<name>.pycni-<random>.tmp` in the same
directory), fsynced and renamed over the old one (`cni.files`): a runtime
exec'ing the plugin meanwhile gets the old file or the new, never half a
file, and never ETXTBSY (the running inode is never written). A file that is
not ours is refused (`Refused`) before anything is changed, unless `force`.
"""

import os
import sys

from cni import files
from cni.plugins import MODULES

MARKER = b"pycni-plugin: "
BUNDLE_MARKER = "PYCNI_BUNDLE"

LAUNCHER = '''#!{interpreter} -I
# pycni-plugin: {name}
"""CNI {name} plugin (pycni {version}), installed by `pycni install`."""
from cni.main import run

run("{name}")
'''


class Refused(Exception):
    """Installing would overwrite something that is not pycni's."""


def plugins(bin_dir: str, force: bool = False) -> "list[str]":
    """Install every plugin into `bin_dir`; one line per file for the operator."""
    foreign = [os.path.join(bin_dir, n) for n in MODULES
               if os.path.lexists(os.path.join(bin_dir, n)) and not is_ours(os.path.join(bin_dir, n))]
    if foreign and not force:
        raise Refused(f"not pycni's, left alone: {', '.join(foreign)} "
                      "(another vendor's plugins?); --force replaces them")
    os.makedirs(bin_dir, mode=0o755, exist_ok=True)
    done = []
    for name in MODULES:
        target = os.path.join(bin_dir, name)
        if getattr(sys, "frozen", False):
            link = _link_target(bin_dir, sys.executable)
            files.symlink(target, link)
            done.append(f"{target} -> {link}")
        else:
            files.replace(target, launcher(name).encode(), 0o755)
            done.append(f"{target} (launcher for {sys.executable})")
    return done


def launcher(name: str) -> str:
    """The venv launcher of one plugin."""
    from cni import __version__
    interpreter = sys.executable
    if not interpreter or any(c.isspace() for c in interpreter):
        raise Refused(f"cannot write a shebang for the interpreter {interpreter!r}")
    return LAUNCHER.format(interpreter=interpreter, name=name, version=__version__)


def is_ours(path: str) -> bool:
    """A launcher with our marker, or a symlink into a pycni bundle."""
    if os.path.islink(path):
        target = os.path.realpath(path)
        return os.path.isfile(os.path.join(os.path.dirname(target), BUNDLE_MARKER))
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return head.startswith(b"#!") and MARKER in head


def _link_target(bin_dir: str, executable: str) -> str:
    """Relative when the bundle lives under bin_dir (as the release tarball unpacks)."""
    exe = os.path.realpath(executable)
    base = os.path.realpath(bin_dir)
    if exe.startswith(base + os.sep):
        return os.path.relpath(exe, base)
    return exe


def sample_conf(name: str, conf_dir: str, force: bool = False) -> str:
    """Install the sample config `name` (from conf/) into conf_dir at mode 0600."""
    samples = samples_dir()
    available = sorted(os.listdir(samples)) if os.path.isdir(samples) else []
    chosen = next((f for f in available if name in (f, os.path.splitext(f)[0])), None)
    if chosen is None:
        raise Refused(f"no sample config {name!r}; available: {', '.join(available) or 'none'}")
    with open(os.path.join(samples, chosen), "rb") as f:
        data = f.read()
    target = os.path.join(conf_dir, chosen)
    if os.path.lexists(target) and not force and not _same(target, data):
        raise Refused(f"{target} exists and differs; --force replaces it")
    os.makedirs(conf_dir, mode=0o755, exist_ok=True)
    files.replace(target, data, 0o600)
    return f"{target} (mode 0600)"


def samples_dir() -> str:
    """conf/ of the source tree, or of the frozen bundle."""
    if getattr(sys, "frozen", False):
        return os.path.join(getattr(sys, "_MEIPASS", os.path.dirname(sys.executable)), "conf")
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "conf")


def _same(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False
