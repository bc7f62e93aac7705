"""What logging costs the gateway (issue 15 item 1): logs on minus logs off, per request.

Starts the fast upstream (core 1) and one `aigw serve` per SQLite writer (`thread`, `process`;
core 0, or the cores given), and drives the Universal WebSocket API with ws_load.py (core 1):
non-streamed requests (or burst streams, `--stream`), N in flight on one connection, against the `bench` gateway (logs on,
bodies collected) and `bench-nolog` (collect_logs = false), alternating, rotated per rep.
For every run it records the gateway process's own CPU (`gw_main`: its threads, not its
children) and its process tree's (`gw`: plus the writer process), so the table shows both
what the gateway's process pays per logged request and what the machine pays in all.

    python benches/throughput/run_logs.py --out benches/results/logs-<date> [--reps 3] [--seconds 4]

With `--b CMD` it is an A/B of logging's cost: build A (`--aigw`) and build B run side by side
(both up at once, their runs interleaved and rotated per rep), and the summary adds B − A of the
logging cost paired per rep, which tells apart changes smaller than the spread between runs.
`--writers process` measures one writer only.

    python benches/throughput/run_logs.py --out DIR --aigw $A --b $B --writers process --reps 5

The writer process inherits the gateway's CPU pinning (core 0), so by default it competes with
the gateway for its one core, as it would on a machine with no other core free. `--writer-cpus 1`
pins it (once started, before each run) to the other core instead, where a machine with a spare
core would run it: the gateway's process then pays only its own share of logging.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_gateway import HERE, Procs, ROOT, aigw_config, find_harness, free_port, wait_ready  # noqa: E402

WRITERS = ("thread", "process")


def children(pid: int) -> list[int]:
    """The child processes of `pid` (of any of its threads)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def pin_children(pid: int, cpus: str) -> None:
    """Pins every thread of `pid`'s child processes (the SQLite writer process) to `cpus`."""
    for child in children(pid):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(child)], check=False, capture_output=True)


def run_load(args, port: int, gateway: str, pid: int, upstream_pid: int) -> dict:
    if args.writer_cpus:
        pin_children(pid, args.writer_cpus)
    cmd = ["taskset", "-c", args.aux_cpus, args.py, str(HERE / "ws_load.py"), "--url", f"ws://127.0.0.1:{port}/v1/p/{gateway}",
           "--inflight", str(args.inflight), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
           f"--watch=gw={pid}", f"--watch-alone=gw_main={pid}", f"--watch=upstream={upstream_pid}", *(["--stream"] if args.stream else [])]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--stream", action="store_true", help="burst streams (the upstream's 64 chunks back to back) instead of "
                    "non-streamed requests: figures per stream")
    ap.add_argument("--gw-cpus", default="0")
    ap.add_argument("--aux-cpus", default="1")
    ap.add_argument("--writer-cpus", help="pin the writer process to these CPUs (default: it inherits --gw-cpus)")
    ap.add_argument("--aigw", default=str(ROOT / ".venv/bin/aigw"), help="command running build A's aigw")
    ap.add_argument("--b", help="command running build B's aigw: an A/B of the logging cost")
    ap.add_argument("--writers", default=",".join(WRITERS), help="comma-separated: thread, process")
    ap.add_argument("--py", default=sys.executable)
    args = ap.parse_args()
    writers = tuple(w for w in args.writers.split(",") if w)
    if not writers or any(w not in WRITERS for w in writers):
        ap.error(f"--writers takes {', '.join(WRITERS)}")
    builds = {"A": args.aigw, **({"B": args.b} if args.b else {})}
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    procs = Procs(out / "logs")
    rows = []
    try:
        up_port = free_port()
        # Streams come from the shared harness's uvloop upstream (as in run_gateway.py): the
        # asyncio one cannot keep 8 burst streams ahead of the gateway on a shared core.
        harness = find_harness() if args.stream else None
        upstream_py = harness / "fake_upstream.py" if harness else HERE / "fast_upstream.py"
        up = procs.start("upstream", [args.py, str(upstream_py), "--port", str(up_port)], args.aux_cpus)
        wait_ready(f"http://127.0.0.1:{up_port}/health", 20, up)
        gws = {}
        for build, command in builds.items():
            for writer in writers:
                port = free_port()
                name = f"aigw-{writer}" if len(builds) == 1 else f"aigw-{build}-{writer}"
                d = out / name
                d.mkdir(exist_ok=True)
                config = aigw_config(d, port, up_port)
                config.write_text(config.read_text() + f'\n[plugins.sqlite]\nwriter = "{writer}"\n')
                gw = procs.start(name, [command, "serve", "--config", str(config)], args.gw_cpus, cwd=d)
                wait_ready(f"http://127.0.0.1:{port}/health", 60, gw)
                gws[build, writer] = (port, gw.pid)
        runs = [(b, w, g) for b in builds for w in writers for g in ("bench", "bench-nolog")]
        for rep in range(args.reps):
            shift = rep % len(runs)
            for build, writer, gateway in runs[shift:] + runs[:shift]:
                port, pid = gws[build, writer]
                r = run_load(args, port, gateway, pid, up.pid)  # the upstream is ours, not foreign load
                row = {"rep": rep, "build": build, "writer": writer, "gateway": gateway, "requests": r["requests"], "errors": r["errors"],
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
    builds = sorted({r.get("build", "A") for r in rows})
    writers = [w for w in WRITERS if any(r["writer"] == w for r in rows)]

    def pick(build: str, writer: str, gateway: str, rep: int | None = None) -> list[dict]:
        return [r for r in rows if r.get("build", "A") == build and r["writer"] == writer and r["gateway"] == gateway
                and (rep is None or r["rep"] == rep)]  # fmt: skip

    def med(build: str, writer: str, gateway: str, key: str) -> float:
        return statistics.median(r[key] for r in pick(build, writer, gateway))

    def rep_costs(build: str, writer: str, key: str) -> dict[int, float]:
        """Logging's cost in each rep: logs on minus off of the same build in the same rep
        (the two ran back to back, so they saw the same minutes)."""
        costs = {}
        for rep in sorted({r["rep"] for r in rows}):
            on, off = pick(build, writer, "bench", rep), pick(build, writer, "bench-nolog", rep)
            if on and off:
                costs[rep] = on[0][key] - off[0][key]
        return costs

    def spread(values: list[float]) -> str:
        """median [first quartile–third quartile] of `values`."""
        if len(values) < 2:
            return f"{values[0]:.1f}" if values else "–"
        q1, q2, q3 = statistics.quantiles(values, n=4)
        return f"{statistics.median(values):.1f} [{q1:.1f}–{q3:.1f}]"

    shape = "Burst streams (64 chunks each)" if args.stream else "Non-streamed requests"
    placement = f"the writer process pinned to CPUs {args.writer_cpus}" if args.writer_cpus else f"the writer process on the gateway's CPUs ({args.gw_cpus})"
    lines = [f"{shape}, {args.inflight} in flight on one WebSocket, {args.reps} reps x {args.seconds} s, median; {placement}.",
             "CPU µs per request (per stream): `main` = the gateway's process alone, `tree` = with the writer process.",
             "`per rep`: logs on − off within each rep, median [quartiles] over reps (the steadier figure on a noisy machine).", "",
             "| build | writer | logs on, main | logs off, main | logging, main | **logging, main, per rep** | logs on, tree | logs off, tree | logging, tree | max foreign cores |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for b in builds:
        for w in writers:
            on_m, off_m, on_t, off_t = (med(b, w, g, k) for k in ("gw_main_us", "gw_us") for g in ("bench", "bench-nolog"))
            foreign = max(r["foreign_cores"] for r in rows if r.get("build", "A") == b and r["writer"] == w)
            per_rep = spread(list(rep_costs(b, w, "gw_main_us").values()))
            lines.append(f"| {b} | {w} | {on_m:.1f} | {off_m:.1f} | {on_m - off_m:.1f} | **{per_rep}** | {on_t:.1f} | {off_t:.1f} | {on_t - off_t:.1f} | {foreign:.2f} |")
    if len(builds) == 2:
        # Logging's cost per rep (logs on minus off, same build, same rep), B minus A in the same rep.
        lines += ["", "Paired per rep: B − A of the logging cost (µs per request), median [min–max] over reps.", "",
                  "| writer | main | tree |", "|---|---|---|"]  # fmt: skip
        for w in writers:
            cells = []
            for key in ("gw_main_us", "gw_us"):
                a, b = rep_costs("A", w, key), rep_costs("B", w, key)
                diffs = [b[rep] - a[rep] for rep in a if rep in b]
                cells.append(f"{statistics.median(diffs):+.2f} [{min(diffs):+.2f}–{max(diffs):+.2f}]" if diffs else "–")
            lines.append(f"| {w} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
