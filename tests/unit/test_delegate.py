"""cni.delegate: finding and running an IPAM on CNI_PATH (cni-spec.md 5, 7).

The delegates are small shell scripts written into tmp_path: each records the
environment and stdin it was given, then prints what the test asked for.
"""

import json
import os
import sys
import types

import pytest
from support import code_of

from cni import delegate
from cni.errors import CNIError
from cni.netconf import NetConf
from cni.request import Request
from cni.types import IPConfig, Result

CONF = {"cniVersion": "1.0.0", "name": "mynet", "type": "bridge",
        "ipam": {"type": "fake-ipam", "subnet": "10.1.0.0/16"}}
STDIN = json.dumps(CONF, indent=2).encode() + b"\n"  # odd formatting: must arrive byte for byte
RESULT = {"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1"}],
          "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}


def script(directory, name: str, body: str, mode: int = 0o755, marker: "str | None" = None):
    """A delegate that records env and stdin beside itself, then runs `body`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    head = "#!/bin/sh\n" + (f"# pycni-plugin: {marker}\n" if marker else "")
    path.write_text(head + f'env > "{path}.env"\ncat > "{path}.stdin"\n{body}\n')
    path.chmod(mode)
    return path


def printing(payload: dict, status: int = 0) -> str:
    return f"cat <<'EOF'\n{json.dumps(payload)}\nEOF\nexit {status}"


def request(path: list, command: str = "ADD", stdin: bytes = STDIN) -> Request:
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": "ctr-1", "CNI_NETNS": "/run/netns/x",
           "CNI_IFNAME": "eth0", "CNI_PATH": ":".join(str(p) for p in path),
           "CNI_ARGS": "IgnoreUnknown=1", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "PYCNI_MARK": "inherited"}
    return Request(command, "ctr-1", "/run/netns/x", "eth0", {"IgnoreUnknown": "1"},
                   [str(p) for p in path], stdin, env, NetConf.parse(json.loads(stdin)))


def test_first_match_in_cni_path_order_wins(tmp_path):
    first = script(tmp_path / "a", "fake-ipam", printing(RESULT))
    script(tmp_path / "b", "fake-ipam", printing(RESULT))
    assert delegate.find("fake-ipam", [str(tmp_path / "a"), str(tmp_path / "b")]) == str(first)
    assert delegate.find("fake-ipam", [str(tmp_path / "b"), str(tmp_path / "a")]) == str(
        tmp_path / "b" / "fake-ipam")


def test_non_executable_and_directories_are_skipped(tmp_path):
    script(tmp_path / "a", "fake-ipam", printing(RESULT), mode=0o644)
    (tmp_path / "b" / "fake-ipam").mkdir(parents=True)
    good = script(tmp_path / "c", "fake-ipam", printing(RESULT))
    dirs = [str(tmp_path / d) for d in ("missing", "a", "b", "c")]
    assert delegate.find("fake-ipam", dirs) == str(good)


def test_missing_plugin_is_code_106_naming_the_path(tmp_path):
    with pytest.raises(CNIError) as err:
        delegate.find("fake-ipam", [str(tmp_path / "a"), str(tmp_path / "b")])
    assert err.value.code == 106
    assert "fake-ipam" in err.value.msg and str(tmp_path / "a") in err.value.msg


def test_empty_cni_path_is_code_4():
    assert code_of(delegate.find, "fake-ipam", []) == 4


@pytest.mark.parametrize("kind", ["../x", "../../x", "..", ".", "sub/fake-ipam", "/bin/sh", ""])
def test_type_with_path_parts_is_code_7_and_nothing_runs(tmp_path, kind):
    """CVE-2021-20206: a type of '../x' must not reach a file outside CNI_PATH."""
    bindir = tmp_path / "bin"
    evil = script(tmp_path, "x", "exit 0")  # what '../x' would reach from bin/
    script(bindir / "sub", "fake-ipam", "exit 0")
    script(bindir, "fake-ipam", "exit 0")
    assert code_of(delegate.call, "ADD", kind, request([bindir])) == 7
    for path in (evil, bindir / "sub" / "fake-ipam", bindir / "fake-ipam"):
        assert not os.path.exists(f"{path}.env"), f"{path} was executed"


def test_add_runs_the_delegate_like_a_runtime(tmp_path):
    ipam = script(tmp_path, "fake-ipam", printing(RESULT))
    req = request([tmp_path])
    result = delegate.call("ADD", "fake-ipam", req)
    assert result == Result("1.0.0", ips=[IPConfig("10.1.0.5/16", "10.1.0.1")],
                            routes=result.routes)
    assert result.routes[0].dst == "0.0.0.0/0"
    assert (tmp_path / "fake-ipam.stdin").read_bytes() == STDIN
    env = dict(line.split("=", 1) for line in (tmp_path / "fake-ipam.env").read_text().splitlines()
               if "=" in line)
    assert env["CNI_COMMAND"] == "ADD"
    for key in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH", "CNI_ARGS", "PYCNI_MARK"):
        assert env[key] == req.env[key]
    assert ipam.exists()


@pytest.mark.parametrize("command", ["DEL", "CHECK", "GC", "STATUS"])
def test_other_verbs_override_cni_command_and_return_nothing(tmp_path, command):
    script(tmp_path, "fake-ipam", "exit 0")
    req = request([tmp_path], command="ADD")  # the main plugin's own verb differs
    assert delegate.call(command, "fake-ipam", req) is None
    env = (tmp_path / "fake-ipam.env").read_text().splitlines()
    assert f"CNI_COMMAND={command}" in env
    assert (tmp_path / "fake-ipam.stdin").read_bytes() == STDIN


def test_delegate_error_keeps_its_code(tmp_path):
    script(tmp_path, "fake-ipam", printing(
        {"cniVersion": "1.0.0", "code": 104, "msg": "no addresses", "details": "10.1.0.0/30"}, 1))
    with pytest.raises(CNIError) as err:
        delegate.call("ADD", "fake-ipam", request([tmp_path]))
    assert (err.value.code, err.value.msg, err.value.details) == (104, "no addresses", "10.1.0.0/30")


def test_reference_style_999_error_is_kept(tmp_path):
    script(tmp_path, "fake-ipam", printing({"code": 999, "msg": "failed to allocate"}, 1))
    with pytest.raises(CNIError) as err:
        delegate.call("DEL", "fake-ipam", request([tmp_path], "DEL"))
    assert (err.value.code, err.value.msg) == (999, "failed to allocate")


@pytest.mark.parametrize("stdout", ["", "garbage", "[1, 2]", '{"code": "104", "msg": "x"}',
                                    '{"msg": "no code"}', '{"code": true, "msg": "x"}'])
def test_failure_without_a_cni_error_is_code_111(tmp_path, stdout):
    script(tmp_path, "fake-ipam", f"printf '%s' '{stdout}'; echo 'on stderr' >&2; exit 3")
    with pytest.raises(CNIError) as err:
        delegate.call("ADD", "fake-ipam", request([tmp_path]))
    assert err.value.code == 111 and "exit status 3" in err.value.msg


@pytest.mark.parametrize("stdout, code", [("garbage", 111), ("", 111), ("{", 111), ("[]", 6)])
def test_success_with_garbage_stdout_is_an_error(tmp_path, stdout, code):
    """Not JSON: the delegate misbehaved (111); JSON but not a result: undecodable (6)."""
    script(tmp_path, "fake-ipam", f"printf '%s' '{stdout}'")
    assert code_of(delegate.call, "ADD", "fake-ipam", request([tmp_path])) == code


def test_success_with_an_invalid_result_is_code_6(tmp_path):
    script(tmp_path, "fake-ipam", printing({"cniVersion": "1.0.0", "ips": [{"address": "bad"}]}))
    assert code_of(delegate.call, "ADD", "fake-ipam", request([tmp_path])) == 6


def test_result_without_version_is_read_in_the_config_version(tmp_path):
    script(tmp_path, "fake-ipam", printing({"ip4": {"ip": "10.1.0.5/16"}}))
    conf = {**CONF, "cniVersion": "0.2.0"}
    result = delegate.call("ADD", "fake-ipam", request([tmp_path], stdin=json.dumps(conf).encode()))
    assert result.cni_version == "0.2.0" and result.ips == [IPConfig("10.1.0.5/16")]


def test_delegate_stderr_is_passed_through(tmp_path, capfd):
    script(tmp_path, "fake-ipam", "echo 'ipam diagnostics' >&2; exit 0")
    delegate.call("DEL", "fake-ipam", request([tmp_path], "DEL"))
    out, err = capfd.readouterr()
    assert "ipam diagnostics" in err and out == ""


LOCAL = {"fake-ipam": "pycni_fake_ipam"}  # what a plugin passes as in_process (cni.plugins.LEAVES)


@pytest.fixture
def fake_module(monkeypatch):
    """An in-process plugin registered under the type 'fake-ipam'."""
    calls = []
    module = types.ModuleType("pycni_fake_ipam")
    module.NAME = "fake-ipam"
    module.add = lambda req: calls.append(("add", req)) or Result(ips=[IPConfig("10.1.0.9/16")])
    module.delete = lambda req: calls.append(("delete", req))
    module.check = lambda req: calls.append(("check", req))
    module.gc = lambda req: calls.append(("gc", req))
    module.status = lambda req: calls.append(("status", req))
    monkeypatch.setitem(sys.modules, "pycni_fake_ipam", module)
    return calls


def test_our_own_plugin_runs_in_process(tmp_path, fake_module):
    path = script(tmp_path, "fake-ipam", "exit 1", marker="fake-ipam")
    req = request([tmp_path])
    result = delegate.call("ADD", "fake-ipam", req, in_process=LOCAL)
    assert result.ips == [IPConfig("10.1.0.9/16")]
    assert not os.path.exists(f"{path}.env"), "the file was executed"
    (verb, seen), = fake_module
    assert verb == "add" and seen.command == "ADD" and seen.stdin == STDIN
    assert (seen.container_id, seen.netns, seen.ifname) == ("ctr-1", "/run/netns/x", "eth0")


@pytest.mark.parametrize("command, verb", [("DEL", "delete"), ("CHECK", "check"), ("GC", "gc"),
                                           ("STATUS", "status")])
def test_in_process_verbs_see_their_own_command(tmp_path, fake_module, command, verb):
    script(tmp_path, "fake-ipam", "exit 1", marker="fake-ipam")
    assert delegate.call(command, "fake-ipam", request([tmp_path], "ADD"), in_process=LOCAL) is None
    (called, seen), = fake_module
    assert called == verb and seen.command == command and seen.env["CNI_COMMAND"] == command


def test_in_process_errors_keep_their_code(tmp_path, fake_module, monkeypatch):
    from cni.errors import PoolExhausted

    def exhausted(req):
        raise PoolExhausted("no addresses")

    monkeypatch.setattr(sys.modules["pycni_fake_ipam"], "add", exhausted)
    script(tmp_path, "fake-ipam", "exit 1", marker="fake-ipam")
    assert code_of(delegate.call, "ADD", "fake-ipam", request([tmp_path]), in_process=LOCAL) == 104


def test_file_without_the_marker_is_executed(tmp_path, fake_module):
    path = script(tmp_path, "fake-ipam", printing(RESULT))
    result = delegate.call("ADD", "fake-ipam", request([tmp_path]), in_process=LOCAL)
    assert result.ips == [IPConfig("10.1.0.5/16", "10.1.0.1")]
    assert os.path.exists(f"{path}.env") and fake_module == []


def test_marker_for_another_type_is_executed(tmp_path, fake_module):
    path = script(tmp_path, "fake-ipam", printing(RESULT), marker="host-local")
    delegate.call("ADD", "fake-ipam", request([tmp_path]), in_process=LOCAL)
    assert os.path.exists(f"{path}.env") and fake_module == []


def test_marker_on_a_type_we_do_not_ship_is_executed(tmp_path):
    path = script(tmp_path, "other-ipam", printing(RESULT), marker="other-ipam")
    delegate.call("ADD", "other-ipam", request([tmp_path]))
    assert os.path.exists(f"{path}.env")


def test_our_installed_executables_carry_the_marker():
    """The venv's bin/<plugin> is what CNI_PATH holds: its marker enables in-process calls."""
    from pathlib import Path
    venv_bin = Path(sys.executable).parent
    for kind in ("host-local", "loopback"):
        assert delegate._is_ours(str(venv_bin / kind), kind)
        assert not delegate._is_ours(str(venv_bin / kind), "bridge")


def test_a_file_that_cannot_be_executed_is_code_111(tmp_path):
    path = tmp_path / "fake-ipam"
    path.write_bytes(b"\x7fELF garbage, not a program")
    path.chmod(0o755)
    assert code_of(delegate.call, "ADD", "fake-ipam", request([tmp_path])) == 111


@pytest.mark.parametrize("command", ["GC", "STATUS"])
def test_in_process_plugin_without_the_verb_is_success(tmp_path, fake_module, monkeypatch, command):
    """As exec'd through the skel, a verb the plugin does not define succeeds."""
    monkeypatch.delattr(sys.modules["pycni_fake_ipam"], command.lower())
    script(tmp_path, "fake-ipam", "exit 1", marker="fake-ipam")
    assert delegate.call(command, "fake-ipam", request([tmp_path]), in_process=LOCAL) is None
    assert fake_module == []
