"""The systemd units of daemon mode (conf/systemd/) agree with the daemon and the shims."""

import configparser

from support import ROOT

from cni.daemon.server import DEFAULT_SOCKET

UNITS = ROOT / "conf" / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def test_the_socket_unit_listens_where_the_daemon_and_the_shims_expect():
    socket = unit("pycni.socket")["Socket"]
    assert socket["ListenStream"] == DEFAULT_SOCKET
    assert socket["SocketMode"] == "0600" and socket["DirectoryMode"] == "0700"
    assert socket["SocketUser"] == "root" and socket["Accept"] == "no"


def test_the_service_runs_the_daemon_on_that_socket_and_drains_on_stop():
    service = unit("pycni.service")
    exec_start = service["Service"]["ExecStart"].split()
    assert exec_start[1:4] == ["daemon", "--socket", DEFAULT_SOCKET]
    assert service["Service"]["KillSignal"] == "SIGTERM" and service["Service"]["KillMode"] == "mixed"
    assert service["Unit"]["Requires"] == "pycni.socket"
