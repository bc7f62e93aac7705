"""What logging a record costs the gateway's process, alone (issue 15 item 1).

The gateway benchmark measures logging as logs-on minus logs-off CPU per request, which moves
by ±1 µs between runs: too coarse for the sub-µs changes left. This logs pre-built records
through the built-in SQLite logger (its writer process running, as `aigw serve` has it) from an
event loop, 32 per loop iteration, and reports the process's CPU per record (every thread of
the process: the loop's `log()` and the writer thread handing batches to the pipe; not the
writer process, whose share is reported apart). The records are a non-streamed chat request's:
JSON bodies of ~80 and ~200 bytes, one attempt.

    python benches/micro/log_submit_cost.py [--records 100000] [--reps 5]
    python benches/micro/log_submit_cost.py --a /tmp/aigw-A/python --b /tmp/aigw-B/python --reps 7

With --a/--b it runs each build's tree (a `python/` directory) in its own process, alternated
per rep, and prints both medians and B − A paired per rep.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PER_ITERATION = 32  # records logged per loop iteration, as 32 requests in flight finish


def child_cpu(pid: int) -> float:
    """user+sys seconds of `pid`'s children (the writer process), from /proc."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def measure(records: int) -> dict:
    from aigw.builtins.sqlite_logs import SqliteLogger
    from log_records import typical_record as record

    with tempfile.TemporaryDirectory() as tmp:
        logger = SqliteLogger(Path(tmp) / "logs.db")
        await logger.start()
        warm = [record(i) for i in range(2000)]
        for r in warm:
            logger.log(r)
        await logger.flush()
        batch = [record(i) for i in range(records)]
        child0, cpu0, wall0 = child_cpu(os.getpid()), time.process_time(), time.perf_counter()
        for start in range(0, records, PER_ITERATION):
            for r in batch[start : start + PER_ITERATION]:
                logger.log(r)
            await asyncio.sleep(0)
        await logger.flush()
        cpu1, wall1, child1 = time.process_time(), time.perf_counter(), child_cpu(os.getpid())
        assert logger.stats.written == records + len(warm) and logger.stats.dropped == 0
        await logger.close()
    return {"records": records, "us_per_record": (cpu1 - cpu0) / records * 1e6,
            "writer_process_us_per_record": (child1 - child0) / records * 1e6, "wall_s": wall1 - wall0}


def run_tree(tree: str, records: int) -> dict:
    env = {**os.environ, "PYTHONPATH": tree, "AIGW_DISABLE_PLUGINS": "postgres,redis,otel"}
    out = subprocess.run([sys.executable, __file__, "--records", str(records), "--reps", "1", "--json"],
                         env=env, check=True, capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--a", help="build A's python/ directory (with --b: an A/B)")
    ap.add_argument("--b", help="build B's python/ directory")
    ap.add_argument("--json", action="store_true", help="one JSON line per rep (used by --a/--b)")
    args = ap.parse_args()
    if args.a and args.b:
        runs: dict[str, list[dict]] = {"A": [], "B": []}
        for rep in range(args.reps):
            for name in ("AB" if rep % 2 == 0 else "BA"):
                runs[name].append(run_tree(args.a if name == "A" else args.b, args.records))
                r = runs[name][-1]
                print(f"[rep {rep}] {name}: {r['us_per_record']:.3f} µs per record (writer process {r['writer_process_us_per_record']:.2f})", file=sys.stderr)
        for key, label in (("us_per_record", "gateway's process"), ("writer_process_us_per_record", "writer process")):
            a, b = [r[key] for r in runs["A"]], [r[key] for r in runs["B"]]
            diffs = [y - x for x, y in zip(a, b)]
            print(f"{label}: A {statistics.median(a):.3f}, B {statistics.median(b):.3f} µs per record; "
                  f"B − A paired {statistics.median(diffs):+.3f} [{min(diffs):+.3f} to {max(diffs):+.3f}]")  # fmt: skip
        return
    for _ in range(args.reps):
        result = asyncio.run(measure(args.records))
        print(json.dumps(result) if args.json else
              f"{result['us_per_record']:.3f} µs per record in this process, {result['writer_process_us_per_record']:.2f} in the writer process", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
