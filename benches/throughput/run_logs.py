"""What logging costs the gateway (issue 15 item 1): logs on minus logs off, per request.

Starts the fast upstream (core 1) and one `aigw serve` per SQLite writer (`thread`, `process`;
core 0, or the cores given), and drives the Universal WebSocket API with ws_load.py (core 1):
non-streamed requests, N in flight on one connection, against the `bench` gateway (logs on,
bodies collected) and `bench-nolog` (collect_logs = false), alternating, rotated per rep.
For every run it records the gateway process's own CPU (`gw_main`: its threads, not its
children) and its process tree's (`gw`: plus the writer process), so the table shows both
what the gateway's process pays per logged request and what the machine pays in all.

    python benches/throughput/run_logs.py --out benches/results/logs-<date> [--reps 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_gateway import HERE, ROOT, Procs, aigw_config, free_port, wait_ready  # noqa: E402

WRITERS = ("thread", "process")


def run_load(args, port: int, gateway: str, pid: int) -> dict:
    cmd = ["taskset", "-c", args.aux_cpus, args.py, str(HERE / "ws_load.py"), "--url", f"ws://127.0.0.1:{port}/v1/p/{gateway}",
           "--inflight", str(args.inflight), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
           f"--watch=gw={pid}", f"--watch-alone=gw_main={pid}"]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--gw-cpus", default="0")
    ap.add_argument("--aux-cpus", default="1")
    ap.add_argument("--aigw", default=str(ROOT / ".venv/bin/aigw"))
    ap.add_argument("--py", default=sys.executable)
    args = ap.parse_args()
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    procs = Procs(out / "logs")
    rows = []
    try:
        up_port = free_port()
        up = procs.start("upstream", [args.py, str(HERE / "fast_upstream.py"), "--port", str(up_port)], args.aux_cpus)
        wait_ready(f"http://127.0.0.1:{up_port}/health", 20, up)
        gws = {}
        for writer in WRITERS:
            port = free_port()
            d = out / f"aigw-{writer}"
            d.mkdir(exist_ok=True)
            config = aigw_config(d, port, up_port)
            config.write_text(config.read_text() + f'\n[plugins.sqlite]\nwriter = "{writer}"\n')
            gw = procs.start(f"aigw-{writer}", [args.aigw, "serve", "--config", str(config)], args.gw_cpus, cwd=d)
            wait_ready(f"http://127.0.0.1:{port}/health", 60, gw)
            gws[writer] = (port, gw.pid)
        runs = [(w, g) for w in WRITERS for g in ("bench", "bench-nolog")]
        for rep in range(args.reps):
            shift = rep % len(runs)
            for writer, gateway in runs[shift:] + runs[:shift]:
                port, pid = gws[writer]
                r = run_load(args, port, gateway, pid)
                row = {"rep": rep, "writer": writer, "gateway": gateway, "requests": r["requests"], "errors": r["errors"],
                       "gw_us": r["gw_cpu_us_per_req"], "gw_main_us": r["gw_main_cpu_us_per_req"],
                       "foreign_cores": r["foreign_cores"], "req_per_s": r["req_per_s"]}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        procs.stop_all()
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "summary.md").write_text(render(rows, args))
    print((out / "summary.md").read_text())


def render(rows: list[dict], args) -> str:
    def med(writer: str, gateway: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["writer"] == writer and r["gateway"] == gateway)

    lines = [f"Non-streamed requests, {args.inflight} in flight on one WebSocket, {args.reps} reps x {args.seconds} s, median.",
             "CPU µs per request: `main` = the gateway's process alone, `tree` = with the writer process.", "",
             "| writer | logs on, main | logs off, main | **logging, main** | logs on, tree | logs off, tree | logging, tree | max foreign cores |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for w in WRITERS:
        on_m, off_m, on_t, off_t = (med(w, g, k) for k in ("gw_main_us", "gw_us") for g in ("bench", "bench-nolog"))
        foreign = max(r["foreign_cores"] for r in rows if r["writer"] == w)
        lines.append(f"| {w} | {on_m:.1f} | {off_m:.1f} | **{on_m - off_m:.1f}** | {on_t:.1f} | {off_t:.1f} | {on_t - off_t:.1f} | {foreign:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
