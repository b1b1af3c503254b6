"""`pycni install`: put the plugins where runtimes exec them, without a torn file.

Where it sits: called by cni/tool/cli.py only. Two sources:
- the frozen bundle (sys.frozen): each plugin name becomes a symlink to the
  bundle's executable, which dispatches on the name it was called by
  (cni.main.multicall). The bundle directory holds a `PYCNI_BUNDLE` file, by
  which any symlink into a pycni bundle is recognised as ours;
- a virtualenv: each plugin becomes a small launcher script whose shebang is
  the venv's interpreter in isolated mode (-I) and whose head carries the
  `# pycni-plugin: <name>` marker (cni.delegate runs such a file in-process).

Modes:
- exec (the default): the files above are the plugins under their names;
- daemon: each plugin name is a shim (cni/shim/) that hands the call to
  `pycni daemon`; the files above move to `<bin>/.pycni/<name>`, the shims'
  fallback when the daemon is away, and `<bin>/.pycni/shim.conf` holds the
  socket, strict mode and timeouts. The shim is the native one (pycni-shim.c):
  the bundle's prebuilt copy, else compiled here with the system's C compiler
  ($CC, cc); without either, the Python shim, and the output says so.

Every file is written aside (`.<name>.pycni-<random>.tmp` in the same
directory), fsynced and renamed over the old one (`cni.files`): a runtime
exec'ing the plugin meanwhile gets the old file or the new, never half a
file, and never ETXTBSY (the running inode is never written). A file that is
not ours is refused (`Refused`) before anything is changed, unless `force`.
`uninstall` removes what is ours and leaves the rest.
"""

import os
import sys

from cni import files
from cni.delegate import MARKER, SHIM_MARKER
from cni.plugins import MODULES

BUNDLE_MARKER = "PYCNI_BUNDLE"
ENTRIES = ".pycni"  # in daemon mode: the exec-mode entries and shim.conf
SHIM_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "shim")

LAUNCHER = '''#!{interpreter} -I
# pycni-plugin: {name}
"""CNI {name} plugin (pycni {version}), installed by `pycni install`."""
from cni.main import run

run("{name}")
'''


class Refused(Exception):
    """Installing would overwrite something that is not pycni's."""


def plugins(bin_dir: str, force: bool = False, mode: str = "exec",
            socket_path: str = "/run/pycni/pycni.sock", strict: bool = False) -> "list[str]":
    """Install every plugin into `bin_dir`; one line per file for the operator."""
    foreign = [os.path.join(bin_dir, n) for n in MODULES
               if os.path.lexists(os.path.join(bin_dir, n)) and not is_ours(os.path.join(bin_dir, n))]
    if foreign and not force:
        raise Refused(f"not pycni's, left alone: {', '.join(foreign)} "
                      "(another vendor's plugins?); --force replaces them")
    if "\n" in socket_path or not os.path.isabs(socket_path) or len(socket_path.encode()) > 107:
        raise Refused(f"--socket must be an absolute path of at most 107 bytes: {socket_path!r}")
    os.makedirs(bin_dir, mode=0o755, exist_ok=True)
    if mode == "exec":
        done = [_entry(bin_dir, name) for name in MODULES]
        done += _remove_entries(bin_dir)
        return done
    entries = os.path.join(bin_dir, ENTRIES)
    os.makedirs(entries, mode=0o755, exist_ok=True)
    done = [_entry(entries, name) for name in MODULES]
    conf = (f"# written by pycni install --mode daemon\nsocket={socket_path}\nstrict={int(strict)}\n"
            "ready_timeout_ms=2000\nreply_timeout_ms=0\n")
    files.replace(os.path.join(entries, "shim.conf"), conf.encode(), 0o644)
    done.append(f"{os.path.join(entries, 'shim.conf')} (daemon at {socket_path}"
                f"{', strict' if strict else ''})")
    native, why = native_shim()
    for name in MODULES:
        target = os.path.join(bin_dir, name)
        if native is not None:
            files.replace(target, native, 0o755)
            done.append(f"{target} (native shim)")
        else:
            files.replace(target, python_shim(name).encode(), 0o755)
            done.append(f"{target} (Python shim: {why})")
    return done


def _entry(directory: str, name: str) -> str:
    """The exec-mode file of one plugin in `directory`: a bundle link or a venv launcher."""
    target = os.path.join(directory, name)
    if getattr(sys, "frozen", False):
        link = _link_target(directory, sys.executable)
        files.symlink(target, link)
        return f"{target} -> {link}"
    files.replace(target, launcher(name).encode(), 0o755)
    return f"{target} (launcher for {sys.executable})"


def _remove_entries(bin_dir: str) -> "list[str]":
    """Daemon mode's leftovers (exec mode needs none): ours only."""
    entries = os.path.join(bin_dir, ENTRIES)
    if not os.path.isdir(entries) or os.path.islink(entries):
        return []
    removed = []
    for name in [*MODULES, "shim.conf"]:
        path = os.path.join(entries, name)
        if os.path.lexists(path) and (name == "shim.conf" or is_ours(path)):
            os.unlink(path)
            removed.append(f"{path} (removed)")
    try:
        os.rmdir(entries)
    except OSError:
        pass  # something not ours is left in it
    return removed


def uninstall(bin_dir: str) -> "list[str]":
    """Remove our plugins (exec mode or shims) and daemon mode's entries from bin_dir."""
    removed = []
    for name in MODULES:
        path = os.path.join(bin_dir, name)
        if os.path.lexists(path) and is_ours(path):
            os.unlink(path)
            removed.append(f"{path} (removed)")
    removed += _remove_entries(bin_dir)
    if removed:
        files.sync_dir(bin_dir)
    return removed


def native_shim() -> "tuple[bytes | None, str]":
    """(the native shim's bytes, '') or (None, why there is none)."""
    if getattr(sys, "frozen", False):
        prebuilt = os.path.join(os.path.dirname(os.path.realpath(sys.executable)), "shim", "pycni-shim")
        if os.path.isfile(prebuilt):
            with open(prebuilt, "rb") as f:
                return f.read(), ""
    import shutil
    import subprocess
    import tempfile
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    source = os.path.join(SHIM_SOURCE, "pycni-shim.c")
    if not compiler:
        return None, "no C compiler (cc) and no prebuilt shim; install gcc for the native one"
    if not os.path.isfile(source):
        return None, f"no shim source at {source}"
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "pycni-shim")
        for static in (["-static"], []):  # static saves the dynamic loader at each exec (~0.3 ms)
            done = subprocess.run([compiler, "-O2", "-std=gnu11", *static, "-o", out, source],
                                  capture_output=True, text=True, check=False)
            if done.returncode == 0:
                break
        if done.returncode != 0 or not os.path.isfile(out):
            first = (done.stderr.strip().splitlines() or ["failed"])[0]
            return None, f"compiling the native shim failed: {first}"
        with open(out, "rb") as f:
            return f.read(), ""


def python_shim(name: str) -> str:
    """The Python shim of one plugin: cni/shim/pyshim.py under a -I -S shebang."""
    interpreter = sys.executable if not getattr(sys, "frozen", False) else "/usr/bin/python3"
    if not interpreter or any(c.isspace() for c in interpreter):
        raise Refused(f"cannot write a shebang for the interpreter {interpreter!r}")
    with open(os.path.join(SHIM_SOURCE, "pyshim.py"), encoding="utf-8") as f:
        body = f.read()
    return (f"#!{interpreter} -IS\n# pycni-plugin: {name}\n"
            + body.replace('NAME = "{name}"', f"NAME = {name!r}"))


def launcher(name: str) -> str:
    """The venv launcher of one plugin."""
    from cni import __version__
    interpreter = sys.executable
    if not interpreter or any(c.isspace() for c in interpreter):
        raise Refused(f"cannot write a shebang for the interpreter {interpreter!r}")
    return LAUNCHER.format(interpreter=interpreter, name=name, version=__version__)


def is_ours(path: str) -> bool:
    """A launcher or Python shim with our marker, a native shim, or a symlink into a
    pycni bundle."""
    if os.path.islink(path):
        target = os.path.realpath(path)
        return os.path.isfile(os.path.join(os.path.dirname(target), BUNDLE_MARKER))
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    if head.startswith(b"\x7fELF"):
        return SHIM_MARKER in head
    return head.startswith(b"#!") and MARKER in head[:512]


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
    names = os.listdir(samples) if os.path.isdir(samples) else []
    available = sorted(f for f in names if os.path.isfile(os.path.join(samples, f)))  # not systemd/
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
