"""cni.skel run in-process: env, stdin and the streams injected, a fake plugin object.

Every path ends in one of two shapes: exit 0 with nothing or one result object
on stdout, or exit 1 with exactly one error object on stdout.
"""

import io
import json

import pytest

from cni import log, skel
from cni.errors import CNIError, PoolExhausted
from cni.types import IPConfig, Result

CONF = {"cniVersion": "1.0.0", "name": "mynet", "type": "fake"}
ATTACH = {"CNI_CONTAINERID": "ctr-1", "CNI_NETNS": "/run/netns/skel-test-none", "CNI_IFNAME": "eth0",
          "CNI_PATH": "/nonexistent"}


class Fake:
    """A plugin object: records its calls; `fail` makes each verb raise it."""

    NAME = "fake"

    def __init__(self, fail: "BaseException | None" = None, result: "Result | None" = None,
                 chatty: bool = False) -> None:
        self.calls: list = []
        self.fail = fail
        self.chatty = chatty
        self.result = result or Result(ips=[IPConfig("10.1.0.5/16", "10.1.0.1")])

    def _verb(self, name: str, req) -> None:
        self.calls.append((name, req))
        if self.chatty:
            print("a stray print from", name)
        if self.fail is not None:
            raise self.fail

    def add(self, req):
        self._verb("add", req)
        return self.result

    def delete(self, req):
        self._verb("delete", req)

    def check(self, req):
        self._verb("check", req)

    def gc(self, req):
        self._verb("gc", req)

    def status(self, req):
        self._verb("status", req)


class Run:
    def __init__(self, rc: int, stdout: str, stderr: str) -> None:
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.json = json.loads(stdout) if stdout else None


@pytest.fixture(autouse=True)
def fresh_log(monkeypatch):
    """skel configures the module-level logger from each config; isolate tests from it."""
    monkeypatch.setattr(log, "_state", {"level": 30, "fd": 2, "tag": "pycni"})
    monkeypatch.delenv("PYCNI_LOG_LEVEL", raising=False)


def run(plugin, command: "str | None", conf=CONF, **env) -> Run:
    full = dict(ATTACH)
    if command is not None:
        full["CNI_COMMAND"] = command
    full.update(env)
    full = {k: v for k, v in full.items() if v is not None}
    if isinstance(conf, (dict, list)):
        conf = json.dumps(conf)
    stdin = io.BytesIO(conf.encode() if isinstance(conf, str) else conf)
    out, err = io.StringIO(), io.StringIO()
    rc = skel.run(plugin, env=full, stdin=stdin, stdout=out, stderr=err)
    return Run(rc, out.getvalue(), err.getvalue())


def assert_error(r: Run, code: int, cni_version: str = "1.0.0") -> dict:
    assert r.rc == 1
    assert isinstance(r.json, dict)
    assert json.dumps(r.json, indent=4) == r.stdout  # exactly one object, nothing else
    assert r.json["code"] == code and isinstance(r.json["msg"], str)
    assert r.json["cniVersion"] == cni_version
    assert set(r.json) <= {"cniVersion", "code", "msg", "details"}
    return r.json


def test_no_command_prints_about_on_stderr_and_exits_0():
    fake = Fake()
    r = run(fake, None)
    assert (r.rc, r.stdout) == (0, "")
    assert "fake" in r.stderr and "1.1.0" in r.stderr
    assert fake.calls == []


@pytest.mark.parametrize("command", ["FOO", "add", "Add", "VERSIONS"])
def test_unknown_command_is_code_4(command):
    err = assert_error(run(Fake(), command), 4, "1.1.0")
    assert err["msg"] == f"unknown CNI_COMMAND: {command}"


@pytest.mark.parametrize("stdin, answer", [
    ({"cniVersion": "1.0.0"}, "1.0.0"),
    ({"cniVersion": "0.1.0"}, "0.1.0"),
    ({"cniVersion": "0.4.0", "name": "x"}, "0.4.0"),
    ({"cniVersion": "9.9.9"}, "1.1.0"),
    ({"cniVersion": ["1.0.0"]}, "1.1.0"),
    ({}, "1.1.0"),
    ([], "1.1.0"),
    ("", "1.1.0"),
    ("{not json", "1.1.0"),
    ("null", "1.1.0"),
    (b"\xff\xfe", "1.1.0"),
])
def test_version_echoes_a_supported_cni_version_else_answers_1_1_0(stdin, answer):
    fake = Fake()
    r = run(fake, "VERSION", stdin, CNI_CONTAINERID=None, CNI_NETNS="dummy", CNI_IFNAME="dummy",
            CNI_PATH="dummy")
    assert r.rc == 0 and fake.calls == []
    assert r.json == {"cniVersion": answer, "supportedVersions": [
        "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}


def test_version_without_stdin_at_all():
    out, err = io.StringIO(), io.StringIO()
    rc = skel.run(Fake(), env={"CNI_COMMAND": "VERSION"}, stdin=None, stdout=out, stderr=err)
    assert rc == 0 and json.loads(out.getvalue())["cniVersion"] == "1.1.0"


def test_add_prints_the_result_in_the_config_version():
    fake = Fake()
    r = run(fake, "ADD", {**CONF, "cniVersion": "0.2.0"})
    assert r.rc == 0
    assert r.stdout == json.dumps({"cniVersion": "0.2.0", "ip4": {
        "ip": "10.1.0.5/16", "gateway": "10.1.0.1"}, "dns": {}}, indent=4)
    (name, req), = fake.calls
    assert name == "add" and req.conf.name == "mynet" and req.ifname == "eth0"
    assert req.stdin == json.dumps({**CONF, "cniVersion": "0.2.0"}).encode()


@pytest.mark.parametrize("command, verb", [("DEL", "delete"), ("CHECK", "check")])
def test_other_verbs_print_nothing_on_success(command, verb):
    fake = Fake()
    r = run(fake, command)
    assert (r.rc, r.stdout) == (0, "")
    assert [c[0] for c in fake.calls] == [verb]


@pytest.mark.parametrize("command, verb", [("GC", "gc"), ("STATUS", "status")])
def test_gc_and_status_with_empty_attachment_variables(command, verb):
    fake = Fake()
    r = run(fake, command, {**CONF, "cniVersion": "1.1.0"}, CNI_CONTAINERID="", CNI_NETNS="",
            CNI_IFNAME="", CNI_ARGS="")
    assert (r.rc, r.stdout) == (0, "")
    assert [c[0] for c in fake.calls] == [verb]


def test_a_missing_verb_function_is_success():
    class Minimal:
        NAME = "minimal"

        def add(self, req):
            return Result(ips=[IPConfig("10.0.0.2/24")])

    r = run(Minimal(), "GC", {**CONF, "cniVersion": "1.1.0"})
    assert (r.rc, r.stdout) == (0, "")


def test_cni_error_from_a_verb_becomes_its_json():
    r = run(Fake(fail=PoolExhausted("no free address", "range 10.0.0.0/30")), "ADD")
    assert assert_error(r, 104) == {"cniVersion": "1.0.0", "code": 104, "msg": "no free address",
                                    "details": "range 10.0.0.0/30"}


def test_cni_error_with_an_explicit_code_keeps_it():
    assert_error(run(Fake(fail=CNIError("delegate said so", code=11)), "DEL"), 11)


def test_unexpected_exception_is_999_without_traceback_on_stdout(capfd):
    r = run(Fake(fail=ValueError("boom")), "ADD")
    err = assert_error(r, 999)
    assert "ValueError" in err["msg"] and "boom" in err["msg"]
    assert "Traceback" not in r.stdout
    logged = capfd.readouterr().err
    assert "Traceback" in logged and "boom" in logged


def test_a_print_in_a_verb_goes_to_stderr():
    r = run(Fake(chatty=True), "ADD")
    assert r.rc == 0
    assert "a stray print from add" in r.stderr
    assert json.loads(r.stdout)["cniVersion"] == "1.0.0"


def test_a_print_in_a_failing_verb_goes_to_stderr():
    r = run(Fake(chatty=True, fail=RuntimeError("x")), "DEL")
    assert_error(r, 999)
    assert "a stray print from delete" in r.stderr


def test_unconvertible_result_is_code_1_and_no_partial_output():
    fake = Fake(result=Result())  # no address: not representable in 0.2.0
    assert_error(run(fake, "ADD", {**CONF, "cniVersion": "0.2.0"}), 1, "0.2.0")


def test_missing_variables_are_code_4_before_anything_runs():
    fake = Fake()
    r = run(fake, "ADD", CNI_CONTAINERID=None, CNI_NETNS="", CNI_IFNAME=None)
    err = assert_error(r, 4, "1.1.0")
    assert err["msg"] == "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing"
    assert fake.calls == []


@pytest.mark.parametrize("stdin", ["", "{", "[]"])
def test_undecodable_config_is_code_6(stdin):
    fake = Fake()
    assert_error(run(fake, "ADD", stdin), 6, "1.1.0")
    assert fake.calls == []


def test_stdin_read_failure_is_code_5():
    class Broken:
        def read(self):
            raise OSError(5, "Input/output error")

    out = io.StringIO()
    rc = skel.run(Fake(), env={"CNI_COMMAND": "ADD", **ATTACH}, stdin=Broken(), stdout=out,
                  stderr=io.StringIO())
    assert rc == 1 and json.loads(out.getvalue())["code"] == 5


def test_missing_name_is_code_7():
    assert_error(run(Fake(), "ADD", {"cniVersion": "1.0.0"}), 7, "1.1.0")


def test_unsupported_version_is_code_1_with_details():
    err = assert_error(run(Fake(), "ADD", {**CONF, "cniVersion": "9.9.9"}), 1, "1.1.0")
    assert '"1.1.0"' in err["details"] and "9.9.9" in err["details"]


@pytest.mark.parametrize("command, v", [("CHECK", "0.3.1"), ("GC", "1.0.0"), ("STATUS", "1.0.0")])
def test_verb_too_new_for_the_config_version_is_code_1(command, v):
    fake = Fake()
    err = assert_error(run(fake, command, {**CONF, "cniVersion": v}), 1, v)
    assert err["msg"] == f"config version does not allow {command}"
    assert fake.calls == []


@pytest.mark.parametrize("command", ["CHECK", "GC", "STATUS"])
def test_unparsable_version_is_code_6_for_semver_gated_verbs(command):
    assert_error(run(Fake(), command, {**CONF, "cniVersion": "x.y"}), 6, "1.1.0")


@pytest.mark.parametrize("command", ["ADD", "CHECK", "DEL"])
def test_own_netns_is_refused_with_code_8(command):
    fake = Fake()
    err = assert_error(run(fake, command, CNI_NETNS="/proc/self/ns/net"), 8)
    assert "own network namespace" in err["msg"]
    assert fake.calls == []


@pytest.mark.parametrize("override", ["1", "true", "TRUE"])
def test_own_netns_allowed_with_override(override):
    fake = Fake()
    r = run(fake, "ADD", CNI_NETNS="/proc/self/ns/net", CNI_NETNS_OVERRIDE=override)
    assert r.rc == 0 and len(fake.calls) == 1


def test_missing_netns_is_left_to_the_plugin():
    fake = Fake()
    assert run(fake, "DEL", CNI_NETNS="/run/netns/does-not-exist-pycni").rc == 0
    assert len(fake.calls) == 1


def test_plugin_given_as_a_module_name_is_imported_only_when_needed():
    r = run("cni.no_such_module_pycni", "VERSION", "")
    assert r.rc == 0
    err = assert_error(run("cni.no_such_module_pycni", "ADD"), 999)
    assert "ModuleNotFoundError" in err["msg"]


def test_log_level_from_the_config_reaches_the_logger(capfd):
    class Logs(Fake):
        def add(self, req):
            log.debug("debug line from add")
            return self.result

    run(Logs(), "ADD", {**CONF, "logLevel": "debug"})
    assert "debug line from add" in capfd.readouterr().err


NOISY_PLUGIN = '''
import os, subprocess, sys
from cni.types import IPConfig, Result
NAME = "noisy"

def add(req):
    print("print from the verb")
    sys.stdout.write("sys.stdout write\\n")
    os.write(1, b"raw write to fd 1\\n")
    subprocess.run(["echo", "child process output"], check=True)
    return Result(ips=[IPConfig("10.1.0.5/16")])

def delete(req):
    os.write(1, b"raw write to fd 1\\n")
    raise ValueError("after writing to fd 1")
'''


@pytest.mark.parametrize("command", ["ADD", "DEL"])
def test_nothing_written_to_fd_1_reaches_stdout_in_a_real_process(tmp_path, command):
    import subprocess
    import sys
    (tmp_path / "noisy_plugin.py").write_text(NOISY_PLUGIN)
    env = {"CNI_COMMAND": command, **ATTACH, "PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    entry = "import sys; from cni import skel; sys.exit(skel.run('noisy_plugin'))"
    proc = subprocess.run([sys.executable, "-c", entry], input=json.dumps(CONF).encode(), env=env,
                          capture_output=True, check=False)
    out = json.loads(proc.stdout)  # exactly one JSON document
    assert json.dumps(out, indent=4).encode() == proc.stdout
    if command == "ADD":
        assert proc.returncode == 0 and out["ips"] == [{"address": "10.1.0.5/16"}]
        for text in (b"print from the verb", b"sys.stdout write", b"child process output"):
            assert text in proc.stderr
    else:
        assert proc.returncode == 1 and out["code"] == 999
    assert b"raw write to fd 1" in proc.stderr
