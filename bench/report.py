"""Turning samples into numbers: percentiles, ratios to Go, a markdown table, JSON.

Where it sits: `bench.__main__` hands it the `Bench` after the runs. The JSON
(one file per run under bench/results/) keeps every raw sample; the markdown
table (bench/LATEST.md for full runs, pasted into the README) keeps the
medians, p90s and ratios.

Ratios are ours / Go: below 1.0 we are faster. CPU is user + sys of the
plugin and every process it waited for.
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
                       "cpu_ms": _summary([s[1] for s in samples]),
                       "samples": [[round(w, 3), round(c, 3)] for w, c in samples]}
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
                             "failures": sum(r[verb]["failures"] for r in runs)}
        summary["duplicates"] = sorted({a for r in runs for a in r["add"]["duplicates"]})
        out.append(summary)
    go = next((b for b in out if b["impl"] == "go"), None)
    for b in out:
        if go and b is not go:
            for verb in ("add", "del"):
                b[verb]["ratio_total"] = b[verb]["total_ms"] / go[verb]["total_ms"]
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
                cells += [_cell(row, "wall_ms"), _cell(row, "cpu_ms", p90=False),
                          _ratio(row, "ratio_wall"), _ratio(row, "ratio_cpu")]
            lines.append("| " + " | ".join(cells) + " |")
    if doc["bursts"]:
        size = doc["bursts"][0]["size"]
        lines += ["", f"{size} concurrent ADDs, then their {size} concurrent DELs, on one bridge "
                      "(median of the repeats by ADD total; per-process wall p50):", "",
                  "| impl | ADD total | ADD p50 | DEL total | DEL p50 | ADD total / Go "
                  "| duplicates | failures |",
                  "|---|---:|---:|---:|---:|---:|---|---:|"]
        for b in doc["bursts"]:
            ratio = b["add"].get("ratio_total")
            lines.append(
                f"| {b['impl']} | {b['add']['total_ms']:.0f} | {b['add']['p50_ms']:.1f} | "
                f"{b['del']['total_ms']:.0f} | {b['del']['p50_ms']:.1f} | "
                f"{f'{ratio:.2f}' if ratio else '-'} | {', '.join(b['duplicates']) or 'none'} | "
                f"{b['add']['failures'] + b['del']['failures']} |")
    return "\n".join(lines) + "\n"


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
