"""cni.log: diagnostics go to stderr or the config's logFile, never stdout."""

import os
import stat

import pytest

from cni import log
from cni.netconf import NetConf


def configure(keys: dict, tag: str) -> None:
    """configure() with the logging keys of a config (aliases resolved by NetConf)."""
    conf = NetConf.parse({"name": "n", **keys})
    log.configure(conf.log_file, conf.log_level, tag)


@pytest.fixture(autouse=True)
def fresh_log(monkeypatch):
    state = {"level": 30, "fd": 2, "tag": "pycni"}
    monkeypatch.setattr(log, "_state", state)
    monkeypatch.delenv("PYCNI_LOG_LEVEL", raising=False)
    yield state
    if state["fd"] != 2:
        os.close(state["fd"])


def emit_all() -> None:
    log.debug("d-line %d", 1)
    log.info("i-line")
    log.warning("w-line %s", "x")
    log.error("e-line")


def test_default_is_warning_to_stderr(capfd):
    configure({}, "bridge")
    emit_all()
    out, err = capfd.readouterr()
    assert out == ""
    assert "w-line x" in err and "e-line" in err
    assert "d-line" not in err and "i-line" not in err
    assert f"bridge[{os.getpid()}] warning: w-line x" in err


@pytest.mark.parametrize("level, shown", [
    ("debug", {"d", "i", "w", "e"}), ("DEBUG", {"d", "i", "w", "e"}), ("info", {"i", "w", "e"}),
    ("warning", {"w", "e"}), ("error", {"e"}), ("verbose", {"w", "e"}),
])
def test_log_level_filters(capfd, level, shown):
    configure({"logLevel": level}, "t")
    emit_all()
    out, err = capfd.readouterr()
    assert out == ""
    assert {k for k in "diwe" if f"{k}-line" in err} == shown


def test_calico_alias_and_environment_override(capfd, monkeypatch):
    configure({"log_level": "error"}, "t")
    emit_all()
    assert "w-line" not in capfd.readouterr().err
    monkeypatch.setenv("PYCNI_LOG_LEVEL", "debug")
    configure({"logLevel": "error"}, "t")
    emit_all()
    assert "d-line" in capfd.readouterr().err


def test_log_file_is_created_0600_and_appended(tmp_path, capfd):
    path = tmp_path / "cni.log"
    path.write_text("earlier line\n")
    path.chmod(0o600)
    configure({"logFile": str(path), "logLevel": "debug"}, "t")
    emit_all()
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    text = path.read_text()
    assert text.startswith("earlier line\n")
    assert all(f"{k}-line" in text for k in "diwe")


def test_new_log_file_mode_is_0600(tmp_path):
    path = tmp_path / "new.log"
    old = os.umask(0)
    try:
        configure({"logFile": str(path)}, "t")
    finally:
        os.umask(old)
    log.error("x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_calico_log_file_alias(tmp_path):
    path = tmp_path / "calico.log"
    configure({"log_file_path": str(path)}, "t")
    log.error("via alias")
    assert "via alias" in path.read_text()


def test_symlink_at_the_log_file_path_is_refused(tmp_path, capfd):
    target = tmp_path / "precious"
    target.write_text("do not touch\n")
    link = tmp_path / "cni.log"
    link.symlink_to(target)
    configure({"logFile": str(link)}, "t")
    log.error("after configure")
    out, err = capfd.readouterr()
    assert target.read_text() == "do not touch\n"
    assert out == ""
    assert "cannot open logFile" in err and "after configure" in err  # fell back to stderr


@pytest.mark.parametrize("path", ["relative.log", "", "/tmp/a\0b"])
def test_unusable_log_file_falls_back_to_stderr(capfd, path):
    configure({"logFile": path}, "t")
    log.error("still logged")
    out, err = capfd.readouterr()
    assert out == "" and "still logged" in err


def test_unwritable_log_file_falls_back_to_stderr(tmp_path, capfd):
    configure({"logFile": str(tmp_path / "no-such-dir" / "x.log")}, "t")
    log.error("still logged")
    out, err = capfd.readouterr()
    assert out == "" and "cannot open logFile" in err and "still logged" in err


def test_exception_logs_the_traceback(capfd):
    try:
        raise KeyError("the-key")
    except KeyError:
        log.exception("failed %s", "here")
    out, err = capfd.readouterr()
    assert out == "" and "failed here" in err and "Traceback" in err and "the-key" in err


def test_message_with_percent_and_no_args_is_kept(capfd):
    log.error("100% sure")
    assert "100% sure" in capfd.readouterr().err


def test_exception_text_with_percent_signs_is_logged_verbatim(capfd):
    try:
        raise ValueError("50% %s %d done")
    except ValueError:
        log.exception("failed %s", "here")
    err = capfd.readouterr().err
    assert "failed here" in err and "50% %s %d done" in err


def test_a_bad_format_string_does_not_raise(capfd):
    log.error("%d items", "not a number")
    assert "%d items" in capfd.readouterr().err
