"""Fixtures of the reliability suite, and the hook that keeps RELIABILITY.md current.

Every test takes the `record` fixture and adds what it ran and what it found
(`record.add(kills=1, leaks=len(found))`); its docstring says what it
injects. Plugin execs through `support.run_plugin` are counted for the test
running them, without the test's help. When a session has run every test of
this directory (no -k, no single file, no early stop), `report.write` turns
the records into RELIABILITY.md at the repository root.
"""

import threading
from pathlib import Path

import pytest
import support

from reliability import harness, report

HERE = Path(__file__).resolve().parent
_RECORDS: "dict[str, Record]" = {}
_SELECTED: "set[str]" = set()
_DESELECTED: "list[str]" = []


class Record:
    """Counters of one test item (cases, kills, examples, ops, leaks, duplicates, execs)
    and its outcome; `add` may be called from several threads."""

    def __init__(self, item: pytest.Item) -> None:
        fn = getattr(item, "function", None)
        doc = (fn.__doc__ or "").strip().split("\n\n")[0] if fn else ""
        self.entry = {"module": item.module.__name__.rsplit(".", 1)[-1],
                      "function": getattr(item, "originalname", item.name),
                      "doc": " ".join(doc.split()), "counts": {}, "outcome": "not run"}
        self.lock = threading.Lock()

    def add(self, **counts: int) -> None:
        with self.lock:
            for key, value in counts.items():
                self.entry["counts"][key] = self.entry["counts"].get(key, 0) + int(value)


def _record_for(item: pytest.Item) -> Record:
    if item.nodeid not in _RECORDS:
        _RECORDS[item.nodeid] = Record(item)
    return _RECORDS[item.nodeid]


@pytest.fixture
def record(request) -> Record:
    return _record_for(request.node)


@pytest.fixture
def bench(host, data_dir) -> harness.Bench:
    """A bridge + host-local node (iptables masquerade) in a test-made host namespace."""
    return harness.Bench(host, data_dir)


def _ours(item: pytest.Item) -> bool:
    return HERE in Path(str(item.fspath)).resolve().parents


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """While one of our tests runs, each finished plugin exec counts for it."""
    if not _ours(item):
        yield
        return
    rec = _record_for(item)
    original = support.Outcome.__init__

    def counted(self, proc) -> None:
        original(self, proc)
        rec.add(execs=1)

    support.Outcome.__init__ = counted
    try:
        yield
    finally:
        support.Outcome.__init__ = original


def pytest_collection_finish(session: pytest.Session) -> None:
    _SELECTED.update(item.nodeid for item in session.items if _ours(item))


def pytest_deselected(items) -> None:
    _DESELECTED.extend(item.nodeid for item in items if _ours(item))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _ours(item):
        return
    rep = outcome.get_result()
    entry = _record_for(item).entry
    if rep.failed:
        entry["outcome"] = "failed"
    elif rep.when == "call" and entry["outcome"] != "failed":
        entry["outcome"] = "skipped" if rep.skipped else "passed"
    elif rep.skipped and entry["outcome"] == "not run":
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session: pytest.Session) -> None:
    modules = {p.stem for p in HERE.glob("test_*.py")}
    ran_modules = {nodeid.split("::")[0].rsplit("/", 1)[-1][:-3] for nodeid in _SELECTED}
    complete = (not _DESELECTED and modules <= ran_modules
                and all(n in _RECORDS and _RECORDS[n].entry["outcome"] != "not run"
                        for n in _SELECTED))
    if complete and _SELECTED:
        report.write([_RECORDS[n].entry for n in sorted(_SELECTED)],
                     HERE.parent.parent / "RELIABILITY.md")
