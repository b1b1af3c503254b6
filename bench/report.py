"""Turning samples into numbers: percentiles, ratios to Go, a markdown table, JSON.

Where it sits: `bench.__main__` hands it the `Bench` after the runs. The JSON
(one file per run under bench/results/) keeps every raw sample; the markdown
table (bench/LATEST.md for full runs, pasted into the README) keeps the
medians, p90s and ratios.

Ratios are ours / Go: below 1.0 we are faster. CPU is user + sys of the
plugin and every process it waited for; in daemon mode, of the shim plus the
daemon's share (its cgroup's CPU for the call, see bench.suite), kept apart
too as `daemon_cpu_ms`.
"""

import datetime
import os
import platform


def percentile(values: "list[float]", q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "cpu": model}


def rows(bench: object) -> "list[dict]":
    """One row per (scenario, verb, impl) with p50/p90 and the ratio to Go."""
    out = []
    for scenario in bench.scenarios:  # type: ignore[attr-defined]
        for verb in ("VERSION", "ADD", "CHECK", "DEL"):
            go = bench.samples.get((scenario.key, verb, "go"))  # type: ignore[attr-defined]
            for impl in bench.impls:  # type: ignore[attr-defined]
                samples = bench.samples.get((scenario.key, verb, impl.key))  # type: ignore[attr-defined]
                if not samples:
                    continue
                row = {"scenario": scenario.key, "plugin": scenario.plugin, "ipMasq": scenario.ip_masq,
                       "verb": verb, "impl": impl.key, "n": len(samples),
                       "wall_ms": _summary([s[0] for s in samples]),
                       "cpu_ms": _summary([s[1] for s in samples]), "cpu_scope": impl.cpu,
                       "samples": [[round(w, 3), round(c, 3)] for w, c in samples]}
                daemon = bench.daemon_cpu.get((scenario.key, verb, impl.key))  # type: ignore[attr-defined]
                if daemon:
                    row["daemon_cpu_ms"] = _summary(daemon)
                    row["shim_cpu_ms"] = _summary([c - d for (_, c), d in zip(samples, daemon, strict=True)])
                if go and impl.key != "go":
                    row["ratio_wall"] = row["wall_ms"]["p50"] / percentile([s[0] for s in go], 50)
                    row["ratio_cpu"] = row["cpu_ms"]["p50"] / max(percentile([s[1] for s in go], 50), 1e-9)
                out.append(row)
    return out


def _summary(values: "list[float]") -> dict:
    return {"p50": percentile(values, 50), "p90": percentile(values, 90),
            "min": min(values), "max": max(values)}


def bursts(bench: object) -> "list[dict]":
    """Per implementation: the median burst (by ADD total) of the repeats."""
    by_impl: "dict[str, list[dict]]" = {}
    for b in bench.bursts:  # type: ignore[attr-defined]
        by_impl.setdefault(b["impl"], []).append(b)
    out = []
    for impl in bench.impls:  # type: ignore[attr-defined]
        runs = sorted(by_impl.get(impl.key, []), key=lambda b: b["add"]["total_ms"])
        if not runs:
            continue
        median = runs[(len(runs) - 1) // 2]
        summary = {"impl": impl.key, "size": median["size"], "repeats": len(runs)}
        for verb in ("add", "del"):
            stats = median[verb]
            summary[verb] = {"total_ms": stats["total_ms"], "p50_ms": percentile(stats["wall_ms"], 50),
                             "cpu_p50_ms": percentile(stats["cpu_ms"], 50),
                             "cpu_total_ms": sum(stats["cpu_ms"]) + stats.get("daemon_cpu_ms", 0.0),
                             "failures": sum(r[verb]["failures"] for r in runs)}
            if "daemon_cpu_ms" in stats:
                summary[verb]["daemon_cpu_ms"] = stats["daemon_cpu_ms"]
        summary["duplicates"] = sorted({a for r in runs for a in r["add"]["duplicates"]})
        out.append(summary)
    go = next((b for b in out if b["impl"] == "go"), None)
    for b in out:
        if go and b is not go:
            for verb in ("add", "del"):
                b[verb]["ratio_total"] = b[verb]["total_ms"] / go[verb]["total_ms"]
                b[verb]["ratio_cpu_total"] = b[verb]["cpu_total_ms"] / max(go[verb]["cpu_total_ms"], 1e-9)
    return out


def document(bench: object, impls: list, options: dict) -> dict:
    """Everything a results/*.json file holds."""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "options": options,
        "implementations": {i.key: i.describe() for i in impls},
        "rows": rows(bench),
        "bursts": bursts(bench),
        "raw_bursts": bench.bursts,  # type: ignore[attr-defined]
    }


def markdown(doc: dict) -> str:
    m = doc["machine"]
    impls = doc["implementations"]
    ours = [k for k in impls if k != "go" and impls[k]["bin_dir"]]
    lines = [f"# pycni vs the Go reference plugins ({impls.get('go', {}).get('label', 'Go')})", "",
             f"Run {doc['date']} on {m['nproc']} CPUs ({m['cpu'] or 'unknown CPU'}), kernel {m['kernel']}, "
             f"Python {m['python']}; {doc['options']['runs']} runs per row, interleaved; "
             "whole-process wall time and CPU (user+sys, children included), milliseconds, "
             "median / p90. Ratio = ours / Go (below 1 is faster).", ""]
    for key, impl in impls.items():
        if impl["note"]:
            lines.append(f"- {key}: {impl['note']}")
    lines.append("")
    if any(k in ours for k in ("daemon", "fallback")):
        lines += _daemon_mode_text(impls), ""
    no_cpu = {k for k in ours if impls[k].get("cpu") == "shim only"}
    header = ["plugin", "verb", "Go wall", "Go CPU"]
    for key in ours:
        header += [f"{key} wall", f"{key} CPU", f"{key}/Go wall", f"{key}/Go CPU"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    table: "dict[tuple, dict]" = {(r["scenario"], r["verb"], r["impl"]): r for r in doc["rows"]}
    for scenario in dict.fromkeys(r["scenario"] for r in doc["rows"]):
        for verb in ("VERSION", "ADD", "CHECK", "DEL"):
            go = table.get((scenario, verb, "go"))
            if go is None and not any((scenario, verb, k) in table for k in ours):
                continue
            label = _scenario_label(table, scenario, verb)
            cells = [label, verb, _cell(go, "wall_ms"), _cell(go, "cpu_ms", p90=False)]
            for key in ours:
                row = table.get((scenario, verb, key))
                cpu = key not in no_cpu
                cells += [_cell(row, "wall_ms"), _cell(row, "cpu_ms", p90=False) if cpu else "-",
                          _ratio(row, "ratio_wall"), _ratio(row, "ratio_cpu") if cpu else "-"]
            lines.append("| " + " | ".join(cells) + " |")
    if "daemon" in ours or "fallback" in ours:
        lines += _daemon_mode_table(table, ours, no_cpu)
    if doc["bursts"]:
        size = doc["bursts"][0]["size"]
        lines += ["", f"{size} concurrent ADDs, then their {size} concurrent DELs, on one bridge "
                      "(median of the repeats by ADD total; wall: first spawn to last exit, and "
                      "per-process p50; CPU: all the burst's processes, and the daemon's):", "",
                  "| impl | ADD total | ADD p50 | ADD CPU | DEL total | DEL p50 | DEL CPU | ADD total / Go "
                  "| DEL total / Go | duplicates | failures |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
        for b in doc["bursts"]:
            cpu = b["impl"] not in no_cpu
            cells = [b["impl"]]
            for verb in ("add", "del"):
                cells += [f"{b[verb]['total_ms']:.0f}", f"{b[verb]['p50_ms']:.1f}",
                          f"{b[verb]['cpu_total_ms']:.0f}" if cpu else "-"]
            cells += [_ratio(b["add"], "ratio_total"), _ratio(b["del"], "ratio_total"),
                      ", ".join(b["duplicates"]) or "none", str(b["add"]["failures"] + b["del"]["failures"])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _daemon_mode_text(impls: dict) -> str:
    daemon = impls.get("daemon") or {}
    state = daemon.get("daemon") or {}
    if daemon.get("bin_dir") and state.get("cpu_group"):
        cpu = ("CPU is the shim's plus the daemon's: the daemon runs in a cgroup of its own "
               f"(cgroup {state['cpu_group']}), and a call is charged that cgroup's CPU from the daemon "
               "idle before the call to idle again after it (the worker exited and reaped, the daemon "
               "and its spare workers asleep): the worker's run, the daemon's loop, and the fork and "
               "warm-up of the spare that replaces the worker, one per call. The bench waits for that "
               "idle state around each daemon call, so no call overlaps the previous one's leftovers.")
    elif daemon.get("bin_dir"):
        cpu = (f"The daemon's CPU is not measured here ({state.get('why_no_cpu') or 'no cgroup'}): "
               "a call's work is done by a daemon worker, invisible to the shim's rusage, so the "
               "daemon's CPU columns show \"-\" (wall only).")
    else:
        cpu = ""
    return ("Daemon mode: `daemon` and `fallback` are the venv's plugins installed by `pycni install "
            "--mode daemon` (shims under the plugin names, the exec-mode entries in "
            "`.pycni/`). For `daemon` the bench starts `pycni daemon` on a socket in its temp dir, "
            "inside its namespaces, waits for `/readyz`, and stops it with SIGTERM at the end; each "
            "shim hands its call over the socket to a worker forked from the warm daemon. Wall is the "
            "shim process's, spawn to reap, as for an exec'd plugin: the runtime waits for nothing "
            f"else. {cpu} The daemon's counters are checked at the end: it served every call (none "
            "fell back). `fallback` is the same shims with no daemon on their socket: the shim reads "
            "stdin, fails to connect and execs the Python entry, what a node pays while its daemon is "
            "down. Every implementation's stdout is a pipe, as a runtime gives it (the shims use the "
            "daemon only then).")


def _daemon_mode_table(table: dict, ours: "list[str]", no_cpu: "set[str]") -> "list[str]":
    """Where daemon mode's CPU goes (shim / daemon), and the fallback's cost over an exec."""
    split = "daemon" in ours and "daemon" not in no_cpu
    extra = "fallback" in ours and "venv" in ours
    if not (split or extra):
        return []
    header = ["plugin", "verb"]
    header += ["daemon: shim CPU", "daemon: daemon CPU"] if split else []
    header += ["fallback - venv wall", "fallback - venv CPU"] if extra else []
    out = ["", "Daemon mode, per call (medians, ms): the `daemon` CPU split between the shim and the "
               "daemon, and what the shim adds in front of an exec when no daemon answers "
               "(`fallback` minus `venv`):", "",
           "| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for scenario in dict.fromkeys(s for s, _, _ in table):
        for verb in ("VERSION", "ADD", "CHECK", "DEL"):
            daemon = table.get((scenario, verb, "daemon"))
            fallback, venv = table.get((scenario, verb, "fallback")), table.get((scenario, verb, "venv"))
            if daemon is None and fallback is None:
                continue
            cells = [_scenario_label(table, scenario, verb), verb]
            if split:
                cells += [_p50(daemon, "shim_cpu_ms"), _p50(daemon, "daemon_cpu_ms")]
            if extra:
                cells += [f"{fallback[k]['p50'] - venv[k]['p50']:+.1f}" if fallback and venv else "-"
                          for k in ("wall_ms", "cpu_ms")]
            out.append("| " + " | ".join(cells) + " |")
    return out


def _p50(row: "dict | None", key: str) -> str:
    return f"{row[key]['p50']:.1f}" if row and key in row else "-"


def _scenario_label(table: dict, scenario: str, verb: str) -> str:
    row = next(r for (s, _, _), r in table.items() if s == scenario)
    if row["plugin"] == "loopback":
        return "loopback"
    return f"bridge, ipMasq {'on' if row['ipMasq'] else 'off'}"


def _cell(row: "dict | None", key: str, p90: bool = True) -> str:
    if row is None:
        return "-"
    s = row[key]
    return f"{s['p50']:.1f} / {s['p90']:.1f}" if p90 else f"{s['p50']:.1f}"


def _ratio(row: "dict | None", key: str) -> str:
    return f"{row[key]:.2f}" if row and key in row else "-"
