"""host-local's exec path stays lean: the modules a runtime pays for on every ADD/DEL.

Each verb runs in a fresh interpreter exactly as bin/host-local does, then the
loaded modules are listed; none of the heavy or needless ones may appear.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("pydantic", "subprocess", "logging", "dataclasses", "typing", "click", "asyncio",
             "importlib.metadata", "pyroute2", "signal", "threading")

PROBE = """
import json, sys
from cni import skel
rc = skel.run("cni.plugins.host_local")
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "modules": sorted(sys.modules)}, f)
"""


@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK"])
def test_exec_path_imports_nothing_heavy(tmp_path, command):
    conf = {"cniVersion": "1.0.0", "name": "lean",
            "ipam": {"type": "host-local", "dataDir": str(tmp_path / "data"), "subnet": "10.40.0.0/24"}}
    out = tmp_path / "modules.json"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "CNI_COMMAND": "ADD",
           "CNI_CONTAINERID": "lean", "CNI_NETNS": "/some/where", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"}
    if command != "ADD":  # CHECK and DEL need something to find
        subprocess.run([sys.executable, "-c", PROBE, str(out)], input=json.dumps(conf).encode(),
                       env=env, capture_output=True, check=True)
    env["CNI_COMMAND"] = command
    proc = subprocess.run([sys.executable, "-c", PROBE, str(out)], input=json.dumps(conf).encode(),
                          env=env, capture_output=True)
    report = json.loads(out.read_text())
    assert report["rc"] == 0, proc.stdout + proc.stderr
    heavy = [m for m in report["modules"] if m.split(".")[0] in FORBIDDEN or m in FORBIDDEN]
    assert heavy == []
