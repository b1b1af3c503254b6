"""A first end-to-end check: loopback ADD/CHECK/DEL through the real executable."""

from support import run_plugin

CONF = {"cniVersion": "1.1.0", "name": "lo-test", "type": "loopback"}


def test_loopback_add_check_del(container):
    add = run_plugin("loopback", "ADD", CONF, netns=container, ifname="lo")
    assert add.ok, add
    assert add.json["interfaces"] == [{"name": "lo", "mac": "00:00:00:00:00:00",
                                       "sandbox": container.path}]
    assert run_plugin("loopback", "CHECK", CONF, netns=container, ifname="lo").ok
    assert run_plugin("loopback", "DEL", CONF, netns=container, ifname="lo").ok
    assert run_plugin("loopback", "DEL", CONF, netns=container, ifname="lo").ok
