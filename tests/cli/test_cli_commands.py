"""The command line itself: help, usage errors, exit codes, early refusals.

In-process through click's CliRunner (nothing here reaches a plugin or the
kernel), plus one subprocess check that a plugin exec never imports click.
"""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cni import __version__
from cni.tool.cli import cli

COMMANDS = [["add"], ["check"], ["del"], ["gc"], ["status"], ["ipam"], ["ipam", "ls"],
            ["ipam", "leaks"], ["ipam", "release"], ["lint"], ["install"], ["version"]]


def invoke(args: "list[str]", **env: str):
    clean: "dict[str, str | None]" = {k: None for k in ("NETCONFPATH", "CNI_PATH", "CNI_IFNAME", "CNI_ARGS",
                                                        "CAP_ARGS", "PYCNI_CACHE_DIR")}
    clean.update(env)
    return CliRunner(env=clean).invoke(cli, args, prog_name="pycni")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_documenting_exit_codes(command):
    out = invoke([*command, "--help"])
    assert out.exit_code == 0
    assert out.stdout.startswith(f"Usage: pycni {' '.join(command)}")
    for line in ("0  success", "1  a plugin or the operation failed", "2  usage error"):
        assert line in out.stdout


def test_top_level_help_lists_every_command():
    out = invoke(["-h"])
    assert out.exit_code == 0
    for name in ("add", "check", "del", "gc", "status", "ipam", "lint", "install", "version"):
        assert f"\n  {name} " in out.stdout


@pytest.mark.parametrize("args", [
    [], ["add"], ["add", "net"], ["frobnicate"], ["ipam", "ls", "--min-age", "x"],
    ["lint"], ["install", "--bogus"], ["gc", "net", "ns", "extra"]], ids=repr)
def test_usage_errors_exit_2_with_usage_on_stderr(args):
    out = invoke(args)
    assert out.exit_code == 2
    assert "Usage: pycni" in out.stderr and out.stdout == ""


def test_version_command_and_option():
    out = invoke(["version"])
    assert out.exit_code == 0
    assert out.stdout.splitlines()[0] == f"pycni {__version__}"
    assert "CNI spec versions: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" in out.stdout
    assert invoke(["--version"]).stdout == f"pycni {__version__}\n"


def test_a_failed_operation_is_one_line_on_stderr_and_exit_1(tmp_path):
    out = invoke(["add", "nosuch", "/run/netns/x", "--conf-dir", str(tmp_path)])
    assert out.exit_code == 1 and out.stdout == ""
    assert out.stderr.startswith("pycni: no network named 'nosuch'")
    assert out.stderr.count("\n") == 1


@pytest.fixture
def conf_dir(tmp_path):
    d = tmp_path / "net.d"
    d.mkdir()
    (d / "10-x.conflist").write_text(json.dumps(
        {"cniVersion": "1.1.0", "name": "x", "plugins": [{"type": "loopback"}]}))
    return d


@pytest.mark.parametrize("env,message", [
    ({"CNI_ARGS": "IgnoreUnknown"}, "invalid CNI_ARGS pair 'IgnoreUnknown'"),
    ({"CNI_ARGS": "A=1;=2"}, "invalid CNI_ARGS pair '=2'"),
    ({"CAP_ARGS": "{nope"}, "CAP_ARGS is not valid JSON"),
    ({"CAP_ARGS": "[1, 2]"}, "CAP_ARGS must be a JSON object"),
])
def test_bad_cni_args_or_cap_args_fail_before_any_plugin_runs(conf_dir, tmp_path, env, message):
    out = invoke(["add", "x", "/run/netns/x", "--conf-dir", str(conf_dir), "--cni-path",
                  str(tmp_path / "empty"), "--cache-dir", str(tmp_path / "cache")], **env)
    assert out.exit_code == 1 and message in out.stderr
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("option,value,message", [
    ("--ifname", "a/b", "interface name contains"),
    ("--ifname", "sixteen-chars-xx", "interface name is too long"),
    ("--container-id", "../../etc", "invalid characters in container ID"),
])
def test_names_that_become_cache_paths_are_refused(conf_dir, tmp_path, option, value, message):
    cache = tmp_path / "cache"
    for verb in ("add", "check", "del"):
        out = invoke([verb, "x", "/run/netns/x", option, value, "--conf-dir", str(conf_dir),
                      "--cache-dir", str(cache)])
        assert out.exit_code == 1 and message in out.stderr, (verb, out.stderr)
    assert not cache.exists()


def test_status_and_gc_accept_a_netns_argument_as_cnitool_passes_it(conf_dir, tmp_path):
    for verb in ("status", "gc"):
        out = invoke([verb, "--help"])
        assert f"Usage: pycni {verb} [OPTIONS] NETWORK [NETNS]" in out.stdout


def test_a_plugin_exec_never_imports_click_or_the_cli():
    """argv[0] dispatch (the bundle's path) must hand plugin names straight to the skel."""
    code = "import sys; sys.argv[0] = 'loopback'; from cni.main import multicall; multicall()"
    env = {"CNI_COMMAND": "VERSION", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = subprocess.run([sys.executable, "-I", "-X", "importtime", "-c", code], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and json.loads(proc.stdout)["cniVersion"] == "1.1.0"
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "cni.main" in imported  # the trace is real
    assert not {"click", "cni.tool.cli", "cni.tool.libcni", "pydantic"} & imported
