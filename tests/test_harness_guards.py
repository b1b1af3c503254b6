"""The suites' state readers fail when their tool fails.

A leak check compares what iptables-save, nft and ip list before and after; a
reader that took a failing or missing tool for "no rules" would make every
such check pass. Here each reader runs with PATH pointing first at fake tools
(or at a directory without the tool) and must raise; the one failure that is
an answer, nft's "No such file or directory" for a table or chain that does
not exist, must read as empty.
"""

import os
import shutil
from pathlib import Path

import pytest
from bridge.kit import Node
from reliability import harness
from support import StateReadError

REAL_IP = shutil.which("ip", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def fake_tool(directory: Path, name: str, script: str) -> None:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


@pytest.fixture
def fakes(tmp_path, monkeypatch) -> Path:
    """A directory searched before the real tools (by the test and by `ip netns exec`).
    Listed after `host`/`node` in a test's arguments: the namespace is made with the real tools."""
    d = tmp_path / "fakebin"
    d.mkdir()
    monkeypatch.setenv("PATH", f"{d}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}")
    return d


@pytest.fixture
def node(host, make_netns, data_dir) -> Node:
    return Node(host, make_netns, data_dir)


@pytest.mark.parametrize("tool", ["iptables-save", "ip6tables-save"])
def test_a_failing_iptables_save_fails_the_readers(host, node, data_dir, fakes, tool):
    fake_tool(fakes, tool, "echo 'iptables-save: broken' >&2; exit 1")
    with pytest.raises(StateReadError, match="broken"):
        harness.nat_rules(host)
    with pytest.raises(StateReadError):
        harness.Bench(host, data_dir).state()
    with pytest.raises(StateReadError):
        node.nat(4 if tool == "iptables-save" else 6)
    with pytest.raises(StateReadError):
        node.leftovers()


def test_a_failing_nft_fails_the_readers(host, node, fakes):
    fake_tool(fakes, "nft", "echo 'Error: Could not process rule: Permission denied' >&2; exit 1")
    with pytest.raises(StateReadError, match="Permission denied"):
        harness.nat_rules(host)
    with pytest.raises(StateReadError):
        node.nft()
    with pytest.raises(StateReadError):
        node.masq_rules()


def test_nft_saying_the_table_does_not_exist_reads_as_empty(node, fakes):
    fake_tool(fakes, "nft", "printf 'Error: No such file or directory\\nlist table bridge nat\\n' >&2; "
                            "exit 1")
    assert node.nft("list", "table", "bridge", "nat") == ""
    assert node.masq_rules() == []


def test_the_real_nft_answer_for_a_missing_table_reads_as_empty(node):
    assert node.nft("list", "table", "bridge", "no_such_table") == ""
    assert node.nft_json("list", "chain", "inet", "no_such_table", "no_chain") == []


def test_a_missing_tool_fails_the_readers(host, node, tmp_path, monkeypatch):
    """`ip netns exec` then says 'exec of "nft" failed: No such file or directory':
    not nft's answer about a table, so not "empty"."""
    assert REAL_IP, "ip not found"
    only_ip = tmp_path / "only-ip"
    only_ip.mkdir()
    (only_ip / "ip").symlink_to(REAL_IP)
    monkeypatch.setenv("PATH", str(only_ip))
    with pytest.raises(StateReadError, match="iptables-save"):
        harness.nat_rules(host)
    with pytest.raises(StateReadError, match="nft"):
        node.nft("list", "table", "bridge", "nat")
    with pytest.raises(StateReadError, match="nft"):
        node.masq_rules()


def test_a_failing_ip_fails_the_link_readers(host, node, fakes):
    """A fake `ip` that passes `ip netns exec` through and fails every link listing."""
    fake_tool(fakes, "ip", f'[ "$1" = netns ] && exec {REAL_IP} "$@"\n'
                           "echo 'RTNETLINK answers: Operation not permitted' >&2; exit 2")
    with pytest.raises(StateReadError, match="Operation not permitted"):
        harness.host_links(host)
    with pytest.raises(StateReadError, match="Operation not permitted"):
        node.link("br-test")


def test_a_link_that_does_not_exist_is_none(node):
    assert node.link("no-such-link") is None
    assert node.link("lo") is not None
