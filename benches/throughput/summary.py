"""One-table summary of the shared harness's JSONL records: each metric, every target, and aigw
against picows (the fastest Python stack in ws-baselines.md).

    python benches/throughput/summary.py OUTDIR/*.jsonl > OUTDIR/summary.md

Cells are the median [min–max] over clean runs (other processes used ≤ --max-other % of a
core during the window, as in the harness's report.py), rounded to the precision the spread
allows (quote.py: bounds to 2 significant digits of the half-range, the median one digit
coarser); `n` counts them. The full tables
(latency percentiles, CPU split) are in the harness report next to this file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quote import quote  # noqa: E402  (median [min–max] to the precision the spread allows)

# (suite, scenario) -> (label, record field, unit, higher is better)
METRICS = [
    (("echo", "a"), "64 B round trips, 1 conn × 1 in flight", "msg_per_s", "msg/s", True),
    (("echo", "a@same"), "  same, server+client pinned on one CPU", "msg_per_s", "msg/s", True),
    (("echo", "a@split"), "  same, server CPU 0 / client CPU 1", "msg_per_s", "msg/s", True),
    (("echo", "b"), "64 B, 1 conn × 64 pipelined", "msg_per_s", "msg/s", True),
    (("echo", "c"), "64 B, 100 conns × 1 in flight", "msg_per_s", "msg/s", True),
    (("echo", "d"), "1 MiB binary echo, 1 conn × 1", "MB_per_s", "MB/s", True),
    (("rss", None), "RSS per idle conn (after one 64 B echo)", "kib_per_conn_echoed", "KiB", False),
    (("connect", "ws"), "new ws:// conns/s (+1 echo + close)", "conn_per_s", "conn/s", True),
    (("connect", "ws"), "  per server core", "conn_per_core", "conn/s", True),
    (("connect", "wss"), "new wss:// conns/s (+1 echo + close)", "conn_per_s", "conn/s", True),
    (("connect", "wss"), "  per server core", "conn_per_core", "conn/s", True),
]
ORDER = ["aigw", "picows", "picows-uv", "aiohttp", "websockets"]


def load(paths: list[str]) -> list[dict]:
    recs = []
    for p in paths:
        with open(p) as f:
            recs += [json.loads(line) for line in f if line.strip()]
    return recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--max-other", type=float, default=15.0)
    ap.add_argument("--versus", default="picows", help="the stack aigw is divided by")
    a = ap.parse_args()
    cells: dict = defaultdict(list)
    excluded: dict = defaultdict(int)
    targets = set()
    for r in load(a.files):
        suite = r.get("suite")
        if suite not in ("echo", "rss", "connect") or "error" in r:
            continue
        key = (suite, r.get("scenario"), r["target"])
        targets.add(r["target"])
        if (r.get("other_cpu_pct") or 0) > a.max_other:
            excluded[key] += 1
            continue
        if suite == "connect" and r.get("server_cpu_pct"):
            r["conn_per_core"] = r["conn_per_s"] / (r["server_cpu_pct"] / 100)
        cells[key].append(r)
    names = [t for t in ORDER if t in targets] + sorted(targets - set(ORDER))
    head = ["metric", "unit"] + names + [f"aigw / {a.versus}"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for (suite, scen), label, field, unit, higher in METRICS:
        row, meds = [label, unit], {}
        for t in names:
            xs = [r[field] for r in cells.get((suite, scen, t), []) if r.get(field) is not None]
            if not xs:
                row.append("–")
                continue
            m = statistics.median(xs)
            meds[t] = m
            s = quote(xs, 1 if m < 100 else 0)
            ex = excluded.get((suite, scen, t), 0)
            row.append(s + f" (n={len(xs)}" + (f", +{ex} excl." if ex else "") + ")")
        if not meds:
            continue
        if "aigw" in meds and meds.get(a.versus):
            ratio = meds["aigw"] / meds[a.versus]
            better = ratio > 1 if higher else ratio < 1
            row.append(f"{ratio:.2f}" + (" ✓" if better else ""))
        else:
            row.append("–")
        print("| " + " | ".join(row) + " |")
    print(f"\nMedian [min–max] over clean runs, to the precision the spread allows; ✓: aigw better than {a.versus} "
          "(differences under ~10 % are noise, see ws-baselines.md §6).")


if __name__ == "__main__":
    main()
