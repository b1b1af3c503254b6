"""Daemon mode's install and shims: the files, the fallback, strict mode, the hand-offs.

The shims run here against a daemon on a test-made socket (or none: the daemon
away); every call that changes anything runs inside test-made namespaces.
"""

import json
import os
import subprocess
from pathlib import Path

from support import run_plugin

from daemon.kit import Daemon, exec_entries, pycni, shims

PLUGINS = ("bridge", "host-local", "loopback")


def lo(bin_dir: Path, command: str, host, container, version: str = "1.1.0", **kw):
    conf = {"cniVersion": version, "name": "lo-net", "type": "loopback"}
    return run_plugin("loopback", command, conf, netns=container, ifname="lo", host=host,
                      bin_dir=bin_dir, **kw)


def bridge_conf(data_dir: Path) -> dict:
    return {"cniVersion": "1.0.0", "name": "shimnet", "type": "bridge", "bridge": "br-shim",
            "isGateway": True, "ipam": {"type": "host-local", "dataDir": str(data_dir),
                                        "ranges": [[{"subnet": "10.98.0.0/24"}]]}}


def cli(*args: str, env: "dict | None" = None) -> subprocess.CompletedProcess:
    return subprocess.run([pycni(), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


# -- install / uninstall -----------------------------------------------------------------

def test_daemon_mode_installs_native_shims_and_exec_entries(tmp_path):
    bin_dir = shims(tmp_path / "bin", "/run/test/pycni.sock", "--strict")
    for name in PLUGINS:
        shim = (bin_dir / name).read_bytes()
        assert shim.startswith(b"\x7fELF") and b"pycni-shim-marker: " in shim
        assert os.access(bin_dir / name, os.X_OK)
        entry = exec_entries(bin_dir) / name
        assert entry.exists() and os.access(entry, os.X_OK)
    conf = (exec_entries(bin_dir) / "shim.conf").read_text()
    assert "socket=/run/test/pycni.sock\n" in conf and "strict=1\n" in conf


def test_exec_mode_over_daemon_mode_removes_the_entries_and_uninstall_removes_ours(tmp_path):
    bin_dir = shims(tmp_path / "bin", "/run/test/pycni.sock")
    (bin_dir / "portmap").write_text("#!/bin/sh\nexit 0\n")  # another vendor's plugin
    out = cli("install", "--bin-dir", str(bin_dir))
    assert out.returncode == 0, out.stderr
    assert not exec_entries(bin_dir).exists()
    assert b"pycni-shim-marker: " not in (bin_dir / "bridge").read_bytes()[:1 << 16]  # not a shim
    out = cli("uninstall", "--bin-dir", str(bin_dir))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in bin_dir.iterdir()) == ["portmap"]
    out = cli("uninstall", "--bin-dir", str(bin_dir))
    assert out.returncode == 0 and "nothing of pycni's" in out.stdout


def test_install_refuses_foreign_files_and_strict_needs_daemon_mode(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bridge").write_text("#!/bin/sh\nexit 0\n")
    out = cli("install", "--bin-dir", str(bin_dir), "--mode", "daemon")
    assert out.returncode == 1 and "not pycni's" in out.stderr
    assert (bin_dir / "bridge").read_text() == "#!/bin/sh\nexit 0\n"
    out = cli("install", "--bin-dir", str(bin_dir), "--strict")
    assert out.returncode == 2 and "--strict is for --mode daemon" in out.stderr


def test_without_a_compiler_the_python_shim_is_installed_and_said_so(tmp_path, make_netns):
    out = cli("install", "--bin-dir", str(tmp_path / "bin"), "--mode", "daemon", "--socket",
              str(tmp_path / "run" / "pycni.sock"), env={"CC": "/bin/false"})
    if Path(pycni()).resolve().with_name("PYCNI_BUNDLE").exists():  # prebuilt: no compiler needed
        assert out.returncode == 0 and out.stdout.count("(native shim)") == 3, out.stdout
        return
    assert out.returncode == 0 and "Python shim: compiling the native shim failed" in out.stdout
    bin_dir = tmp_path / "bin"
    head = (bin_dir / "loopback").read_text().splitlines()[:2]
    assert head[0].endswith(" -IS") and head[1] == "# pycni-plugin: loopback"
    host, ctr = make_netns(), make_netns()
    away = lo(bin_dir, "ADD", host, ctr)  # no daemon yet: the fallback
    daemon = Daemon(tmp_path / "run" / "pycni.sock", tmp_path / "daemon.log").start()
    try:
        served = lo(bin_dir, "ADD", host, ctr)
        assert daemon.served().get("ok") == 1  # this one went through the daemon
    finally:
        daemon.stop()
    assert away.rc == served.rc == 0 and away.stdout == served.stdout


# -- the daemon away: fallback, strict mode ------------------------------------------------------

def test_daemon_away_the_shim_runs_the_plugin_itself(tmp_path, make_netns):
    bin_dir = shims(tmp_path / "bin", str(tmp_path / "nothing" / "pycni.sock"))
    host, ctr = make_netns(), make_netns()
    for command in ("ADD", "CHECK", "DEL"):
        via_shim = lo(bin_dir, command, host, ctr)
        direct = lo(exec_entries(bin_dir), command, host, ctr)
        assert via_shim.rc == direct.rc == 0 and via_shim.stdout == direct.stdout, command


def test_strict_mode_answers_add_with_code_11_and_still_deletes(tmp_path, make_netns):
    bin_dir = shims(tmp_path / "bin", str(tmp_path / "nothing" / "pycni.sock"), "--strict")
    host, ctr = make_netns(), make_netns()
    ctr.sh("ip", "link", "set", "lo", "down")
    out = lo(bin_dir, "ADD", host, ctr)
    assert out.rc == 1 and out.json["code"] == 11 and "strict" in out.json["msg"], out
    assert "UP" not in ctr.link("lo")["flags"]  # nothing was done
    assert lo(bin_dir, "DEL", host, ctr).rc == 0
    assert lo(bin_dir, "VERSION", host, ctr).rc == 0


def test_a_refused_call_falls_back_and_a_served_one_does_not(tmp_path, make_netns):
    """A daemon that answers 503 (here: a request over its size limit, 413) runs nothing:
    the shim runs the plugin itself, with the same result."""
    daemon = Daemon(tmp_path / "run" / "pycni.sock", tmp_path / "daemon.log",
                    "--max-request-bytes", "1024").start()
    try:
        bin_dir = shims(tmp_path / "bin", daemon.socket)
        host, ctr = make_netns(), make_netns()
        big = {"cniVersion": "1.1.0", "name": "lo-net", "type": "loopback", "pad": "x" * 4096}
        out = run_plugin("loopback", "ADD", big, netns=ctr, ifname="lo", host=host, bin_dir=bin_dir)
        assert out.rc == 0 and json.loads(out.stdout)["cniVersion"] == "1.1.0"
        assert daemon.served() == {"refused": 1}
        assert lo(bin_dir, "DEL", host, ctr).rc == 0
        assert daemon.served() == {"ok": 1, "refused": 1}
    finally:
        daemon.stop()


# -- the hand-offs of a shim to its exec entry ---------------------------------------------------

def test_lost_add_is_code_11_and_lost_del_runs(tmp_path, make_netns):
    bin_dir = shims(tmp_path / "bin", str(tmp_path / "nothing" / "pycni.sock"))
    host, ctr = make_netns(), make_netns()
    entries = exec_entries(bin_dir)
    out = lo(entries, "ADD", host, ctr, env={"PYCNI_SHIM_FALLBACK": "lost"})
    assert out.rc == 1 and out.json["code"] == 11 and "outcome is unknown" in out.json["msg"]
    assert lo(entries, "DEL", host, ctr, env={"PYCNI_SHIM_FALLBACK": "lost"}).rc == 0


def test_an_unwritable_reply_of_an_add_is_undone(tmp_path, make_netns, daemon):
    """The daemon ran the ADD but the shim could not write its result to stdout: the
    exec entry undoes it by DEL and says so, as the exec path does for its own stdout."""
    bin_dir = shims(tmp_path / "bin", daemon.socket)
    host, ctr = make_netns(), make_netns()
    data = tmp_path / "ipam"
    data.mkdir()
    conf = bridge_conf(data)
    added = run_plugin("bridge", "ADD", conf, netns=ctr, host=host, bin_dir=bin_dir)
    assert added.rc == 0 and list((data / "shimnet").glob("10.98.*")), added
    out = run_plugin("bridge", "ADD", conf, netns=ctr, host=host, bin_dir=exec_entries(bin_dir),
                     path=[bin_dir], env={"PYCNI_SHIM_FALLBACK": "unwritten:0:Broken pipe"})
    assert out.rc == 1 and out.stdout == ""
    assert out.stderr.strip().endswith("bridge: cannot write to stdout: Broken pipe; the ADD was undone")
    assert not list((data / "shimnet").glob("10.98.*"))
    assert ctr.link("eth0") is None


def test_handoff_variables_never_reach_a_delegate(tmp_path, make_netns, daemon):
    """PYCNI_SHIM_* are the entry's alone: an exec'd IPAM must not see them."""
    bin_dir = shims(tmp_path / "bin", daemon.socket)
    recorder = tmp_path / "ipam-bin"
    recorder.mkdir()
    log = tmp_path / "env.txt"
    (recorder / "env-ipam").write_text(
        f"#!/bin/sh\nenv > {log}\necho '{{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"no\"}}'\nexit 1\n")
    (recorder / "env-ipam").chmod(0o755)
    host, ctr = make_netns(), make_netns()
    conf = {"cniVersion": "1.0.0", "name": "n", "type": "bridge", "bridge": "br-env",
            "ipam": {"type": "env-ipam"}}
    out = run_plugin("bridge", "ADD", conf, netns=ctr, host=host, bin_dir=exec_entries(bin_dir),
                     path=[recorder], env={"PYCNI_SHIM_FALLBACK": "away"})
    assert out.rc == 1 and out.json["code"] == 7
    assert "PYCNI_SHIM" not in log.read_text()
