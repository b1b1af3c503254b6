"""Fixtures of the reliability suite, and the hook that keeps RELIABILITY.md current.

Every test takes the `record` fixture and adds what it ran and what it found
(`record.add(kills=1, leaks=len(found))`); the test's docstring says what it
injects. When a session has run every test of this directory (no -k, no
single file, no early stop), `report.write` turns the records into
RELIABILITY.md at the repository root.
"""

from pathlib import Path

import pytest

from reliability import harness, report

HERE = Path(__file__).resolve().parent
_RECORDS: "dict[str, dict]" = {}
_SELECTED: "set[str]" = set()
_DESELECTED: "list[str]" = []


class Record:
    """Counters of one test item: cases, kills, examples, ops, leaks, duplicates..."""

    def __init__(self, item: pytest.Item) -> None:
        self.counts: "dict[str, int]" = {}
        fn = getattr(item, "function", None)
        doc = (fn.__doc__ or "").strip().split("\n\n")[0] if fn else ""
        _RECORDS[item.nodeid] = {"module": item.module.__name__.rsplit(".", 1)[-1],
                                 "function": getattr(item, "originalname", item.name),
                                 "doc": " ".join(doc.split()), "counts": self.counts,
                                 "outcome": "not run"}

    def add(self, **counts: int) -> None:
        for key, value in counts.items():
            self.counts[key] = self.counts.get(key, 0) + int(value)


@pytest.fixture
def record(request) -> Record:
    return Record(request.node)


@pytest.fixture
def bench(host, data_dir) -> harness.Bench:
    """A bridge + host-local node (iptables masquerade) in a test-made host namespace."""
    return harness.Bench(host, data_dir)


def _ours(item: pytest.Item) -> bool:
    return HERE in Path(str(item.fspath)).resolve().parents


def pytest_collection_finish(session: pytest.Session) -> None:
    _SELECTED.update(item.nodeid for item in session.items if _ours(item))


def pytest_deselected(items) -> None:
    _DESELECTED.extend(item.nodeid for item in items if _ours(item))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if item.nodeid not in _RECORDS:
        if not _ours(item):
            return
        Record(item)  # a test without counters still gets its row
    entry = _RECORDS[item.nodeid]
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
                and all(_RECORDS.get(n, {}).get("outcome", "not run") != "not run"
                        for n in _SELECTED))
    if complete and _SELECTED:
        report.write([_RECORDS[n] for n in sorted(_SELECTED)], HERE.parent.parent / "RELIABILITY.md")
