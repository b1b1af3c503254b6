"""`python -m bench [--runs N] [--quick] [--json PATH] ...`: run, print the table, save.

Full runs write bench/results/<date>.json (git-ignored) and bench/LATEST.md
(committed, pasted into the README); `--quick` runs (the test suite's) write
only what --json/--markdown name. Exit status: 0 when every plugin call
succeeded and no burst handed out an address twice, 1 otherwise, 2 when the
bench could not run.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from bench import report, suite
from bench.sandbox import Sandbox

HERE = Path(__file__).resolve().parent


def parse(argv: "list[str] | None") -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, help="measured rounds per row (default 20, --quick 3)")
    p.add_argument("--quick", action="store_true",
                   help="few runs, small bursts, no LATEST.md: proves the harness works")
    p.add_argument("--json", type=Path, help="where to save the JSON (default bench/results/<date>.json)")
    p.add_argument("--markdown", type=Path, help="where to save the table (default bench/LATEST.md)")
    p.add_argument("--concurrency", type=int, help="plugins per burst (default 50, --quick 8)")
    p.add_argument("--bursts", type=int, help="bursts per implementation (default 3, --quick 1)")
    p.add_argument("--impls", default=",".join(suite.IMPLS),
                   help=f"comma list of {', '.join(suite.IMPLS)} (default: all)")
    p.add_argument("--scenarios", default=",".join(suite.SCENARIOS),
                   help=f"comma list of {', '.join(suite.SCENARIOS)}")
    p.add_argument("--bundle", help="release tarball or unpacked dir (default: newest in dist/)")
    p.add_argument("--venv-bin", type=Path, default=Path(sys.executable).parent,
                   help="directory of the venv's plugin executables (default: this interpreter's)")
    args = p.parse_args(argv)
    quick = args.quick
    args.runs = args.runs if args.runs is not None else (3 if quick else 20)
    args.concurrency = args.concurrency if args.concurrency is not None else (8 if quick else 50)
    args.bursts = args.bursts if args.bursts is not None else (1 if quick else 3)
    unknown = set(args.scenarios.split(",")) - set(suite.SCENARIOS)
    unknown_impls = set(args.impls.split(",")) - set(suite.IMPLS)
    if unknown or unknown_impls or args.runs < 1 or args.concurrency < 1 or args.bursts < 0:
        p.error(f"bad option values (unknown scenarios: {sorted(unknown)}, "
                f"unknown impls: {sorted(unknown_impls)})")
    return args


def main(argv: "list[str] | None" = None) -> int:
    args = parse(argv)
    # Ctrl-C or SIGTERM: plugins still running are killed, the temp dir removed,
    # the namespaces go with the process (SIGINT even when started ignoring it).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="pycni-bench-"))
    try:
        impls = suite.implementations(args.venv_bin, args.bundle, work, args.impls.split(","))
        scenarios = [suite.SCENARIOS[k] for k in args.scenarios.split(",")]
        with Sandbox() as box, suite.running_daemons(impls, box):
            bench = suite.Bench(box, impls, scenarios, work / "data")
            for impl in impls:
                print(f"{impl.key}: {impl.bin_dir or impl.note}", file=sys.stderr)
            bench.sequences(args.runs)
            bench.all_bursts(args.concurrency, args.bursts)
            bench.check_daemons()
        doc = report.document(bench, impls, {"runs": args.runs, "quick": args.quick,
                                             "concurrency": args.concurrency, "bursts": args.bursts})
    except suite.BenchFailure as exc:
        print(f"bench: a plugin failed, no numbers: {exc}", file=sys.stderr)
        return 2
    except PermissionError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; nothing left behind", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save(doc, args)
    bad = [b for b in doc["bursts"] if b["duplicates"] or b["add"]["failures"] or b["del"]["failures"]]
    return 1 if bad else 0


def save(doc: dict, args: argparse.Namespace) -> None:
    table = report.markdown(doc)
    sys.stdout.write(table)
    path = args.json
    if path is None and not args.quick:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = HERE / "results" / f"{stamp}.json"
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"saved {path}", file=sys.stderr)
    markdown = args.markdown or (None if args.quick else HERE / "LATEST.md")
    if markdown is not None:
        markdown.write_text(table)
        print(f"saved {markdown}", file=sys.stderr)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
