"""Fixtures of the bridge suite: a `node` (test-made host namespace + dataDir) per test."""

import pytest

from bridge.kit import Node


@pytest.fixture
def node(host, make_netns, data_dir) -> Node:
    return Node(host, make_netns, data_dir)
