"""Failure injection: a failed ADD leaves nothing; a killed ADD is finished by DEL.

The config turns every undoable step on (L3, gateway, ipMasq, macspoofchk) so
that each fault point has something to roll back. Reference B12 only checks the
IP release after an IPAM failure; the reference leaves the veth (OBS).
"""

import pytest

from bridge.kit import conf

ADD_POINTS = ("add.ipam-reserved", "add.veth-created", "add.bridge-attached",
              "add.addresses-configured", "add.masq-added")
DEL_POINTS = ("del.link-deleted", "del.ipam-released", "del.masq-removed")


def _full(node, backend="iptables"):
    return conf(node.data_dir, subnets=("10.77.0.0/24", "fd77::/64"), isDefaultGateway=True,
                ipMasq=True, ipMasqBackend=backend, macspoofchk=True)


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
@pytest.mark.parametrize("point", ADD_POINTS)
def test_failed_add_rolls_back_everything(node, point, backend):
    ctr = node.container()
    out = node.run("ADD", _full(node, backend), ctr, env={"PYCNI_TEST_FAULT": point,
                                                          "PYCNI_TEST_FAULT_ACTION": "fail"})
    assert out.rc != 0 and out.json["msg"] == f"injected fault at {point}", out
    assert "ADD failed at step" in out.json["details"]
    assert node.leftovers(ctr=ctr) == {}


@pytest.mark.parametrize("point", ADD_POINTS)
def test_killed_add_is_cleaned_by_the_runtimes_del(node, point):
    """SIGKILL (a runtime timeout) at each point, then the DEL the runtime always sends."""
    ctr = node.container()
    config = _full(node)
    out = node.run("ADD", config, ctr, env={"PYCNI_TEST_FAULT": point})
    assert out.rc == -9 and out.stdout == ""
    assert node.run("DEL", config, ctr).ok
    assert node.leftovers(ctr=ctr) == {}


@pytest.mark.parametrize("point", DEL_POINTS)
def test_killed_del_is_finished_by_the_next_del(node, point):
    ctr = node.container()
    config = _full(node)
    node.add(config, ctr)
    assert node.run("DEL", config, ctr, env={"PYCNI_TEST_FAULT": point}).rc == -9
    assert node.run("DEL", config, ctr).ok
    assert node.leftovers(ctr=ctr) == {}


def test_the_add_error_names_the_step_and_what_was_undone(node):
    out = node.run("ADD", _full(node), node.container(),
                   env={"PYCNI_TEST_FAULT": "add.masq-added", "PYCNI_TEST_FAULT_ACTION": "fail"})
    details = out.json["details"]
    assert details.startswith("ADD failed at step: ipMasq; rolled back: ")
    for undone in ("IPAM reservation", "veth ", "macspoofchk rules", "masquerade rules"):
        assert undone in details


def test_a_failed_add_keeps_the_shared_bridge_and_gateway(node):
    """A concurrent ADD may be using them: never undone."""
    node.add(conf(node.data_dir), node.container(), "c1")
    out = node.run("ADD", conf(node.data_dir), node.container(), "c2",
                   env={"PYCNI_TEST_FAULT": "add.addresses-configured",
                        "PYCNI_TEST_FAULT_ACTION": "fail"})
    assert not out.ok
    assert "10.77.0.1/24" in node.addrs("br-test") and len(node.veths()) == 1
