"""System calls the gateway makes per request: `strace -c` over one load window.

What a request costs the kernel is set by how many reads, writes and wake-ups it takes, not by
aigw's Python or Rust: this counts them. Starts the benchmarks' fake upstream and one gateway
(the same config as ab_gateway.py), warms it with one load run, then attaches `strace -c -f`
to the gateway's threads for a second run and divides each call's count by the requests (or
streams) the load finished. strace slows the gateway several-fold: read the counts, not the
times; and a slowed gateway finds more bytes waiting in each read than one at full speed.
`--full-speed` counts only reads and writes, from the kernel's own counters
(/proc/PID/io's syscr and syscw, the process's threads together), with no tracer attached:
what a stream costs in system calls at the gateway's real pace.

    python benches/throughput/syscalls.py --aigw /tmp/aigw-wrapper --out /tmp/sc \\
        [--surface ws|http|compat|compatpass] [--scenario ns_c32|st_b8|st_c8] [--seconds 3] [--full-speed]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_gateway import start_upstreams, surface_targets  # noqa: E402
from run_gateway import Procs, ROOT, aigw_config, find_harness, free_port, load_cmd, normalize, wait_ready  # noqa: E402


def strace_counts(path: Path) -> dict[str, int]:
    """`strace -c`'s table: calls by system call name."""
    counts = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        # "% time  seconds  usecs/call  calls  [errors]  syscall"
        if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
            counts[parts[-1]] = int(parts[3])
    return counts


def io_counts(pid: int) -> dict[str, int]:
    """/proc/PID/io's read and write system calls so far (all the process's threads)."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return {"read": int(fields["syscr"]), "write": int(fields["syscw"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--aigw", required=True, help="command running the aigw to count")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--surface", default="ws", choices=("ws", "http", "compat", "compatpass"))
    ap.add_argument("--scenario", default="ns_c32")
    ap.add_argument("--gateway", default="bench", help="bench: logs on, bench-nolog: off")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--py", default=sys.executable)
    ap.add_argument("--full-speed", action="store_true", help="count reads and writes from /proc/PID/io, no strace attached")
    args = ap.parse_args()
    args.smoke, args.warmup = False, 1.0
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    harness = find_harness()
    procs = Procs(out / "logs")
    try:
        up, up_port, an, an_port = start_upstreams(procs, args.py, harness, args.surface == "compat")
        port = free_port()
        gw = procs.start("gateway", [args.aigw, "serve", "--config", str(aigw_config(out, port, up_port, an_port))], "0", cwd=out)
        wait_ready(f"http://127.0.0.1:{port}/health", 60, gw)
        target = surface_targets("gw", port, args.gateway, gw.pid, up.pid, an.pid if an else None, harness)[args.surface]
        cmd = ["taskset", "-c", "1", *load_cmd(args, target, args.scenario, args.py)]
        subprocess.run(cmd, capture_output=True, cwd=ROOT)  # warm: imports, pools, caches
        table = out / "strace.txt"
        if args.full_speed:
            before = io_counts(gw.pid)
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            after = io_counts(gw.pid)
            counts = {name: after[name] - before[name] for name in after}
        else:
            strace = subprocess.Popen(["strace", "-c", "-f", "-p", str(gw.pid), "-o", str(table)], stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # attached to every thread before the load starts
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            strace.send_signal(signal.SIGINT)
            strace.wait()
            counts = strace_counts(table)
    finally:
        procs.stop_all()
    row = normalize(target, args.scenario, json.loads(r.stdout.strip().splitlines()[-1]))
    n = row["requests"]
    unit = "stream" if row.get("chunks") else "request"
    how = "full speed, /proc/PID/io" if args.full_speed else "strace -c"
    lines = [f"{args.surface}:{args.scenario}, {n} {unit}s, {args.gateway}, {how}", "", f"| system call | per {unit} |", "|---|---|"]
    lines += [f"| {name} | {count / n:.3f} |" for name, count in sorted(counts.items(), key=lambda kv: -kv[1]) if count / n >= 0.001]
    lines.append(f"| all | {sum(counts.values()) / n:.3f} |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
