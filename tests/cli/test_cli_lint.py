"""`pycni lint`: every problem with its file, field path and a hint; notes never fail.

The field paths are those of the plugin object inside the list (plugins[i]...),
validated as the plugin will receive it (name and cniVersion injected), with
the generic schema, the plugin's own (bridge) and its IPAM's (host-local, which
also runs host-local's range parser).
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import ROOT

from cli.kit import PYCNI
from cni.tool.cli import cli

GOOD = {"cniVersion": "1.0.0", "cniVersions": ["1.0.0", "1.1.0"], "name": "pycni", "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": True,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/24"}]]}},
    {"type": "loopback"}]}


def lint(*paths: Path):
    return CliRunner().invoke(cli, ["lint", *map(str, paths)], prog_name="pycni")


def write(tmp_path: Path, conf: "dict | str", name: str = "10-net.conflist", mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(conf if isinstance(conf, str) else json.dumps(conf))
    path.chmod(mode)
    return path


def broken(**changes: object) -> dict:
    """GOOD with changes applied; keys 'bridge.X' / 'ipam.X' go into plugins[0] / its ipam."""
    conf = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        where, _, field = key.rpartition(".")
        target = {"": conf, "bridge": conf["plugins"][0], "ipam": conf["plugins"][0]["ipam"]}[where]
        target[field] = value
    return conf


@pytest.mark.parametrize("sample", sorted(p for p in (ROOT / "conf").iterdir() if p.is_file()),
                         ids=lambda p: p.name)
def test_the_shipped_sample_configs_pass(sample):
    out = lint(sample)
    assert out.exit_code == 0, out.stderr
    assert out.stdout == f"{sample}: ok\n"


@pytest.mark.parametrize("changes,line", [
    ({"bridge.isGateway": "true"},
     "plugins[0].isGateway: Input should be a valid boolean (hint: write true or false"),
    ({"bridge.mtu": "1500"}, "plugins[0].mtu: Input should be a valid integer (hint: write a whole number"),
    ({"bridge.vlan": 5000},
     "plugins[0].vlan: Value error, invalid VLAN ID 5000 (must be between 0 and 4094)"),
    ({"bridge.bridge": "a-very-long-bridge-name"},
     "plugins[0].bridge: Value error, interface name is too long"),
    ({"bridge.MTU": "1500"}, "plugins[0].mtu: Input should be a valid integer"),  # keys match as in Go
    ({"bridge.hairpinMode": True, "bridge.promiscMode": True},
     "plugins[0].promiscMode: cannot set hairpin mode and promiscuous mode at the same time"),
    ({"name": "../etc"}, "name: invalid network name"),
    ({"cniVersion": "9.9.9"}, 'cniVersion: unsupported version "9.9.9" (hint: one of 0.1.0'),
    ({"cniVersions": ["1.1.0", "2.0"]}, 'cniVersions[1]: unsupported version "2.0"'),
    ({"plugins": []}, "plugins: must be a non-empty list of plugin objects"),
    ({"ipam.ranges": [{"subnet": "10.88.0.0/24"}]},
     "plugins[0].ipam.ranges[0]: Input should be a valid list (hint: expected a JSON list"),
    ({"ipam.ranges": [[{"subnet": "10.88.0.1/24"}]]},
     "plugins[0].ipam.ranges[0][0].subnet: invalid range set 0: Network has host bits set"),
    ({"disableCheck": "maybe"}, "disableCheck: must be a boolean"),
])
def test_each_problem_names_the_file_the_field_and_a_hint(tmp_path, changes, line):
    path = write(tmp_path, broken(**changes))
    out = lint(path)
    assert out.exit_code == 1
    problems = [msg for msg in out.stderr.splitlines() if ": note: " not in msg and msg.startswith(str(path))]
    assert any(problem.startswith(f"{path}: {line}") for problem in problems), out.stderr
    assert all("(hint: " in problem for problem in problems if "Input should" in problem)
    assert "1 of 1 file(s) have problems" in out.stderr


def test_a_plugin_type_with_a_path_is_refused(tmp_path):
    conf = broken()
    conf["plugins"][1]["type"] = "../../bin/sh"
    out = lint(write(tmp_path, conf))
    assert out.exit_code == 1 and "plugins[1].type: invalid plugin type" in out.stderr


def test_not_json_and_not_an_object(tmp_path):
    out = lint(write(tmp_path, '{"name": "x",', "a.conflist"), write(tmp_path, "[1]", "b.conflist"))
    assert out.exit_code == 1
    assert "a.conflist: not valid JSON" in out.stderr
    assert "b.conflist: (root): not a JSON object" in out.stderr
    assert "2 of 2 file(s) have problems" in out.stderr


def test_one_bad_file_fails_the_run_but_the_good_ones_say_ok(tmp_path):
    good = write(tmp_path, GOOD, "10-good.conflist")
    bad = write(tmp_path, broken(**{"bridge.hairpinMode": 1}), "20-bad.conflist")
    out = lint(good, bad)
    assert out.exit_code == 1
    assert f"{good}: ok" in out.stdout and f"{bad}: ok" not in out.stdout
    assert f"{bad}: plugins[0].hairpinMode" in out.stderr


def test_notes_explain_but_do_not_fail(tmp_path):
    conf = broken()
    conf["plugins"].append({"type": "portmap", "capabilities": {"portMappings": True}})
    loose = write(tmp_path, conf, mode=0o644)
    out = lint(loose)
    assert out.exit_code == 0, out.stderr
    notes = out.stderr
    assert "note: plugins[2].type 'portmap': pycni has no schema for it" in notes
    assert "note: mode 0644" in notes
    assert "note: runs as 1.1.0 with libcni >= 1.2" in notes


def test_a_single_plugin_conf_is_checked_and_called_deprecated(tmp_path):
    path = write(tmp_path, {"cniVersion": "1.0.0", "name": "solo", "type": "bridge",
                            "promiscMode": "yes"}, "50-solo.conf")
    out = lint(path)
    assert out.exit_code == 1
    assert f"{path}: promiscMode: Input should be a valid boolean" in out.stderr
    assert "single-plugin config (deprecated since spec 1.0.0)" in out.stderr


def test_a_file_shadowed_by_an_earlier_one_is_noted(tmp_path):
    write(tmp_path, GOOD, "10-first.conflist")
    later = write(tmp_path, GOOD, "20-later.conflist")
    out = lint(later)
    assert out.exit_code == 0
    assert "10-first.conflist, which runtimes find first: this file is not used" in out.stderr


def test_the_command_under_test_lints_with_the_models(tmp_path):
    """Exec-level: the installed `pycni` (the venv's, or the frozen bundle's) has pydantic
    and every plugin's config class. Field problems come first; the rules across
    fields (host-local's ranges) once the fields are sound."""
    import subprocess
    good = write(tmp_path, GOOD, "10-good.conflist")
    shape = write(tmp_path, broken(**{"bridge.vlan": "5", "ipam.ranges": [[{"subnet": "x"}]]}),
                  "20-shape.conflist")
    ranges = write(tmp_path, broken(**{"ipam.ranges": [[{"subnet": "x"}]]}), "30-ranges.conflist")
    proc = subprocess.run([str(PYCNI), "lint", str(good), str(shape), str(ranges)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert f"{good}: ok" in proc.stdout
    assert f"{shape}: plugins[0].vlan: Input should be a valid integer" in proc.stderr
    assert f"{ranges}: plugins[0].ipam.ranges[0][0].subnet: invalid CIDR address: x" in proc.stderr
