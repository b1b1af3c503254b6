"""The protocol channel (stdout) cannot carry the answer: one line on stderr, exit 1.

A runtime that died mid-call leaves a pipe with no reader; a broken runtime may
close our stdout; a full device refuses the write. For every plugin and verb,
exec'd as a runtime execs it (in test-made namespaces):
- stdout closed, or a pipe whose reader is gone: found before any work. Exit 1,
  exactly one line on stderr, no traceback, and nothing changed.
- stdout on /dev/full: found when the answer is written. Exit 1 and one line for
  every verb that has something to print (VERSION, a result, an error); an ADD
  whose result is lost is undone by its own DEL, so nothing is left behind. A
  verb that succeeds silently (CHECK, DEL, GC, STATUS) writes nothing: exit 0.
"""

import json
import os
import subprocess

import pytest
from support import BIN, run_plugin

VERBS = ("VERSION", "ADD", "CHECK", "DEL", "GC", "STATUS")
SUBNET = "10.77.0.0/24"


def exec_with(channel: str, plugin: str, command: str, conf: dict, *, host=None, netns=None,
              ifname: str = "eth0") -> "tuple[int, str]":
    """Run the plugin with its stdout `closed`, `broken` (a pipe whose reader is gone) or
    `full` (/dev/full); (exit status, stderr)."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": command,
           "CNI_CONTAINERID": "out-1", "CNI_IFNAME": ifname, "CNI_PATH": str(BIN),
           "CNI_NETNS": netns.path if netns is not None else ""}
    exe = str(BIN / plugin)
    # `closed`: the shell closes fd 1 right before it execs the plugin (ip netns exec
    # itself opens files, which would take fd 1 if it were closed earlier).
    argv = ["sh", "-c", 'exec "$0" >&-', exe] if channel == "closed" else [exe]
    argv = (["ip", "netns", "exec", host.name] if host is not None else []) + argv
    read_end, write_end = os.pipe()
    if channel == "broken":
        os.close(read_end)
        stdout = write_end
    else:
        os.close(read_end)
        os.close(write_end)
        stdout = os.open("/dev/full", os.O_WRONLY) if channel == "full" else subprocess.DEVNULL
    try:
        proc = subprocess.run(argv, input=json.dumps(conf).encode(), env=env, stdout=stdout,
                              stderr=subprocess.PIPE, timeout=60)
    finally:
        if isinstance(stdout, int) and stdout >= 0:
            os.close(stdout)
    return proc.returncode, proc.stderr.decode(errors="replace")


def one_line_about_stdout(stderr: str, plugin: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "stdout" in line]
    assert len(lines) == 1 and lines[0].startswith(f"{plugin}: "), stderr
    return lines[0]


# -- the three plugins, each with a config, its state, and how to set it up ------------------

class Case:
    """A plugin, its config and a view of everything it may change."""

    def __init__(self, plugin: str, host, container, data_dir) -> None:
        self.plugin, self.host, self.container, self.data_dir = plugin, host, container, data_dir
        ipam = {"type": "host-local", "ranges": [[{"subnet": SUBNET}]], "dataDir": str(data_dir)}
        self.conf = {"cniVersion": "1.1.0", "name": "outnet", "type": plugin}
        if plugin == "bridge":
            self.conf.update(bridge="pycni-out0", isGateway=True, ipam=ipam)
        elif plugin == "host-local":
            self.conf["ipam"] = ipam
        self.ifname = "lo" if plugin == "loopback" else "eth0"

    def run(self, channel: str, command: str, conf: "dict | None" = None) -> "tuple[int, str]":
        return exec_with(channel, self.plugin, command, conf or self.conf, host=self.host,
                         netns=self.container, ifname=self.ifname)

    def add(self) -> dict:
        """A normal ADD (stdout readable); the conf CHECK and DEL get afterwards."""
        out = run_plugin(self.plugin, "ADD", self.conf, netns=self.container, host=self.host,
                         ifname=self.ifname, container_id="out-1")
        assert out.ok, out
        return dict(self.conf, prevResult=out.json)

    def state(self) -> dict:
        """What an ADD changes: reservations, links in both namespaces, lo's state."""
        net = self.data_dir / "outnet"
        return {"reserved": sorted(p.name for p in net.iterdir() if p.name[0].isdigit())
                if net.exists() else [],
                "host": sorted(link["ifname"] for link in self.host.links()),
                "container": sorted((link["ifname"], "UP" in link["flags"])
                                    for link in self.container.links())}


@pytest.fixture(params=["bridge", "host-local", "loopback"])
def case(request, host, container, data_dir) -> Case:
    container.sh("ip", "link", "set", "lo", "down")  # so that loopback's ADD shows
    return Case(request.param, host, container, data_dir)


@pytest.mark.parametrize("channel", ["closed", "broken"])
@pytest.mark.parametrize("command", VERBS)
def test_an_unusable_channel_is_found_before_any_work(case, command, channel):
    conf = case.conf if command in ("VERSION", "ADD", "STATUS") else case.add()
    before = case.state()
    rc, stderr = case.run(channel, command, conf)
    assert rc == 1
    assert one_line_about_stdout(stderr, case.plugin).endswith("nothing done")
    assert case.state() == before


def test_a_lost_add_result_is_undone(case):
    before = case.state()
    rc, stderr = case.run("full", "ADD")
    assert rc == 1
    line = one_line_about_stdout(stderr, case.plugin)
    assert "No space left on device" in line and line.endswith("the ADD was undone")
    after = case.state()
    if case.plugin == "bridge":  # the bridge is shared infrastructure: a failed ADD keeps it
        after["host"].remove("pycni-out0")
    assert after == before


@pytest.mark.parametrize("command", ["VERSION", "CHECK", "DEL", "GC", "STATUS"])
def test_a_full_device_fails_every_verb_that_has_something_to_print(case, command):
    bad = dict(case.conf, name="../not-a-name")  # every verb but VERSION answers with an error
    rc, stderr = case.run("full", command, bad)
    assert rc == 1
    assert "No space left on device" in one_line_about_stdout(stderr, case.plugin)


@pytest.mark.parametrize("command", ["CHECK", "DEL", "GC", "STATUS"])
def test_a_verb_that_succeeds_silently_needs_no_channel(case, command):
    conf = dict(case.add(), **{"cni.dev/valid-attachments": [{"containerID": "out-1",
                                                               "ifname": case.ifname}]})
    rc, stderr = case.run("full", command, conf)
    assert (rc, "Traceback" in stderr) == (0, False), stderr
