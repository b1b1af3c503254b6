"""The exec path imports nothing heavy (performance.md): never pydantic (a refused config
is explained by cni.schema), subprocess (firewall tools are posix_spawn'ed), click,
asyncio, logging, dataclasses, typing."""

import json
import sys

import pytest

from bridge.kit import conf

PROBE = """
import io, json, sys
from cni import skel
env, stdin, out = json.loads(sys.argv[1]), sys.argv[2].encode(), io.StringIO()
rc = skel.run("cni.plugins.bridge", env=env, stdin=io.BytesIO(stdin), stdout=out)
print(json.dumps({"rc": rc, "stdout": out.getvalue(), "modules": sorted(sys.modules)}))
"""
NEVER = ("pydantic", "subprocess", "click", "asyncio", "logging", "dataclasses", "typing",
         "importlib.metadata", "hashlib")


def _exec(node, command, config, ctr) -> dict:
    """One verb in a fresh interpreter inside the host namespace: rc, stdout, modules."""
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": "c1", "CNI_NETNS": ctr.path,
           "CNI_IFNAME": "eth0", "CNI_PATH": str(sys.executable.rsplit("/", 1)[0]),
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    out = node.host.sh(sys.executable, "-I", "-c", PROBE, json.dumps(env), json.dumps(config))
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize("masq", [False, True])
def test_add_check_del_import_nothing_heavy(node, masq):
    ctr = node.container()
    config = conf(node.data_dir, ipMasq=masq)
    added = _exec(node, "ADD", config, ctr)
    checked = _exec(node, "CHECK", dict(config, prevResult=json.loads(added["stdout"])), ctr)
    deleted = _exec(node, "DEL", config, ctr)
    for verb, run in (("ADD", added), ("CHECK", checked), ("DEL", deleted)):
        assert run["rc"] == 0, (verb, run["stdout"])
        assert not [m for m in NEVER if m in run["modules"]], verb
    assert node.leftovers(ctr=ctr) == {}


def test_a_bad_config_is_explained_without_pydantic(node):
    run = _exec(node, "ADD", conf(node.data_dir, vlan=5000), node.container())
    assert run["rc"] == 1 and "invalid VLAN ID 5000" in run["stdout"]
    assert not [m for m in run["modules"] if m.split(".")[0] in NEVER or m in NEVER]
