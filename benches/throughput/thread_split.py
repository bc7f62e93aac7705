"""Which thread of the gateway's process pays for a request: per-thread CPU under WebSocket load.

`run_logs.py` tells logging's cost in the gateway's process as a whole; this splits the process
by thread (the event loop's main thread, the SQLite logger's writer thread, any other) from
/proc/<pid>/task/<tid>/stat, for the `bench` (logs on) and `bench-nolog` gateways in turn,
and the SQLite writer process's CPU beside them (`writer_process_us`; it is another process,
counted in run_logs.py's `tree`). Ticks are 10 ms: read a row as ±0.3 µs per request, and
compare runs by their medians.

    python benches/throughput/thread_split.py --aigw CMD --out DIR [--reps 3] [--seconds 6] \
        [--sqlite KEY=VALUE ...]

CMD runs `aigw` (a build wrapper, as for ab_gateway.py). `--sqlite` adds a line to the sqlite
logger's config section (e.g. `batch_size=500`). Gateway and its writer process on core 0,
load and upstream on core 1, as in the other harnesses.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_gateway import HERE, Procs, aigw_config, free_port, wait_ready  # noqa: E402


def thread_ticks(pid: int) -> dict[int, int]:
    """user + system clock ticks of every thread of `pid`, by thread id."""
    ticks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks[int(tid)] = int(fields[11]) + int(fields[12])
    return ticks


def child_ticks(pid: int) -> int:
    """user + system clock ticks of `pid`'s child processes (the log writer), all threads."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        total += sum(sum(thread_ticks(int(child)).values()) for child in children)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--aigw", required=True, help="command running the aigw build")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--py", default=sys.executable)
    ap.add_argument("--sqlite", action="append", default=[], metavar="KEY=VALUE", help="a line for [plugins.sqlite]")
    args = ap.parse_args()
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    procs = Procs(out / "logs")
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    try:
        up_port = free_port()
        up = procs.start("upstream", [args.py, str(HERE / "fast_upstream.py"), "--port", str(up_port)], "1")
        wait_ready(f"http://127.0.0.1:{up_port}/health", 20, up)
        port = free_port()
        config = aigw_config(out, port, up_port)
        extra = "".join(f"{line.partition('=')[0].strip()} = {line.partition('=')[2].strip()}\n" for line in args.sqlite)
        config.write_text(config.read_text() + '\n[plugins.sqlite]\nwriter = "process"\n' + extra)
        gw = procs.start("aigw", [args.aigw, "serve", "--config", str(config)], "0", cwd=out)
        wait_ready(f"http://127.0.0.1:{port}/health", 60, gw)
        for rep in range(args.reps):
            for gateway in ("bench", "bench-nolog"):
                load = subprocess.Popen(
                    ["taskset", "-c", "1", args.py, str(HERE / "ws_load.py"), "--url", f"ws://127.0.0.1:{port}/v1/p/{gateway}",
                     "--inflight", "32", "--seconds", str(args.seconds), "--warmup", "1"],
                    stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                time.sleep(1.5)  # past the load's warm-up
                before, writer_before, start = thread_ticks(gw.pid), child_ticks(gw.pid), time.monotonic()
                result = json.loads(load.communicate()[0].strip().splitlines()[-1])
                after, writer_after, seconds = thread_ticks(gw.pid), child_ticks(gw.pid), time.monotonic() - start
                requests = result["req_per_s"] * seconds  # requests in the window the ticks cover
                per = {tid: (after[tid] - before.get(tid, 0)) / hz / requests * 1e6 for tid in after}
                row = {"rep": rep, "gateway": gateway, "req_per_s": round(result["req_per_s"]), "main_us": round(per.pop(gw.pid), 2),
                       "other_threads_us": round(sum(per.values()), 2),
                       "writer_process_us": round((writer_after - writer_before) / hz / requests * 1e6, 2)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        procs.stop_all()
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = ["| gateway | main thread µs/request (median) | other threads | writer process | reps |", "|---|---|---|---|---|"]
    for gateway in ("bench", "bench-nolog"):
        mine = [r for r in rows if r["gateway"] == gateway]
        lines.append(f"| {gateway} | {statistics.median(r['main_us'] for r in mine):.2f} | "
                     f"{statistics.median(r['other_threads_us'] for r in mine):.2f} | "
                     f"{statistics.median(r['writer_process_us'] for r in mine):.2f} | {len(mine)} |")  # fmt: skip
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
