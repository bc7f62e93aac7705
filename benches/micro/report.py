"""pytest-benchmark JSON -> Markdown tables for the codec micro benchmarks.

    python benches/micro/report.py benches/results/micro.json [--stat min|median|mean] > micro.md

One table per operation (parse, serialize, unmask, utf8-*): rows are implementation x size,
with ns per frame (the call's time divided by the frames it handled), frames/s, payload GB/s,
and how many times slower than aigw the row is (same op and size, same run). The check lines
at the end compare with codec.md §8.4: ≥10 M parsed 16-byte frames/s through the Python API,
unmask at ≥80 % of memcpy on 1 MiB.

The statistic defaults to the median of the rounds; `--stat min` gives the least noisy figure
on a shared machine (all rows use the same statistic).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

SIZE_ORDER = {"16B": 0, "1KiB": 1, "64KiB": 2, "1MiB": 3}
OP_ORDER = ("parse", "serialize", "unmask", "utf8-ascii", "utf8-mixed")
OP_TITLE = {
    "parse": "Parse masked text frames (client → server), through the Python API",
    "serialize": "Serialize text frames (server → client), one Python call per message",
    "unmask": "Unmask 1 MiB",
    "utf8-ascii": "UTF-8 validation, 1 MiB ASCII",
    "utf8-mixed": "UTF-8 validation, 1 MiB mixed (2-, 3-, 4-byte sequences)",
}


def load(path: str, stat: str) -> list[dict]:
    with open(path) as f:
        doc = json.load(f)
    rows = []
    for b in doc["benchmarks"]:
        info = b.get("extra_info") or {}
        if "op" not in info:
            continue
        seconds = b["stats"][stat]
        rows.append(dict(info, seconds=seconds, rounds=b["stats"]["rounds"]))
    return rows, doc.get("machine_info", {}), doc.get("datetime", "")


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def render(rows: list[dict], stat: str) -> str:
    out = []
    by_op = defaultdict(list)
    for r in rows:
        by_op[r["op"]].append(r)
    base = {(r["op"], r["size"]): r for r in rows if r["impl"] in ("aigw", "aigw (in place)",
                                                                   "aigw validate_utf8")}
    for op in sorted(by_op, key=lambda o: OP_ORDER.index(o) if o in OP_ORDER else 99):
        out.append(f"### {OP_TITLE.get(op, op)}\n")
        out.append("| impl | size | frames/call | ns/frame | frames/s | payload GB/s | × aigw time |")
        out.append("|---|---|---|---|---|---|---|")
        for r in sorted(by_op[op], key=lambda r: (SIZE_ORDER.get(r["size"], 9), r["seconds"])):
            ns = r["seconds"] * 1e9 / r["frames"]
            gbs = r["payload_bytes"] / r["seconds"] / 1e9
            ref = base.get((op, r["size"]))
            ratio = f"{r['seconds'] / ref['seconds']:.2f}" if ref else "–"
            out.append(f"| {r['impl']} | {r['size']} | {r['frames']} | {ns:,.1f} | "
                       f"{fmt_rate(1e9 / ns)} | {gbs:.2f} | {ratio} |")
        out.append("")
    out.append(checks(rows))
    return "\n".join(out)


def checks(rows: list[dict]) -> str:
    lines = ["### Targets (codec.md §8.4)\n"]
    find = {(r["op"], r["size"], r["impl"]): r for r in rows}
    p = find.get(("parse", "16B", "aigw"))
    if p:
        ns = p["seconds"] * 1e9 / p["frames"]
        ok = "met" if ns <= 100 else "NOT met"
        lines.append(f"- parse 16 B text frames through Python: {ns:.1f} ns/frame = "
                     f"{1e3 / ns:.1f} M frames/s (target ≥ 10 M/s, ≤ 100 ns): **{ok}**")
    q = find.get(("parse", "16B", "aigw-buffered"))
    if q:
        ns = q["seconds"] * 1e9 / q["frames"]
        lines.append(f"- same through get_buffer/buffer_updated: {ns:.1f} ns/frame")
    m = find.get(("unmask", "1MiB", "aigw (in place)"))
    for base in ("memcpy (memoryview slice assign)", "memcpy (bytes(bytearray))"):
        c = find.get(("unmask", "1MiB", base))
        if m and c:
            ratio = c["seconds"] / m["seconds"]
            ok = "met" if ratio >= 0.8 else "NOT met"
            lines.append(f"- unmask 1 MiB in place: {1.048576e-3 / m['seconds']:.1f} GB/s = "
                         f"{100 * ratio:.0f} % of {base} ({1.048576e-3 / c['seconds']:.1f} GB/s) "
                         f"(target ≥ 80 %): **{ok}**")
    s = find.get(("serialize", "16B", "aigw"))
    if s:
        ns = s["seconds"] * 1e9 / s["frames"]
        ok = "met" if ns <= 50 else "NOT met"
        lines.append(f"- serialize 16 B text frames (send_text per message + one drain): "
                     f"{ns:.1f} ns/frame (target ≤ 50 ns): **{ok}**")
    for text, target in (("ascii", 30), ("mixed", 8)):
        u = find.get((f"utf8-{text}", "1MiB", "aigw validate_utf8"))
        if u:
            gbs = u["payload_bytes"] / u["seconds"] / 1e9
            ok = "met" if gbs >= target else "NOT met"
            lines.append(f"- UTF-8 validation 1 MiB {text}: {gbs:.1f} GB/s "
                         f"(target ≥ {target} GB/s): **{ok}**")
    big = find.get(("parse", "1MiB", "aigw"))
    if big:
        gbs = big["payload_bytes"] / big["seconds"] / 1e9
        lines.append(f"- parse one 1 MiB frame into a new bytes (copy in, unmask, assemble, "
                     f"PyBytes): {gbs:.1f} GB/s (the fused-unmask target is ≥ 25 GB/s)")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--stat", default="median", choices=("min", "median", "mean"))
    a = ap.parse_args()
    rows, machine, when = load(a.json, a.stat)
    if not rows:
        sys.exit(f"{a.json}: no aigw micro benchmarks in it")
    cpu = machine.get("cpu", {}).get("brand_raw", "?")
    print(f"Micro benchmarks ({a.stat} of the rounds), {when}, {cpu}, "
          f"Python {machine.get('python_version', '?')}\n")
    print(render(rows, a.stat))


if __name__ == "__main__":
    main()
