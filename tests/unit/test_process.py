"""cni.process: finding executables, running children without subprocess, reading their errors.

The children are small shell scripts written into tmp_path; what they saw
(stdin, environment, descriptors, signal dispositions) is printed on their
stdout or left in files beside them.
"""

import errno
import json
import os
import sys
import threading
import time

import pytest

from cni import process
from cni.errors import CNIError


def script(directory, name: str, body: str, mode: int = 0o755):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return path


def gone(pid: int) -> bool:
    """True when no process `pid` exists (killed and reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- find ---------------------------------------------------------------------------


def test_find_returns_the_first_regular_executable_in_order(tmp_path):
    script(tmp_path / "a", "tool", "exit 0", mode=0o644)  # not executable
    (tmp_path / "b" / "tool").mkdir(parents=True)  # a directory
    first = script(tmp_path / "c", "tool", "exit 0")
    script(tmp_path / "d", "tool", "exit 0")
    dirs = [str(tmp_path / d) for d in ("missing", "a", "b", "c", "d")]
    assert process.find("tool", dirs) == str(first)
    assert process.find("tool", dirs[::-1]) == str(tmp_path / "d" / "tool")
    assert process.find("other", dirs) is None


def test_find_follows_symlinks_to_executables(tmp_path):
    target = script(tmp_path / "real", "bundle", "exit 0")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").symlink_to(target)
    (tmp_path / "bin" / "dangling").symlink_to(tmp_path / "nowhere")
    assert process.find("tool", [str(tmp_path / "bin")]) == str(tmp_path / "bin" / "tool")
    assert process.find("dangling", [str(tmp_path / "bin")]) is None


@pytest.mark.parametrize("name", ["", ".", "..", "sub/tool", "../tool", "/bin/sh"])
def test_find_never_looks_up_a_name_with_a_path_in_it(tmp_path, name):
    script(tmp_path / "bin" / "sub", "tool", "exit 0")
    script(tmp_path, "tool", "exit 0")
    assert process.find(name, [str(tmp_path / "bin")]) is None


def test_find_tool_ignores_relative_path_entries(tmp_path, monkeypatch):
    script(tmp_path / "rel", "tool", "exit 0")
    good = script(tmp_path / "abs", "tool", "exit 0")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"rel:{tmp_path / 'abs'}")
    assert process.find_tool("tool") == str(good)
    monkeypatch.setenv("PATH", "rel")
    monkeypatch.setattr(process, "SEARCH", (str(tmp_path / "abs"),))
    assert process.find_tool("tool") == str(good)  # no absolute entry: the usual directories


@pytest.mark.parametrize("path", [None, ""])
def test_find_tool_without_path_searches_the_usual_directories(tmp_path, monkeypatch, path):
    tool = script(tmp_path / "sbin", "tool", "exit 0")
    monkeypatch.setattr(process, "SEARCH", (str(tmp_path / "none"), str(tmp_path / "sbin")))
    if path is None:
        monkeypatch.delenv("PATH", raising=False)
    else:
        monkeypatch.setenv("PATH", path)
    assert process.find_tool("tool") == str(tool)


# -- run: the three streams ------------------------------------------------------------


def test_stdin_bytes_arrive_and_stdout_and_stderr_are_captured(tmp_path):
    cat = script(tmp_path, "cat", "cat; echo 'to stderr' >&2; exit 3")
    data = bytes(range(256)) * 4
    ((status, out, err),) = process.run([([str(cat)], data)])
    assert (status, out, err) == (3, data, b"to stderr\n")


def test_large_stdin_and_stdout_do_not_deadlock(tmp_path):
    cat = script(tmp_path, "cat", "cat; head -c 3000000 /dev/zero >&2")
    data = os.urandom(1 << 21)  # far more than a pipe buffer, both ways at once
    ((status, out, err),) = process.run([([str(cat)], data)], timeout=60)
    assert status == 0 and out == data and err == bytes(3000000)


@pytest.mark.parametrize("stdin", [None, b""])
def test_without_stdin_the_child_reads_eof(tmp_path, stdin):
    probe = script(tmp_path, "probe", 'readlink /proc/self/fd/0 >&2; cat | wc -c')
    ((status, out, err),) = process.run([([str(probe)], stdin)], timeout=10)
    assert status == 0 and out.strip() == b"0"
    if stdin is None:
        assert err.strip() == b"/dev/null"


def test_stderr_can_be_inherited(tmp_path, capfd):
    noisy = script(tmp_path, "noisy", "echo 'diagnostics' >&2; echo result")
    ((status, out, err),) = process.run([([str(noisy)], None)], capture_stderr=False)
    assert (status, out, err) == (0, b"result\n", b"")
    assert "diagnostics" in capfd.readouterr().err


def test_status_of_a_killed_child_is_minus_the_signal(tmp_path):
    suicide = script(tmp_path, "suicide", "kill -TERM $$")
    assert process.run([([str(suicide)], None)])[0][0] == -15


def test_jobs_run_concurrently_and_answer_in_order(tmp_path):
    slow = script(tmp_path, "slow", "sleep 0.5; echo $1")
    started = time.monotonic()
    done = process.run([([str(slow), str(i)], None) for i in range(4)], timeout=30)
    assert [out for _, out, _ in done] == [b"0\n", b"1\n", b"2\n", b"3\n"]
    assert time.monotonic() - started < 1.5


def test_argv_is_passed_as_is_and_the_path_is_not_searched(tmp_path, monkeypatch):
    echo = script(tmp_path, "echo-args", 'for a in "$@"; do echo "[$a]"; done')
    ((_, out, _),) = process.run([([str(echo), "a b", "", "$HOME"], None)])
    assert out == b"[a b]\n[]\n[$HOME]\n"
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OSError) as err:
        process.run([(["echo-args"], None)])
    assert err.value.errno == errno.ENOENT and err.value.filename == "echo-args"


# -- run: what the child inherits ---------------------------------------------------------


def test_env_is_ours_by_default_or_the_one_given(tmp_path, monkeypatch):
    show = script(tmp_path, "show", 'echo "$PYCNI_TEST_MARK"')
    monkeypatch.setenv("PYCNI_TEST_MARK", "ours")
    assert process.run([([str(show)], None)])[0][1] == b"ours\n"
    env = {"PYCNI_TEST_MARK": "given", "PATH": "/usr/bin:/bin"}
    assert process.run([([str(show)], None)], env=env)[0][1] == b"given\n"
    assert env == {"PYCNI_TEST_MARK": "given", "PATH": "/usr/bin:/bin"}  # not modified


def test_every_child_env_goes_through_child_env(tmp_path, monkeypatch):
    """Under the frozen bundle a foreign child loses the bootloader's library path."""
    show = script(tmp_path, "show", 'echo "${LD_LIBRARY_PATH-unset}:${_PYI_ARCHIVE_FILE-unset}"')
    exe = tmp_path / "pycni"
    exe.write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    env = {"_PYI_ARCHIVE_FILE": str(exe), "LD_LIBRARY_PATH": "/bundle/_internal",
           "LD_LIBRARY_PATH_ORIG": "/opt/vendor/lib", "PATH": "/usr/bin:/bin"}
    assert process.run([([str(show)], None)], env=env)[0][1] == b"/opt/vendor/lib:unset\n"
    assert process.run_plugin(str(show), b"", env, capture_stderr=True)[1] == \
        b"/opt/vendor/lib:unset\n"


def test_the_child_gets_no_descriptor_but_its_three(tmp_path):
    probe = script(tmp_path, "fds",
                   'for fd in 0 1 2 "$1"; do [ -e /proc/$$/fd/$fd ] && echo $fd; done\nexit 0')
    leaked = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leaked, True)  # as if whoever started us had leaked it
    try:
        ((status, out, _),) = process.run([([str(probe), str(leaked)], b"")])
        # the premise: a plain posix_spawn child does inherit it
        read, write = os.pipe()
        pid = os.posix_spawn(str(probe), [str(probe), str(leaked)], dict(os.environ),
                             file_actions=[(os.POSIX_SPAWN_DUP2, write, 1)])
        os.close(write)
        os.waitpid(pid, 0)
        with os.fdopen(read, "rb") as pipe:
            plain = pipe.read()
    finally:
        os.close(leaked)
    assert (status, out.split()) == (0, [b"0", b"1", b"2"])
    assert str(leaked).encode() in plain.split()


def test_sigpipe_and_sigxfsz_are_reset_for_the_child(tmp_path):
    """Python ignores them, and an ignored signal survives exec."""
    status = script(tmp_path, "sigign", "exec grep SigIgn /proc/self/status")
    ((_, out, _),) = process.run([([str(status)], None)])
    ignored = int(out.split()[1], 16)
    assert not ignored & (1 << (13 - 1)), "SIGPIPE ignored in the child"
    assert not ignored & (1 << (25 - 1)), "SIGXFSZ ignored in the child"
    read, write = os.pipe()  # the premise: a plain posix_spawn child has SIGPIPE ignored
    pid = os.posix_spawn(str(status), [str(status)], dict(os.environ),
                         file_actions=[(os.POSIX_SPAWN_DUP2, write, 1)])
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        assert int(pipe.read().split()[1], 16) & (1 << (13 - 1))


# -- run: failures leave nothing behind ------------------------------------------------------


def test_timeout_kills_every_child_of_the_call(tmp_path):
    sleeper = script(tmp_path, "sleeper", 'echo $$ > "$0.$1.pid"; exec sleep 30')
    started = time.monotonic()
    with pytest.raises(process.TimedOut) as err:
        process.run([([str(sleeper), "a"], None), ([str(sleeper), "b"], None)], timeout=0.5)
    assert time.monotonic() - started < 10
    assert "did not finish within 0.5 s" in str(err.value)
    for tag in ("a", "b"):
        assert gone(int((tmp_path / f"sleeper.{tag}.pid").read_text()))


def test_timeout_also_bounds_a_child_that_closed_its_pipes(tmp_path):
    """EOF on stdout and stderr is not an exit: the wait for the exit is bounded too."""
    lingerer = script(tmp_path, "lingerer", 'echo $$ > "$0.pid"; exec sleep 30 >&- 2>&- <&-')
    started = time.monotonic()
    with pytest.raises(process.TimedOut) as err:
        process.run([([str(lingerer)], None)], timeout=0.5)
    assert time.monotonic() - started < 10 and str(lingerer) in str(err.value)
    assert gone(int((tmp_path / "lingerer.pid").read_text()))


def test_a_command_that_cannot_be_spawned_stops_the_others(tmp_path):
    sleeper = script(tmp_path, "sleeper", "exec sleep 30")
    started = time.monotonic()
    with pytest.raises(OSError) as err:
        process.run([([str(sleeper)], None), ([str(tmp_path / "missing")], None)])
    assert err.value.errno == errno.ENOENT and err.value.filename == str(tmp_path / "missing")
    assert time.monotonic() - started < 10  # the sleeper was killed, not waited for
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # and reaped: no child of ours is left


def test_a_file_that_is_not_a_program_is_enoexec(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x7fELF garbage, not a program")
    bad.chmod(0o755)
    with pytest.raises(OSError) as err:
        process.run([([str(bad)], None)])
    assert err.value.errno == errno.ENOEXEC


# -- run_plugin: text file busy --------------------------------------------------------------


def test_a_busy_plugin_is_retried_until_it_can_run(tmp_path, monkeypatch):
    plugin = script(tmp_path, "plugin", "cat")
    writer = os.open(plugin, os.O_WRONLY)  # as a copy in progress holds it: exec is ETXTBSY
    monkeypatch.setattr(process, "BUSY_DELAY", 0.05)
    closer = threading.Timer(0.2, os.close, (writer,))
    closer.start()
    try:
        status, out, _ = process.run_plugin(str(plugin), b"stdin", {"PATH": "/usr/bin:/bin"},
                                            capture_stderr=True)
    finally:
        closer.join()
    assert (status, out) == (0, b"stdin")


def test_a_plugin_busy_for_good_fails_after_busy_attempts(tmp_path, monkeypatch):
    plugin = script(tmp_path, "plugin", "exit 0")
    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    writer = os.open(plugin, os.O_WRONLY)
    try:
        with pytest.raises(OSError) as err:
            process.run_plugin(str(plugin), b"", {}, capture_stderr=True)
    finally:
        os.close(writer)
    assert err.value.errno == errno.ETXTBSY
    assert process.BUSY_ATTEMPTS == 6  # libcni's: the first exec and 5 retries
    assert sleeps == [process.BUSY_DELAY] * (process.BUSY_ATTEMPTS - 1)


def test_other_exec_errors_are_not_retried(tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    with pytest.raises(OSError) as err:
        process.run_plugin(str(tmp_path / "missing"), b"", {}, capture_stderr=True)
    assert err.value.errno == errno.ENOENT and sleeps == []


# -- error_json -------------------------------------------------------------------------------


def test_error_json_keeps_the_plugins_code_msg_and_details():
    err = process.error_json(json.dumps({"cniVersion": "1.0.0", "code": 104, "msg": "no addresses",
                                         "details": "10.1.0.0/30"}).encode())
    assert isinstance(err, CNIError)
    assert (err.code, err.msg, err.details) == (104, "no addresses", "10.1.0.0/30")


@pytest.mark.parametrize("details", [None, 7, ["x"]])
def test_error_json_drops_details_that_are_not_a_string(details):
    stdout = json.dumps({"code": 999, "msg": "failed", "details": details}).encode()
    err = process.error_json(stdout)
    assert (err.code, err.msg, err.details) == (999, "failed", "")


@pytest.mark.parametrize("stdout", [b"", b"  \n", b"garbage", b"{", b"[1, 2]", b'"text"', b"null",
                                    b'{"code": "104", "msg": "x"}', b'{"code": true, "msg": "x"}',
                                    b'{"code": 1.5, "msg": "x"}', b'{"msg": "no code"}',
                                    b'{"code": 104}', b'{"code": 104, "msg": 7}',
                                    b'{"code": 104, "msg": "\xff"}', b"[" * 100000])
def test_error_json_is_none_without_a_cni_error(stdout):
    assert process.error_json(stdout) is None


# -- host tools ---------------------------------------------------------------------------------


def test_run_tool_returns_text_and_fails_with_code_109_and_the_stderr(tmp_path):
    tool = script(tmp_path, "tool", 'cat; [ "$1" = ok ] || { echo "  bad rule  " >&2; exit 2; }')
    assert process.run_tool([str(tool), "ok"], b"rules\n") == "rules\n"
    with pytest.raises(CNIError) as err:
        process.run_tool([str(tool), "no"], b"", what="iptables-restore")
    assert err.value.code == 109
    assert err.value.msg == "iptables-restore failed (exit status 2)"
    assert err.value.details == "bad rule"


def test_run_tools_failures_are_code_109(tmp_path, monkeypatch):
    with pytest.raises(CNIError) as err:
        process.run_tools([([str(tmp_path / "nft")], None)])
    assert err.value.code == 109 and err.value.msg.startswith(f"failed to run {tmp_path / 'nft'}: ")
    hang = script(tmp_path, "hang", "exec sleep 30")
    monkeypatch.setattr(process, "TOOL_TIMEOUT", 0.3)
    with pytest.raises(CNIError) as err:
        process.run_tools([([str(hang)], None)])
    assert err.value.code == 109 and err.value.msg == f"{hang} did not finish within 0.3 s"
