"""The floor under a relayed stream's chunk: aigw against the cheapest relay of the same bytes.

Starts the fake upstream (the shared harness's, else ours), one `aigw serve` build and
benches/floor_relay (a standalone Rust program, not part of aigw: one epoll thread, each
readable socket drained with one `read` and written to its peer with one `write`, nothing
parsed), both on core 0. Then, per rep and scenario, runs the same streamed load through aigw's
surfaces and through the floor, back to back (order swapped every rep), and prints each run's
CPU µs per chunk received, all-in (the process's user + system CPU over the chunks the client
counted), with its system (kernel) share.

Two floors, one per shape:
- `floor` (HTTP's shape): the load clients' requests pass through floor-relay unchanged, one
  client connection per stream in flight, each with its own upstream connection. Any HTTP relay
  of these streams does at least its reads and writes, so aigw's `http` figure cannot go below it.
- `floor-mux` (the Universal WebSocket's shape: every stream on one client connection):
  `floor-relay mux` drives the streams itself and writes each poll's upstream bytes to the one
  client connection in one write; the client (this script's `mux-client`) only counts the
  events it reads. aigw's `ws` figure stands on this one.

    python benches/throughput/floor_streams.py --aigw /tmp/aigw-main --out DIR \
        [--reps 4] [--seconds 3] [--scenarios st_b8,st_c64] [--surfaces http,ws,compat] [--gateway bench-nolog]
    python benches/throughput/floor_streams.py mux-client --port P --streams 8 [--paced] --watch PID  # one floor-mux run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_gateway import run_load, start_upstreams, surface_targets  # noqa: E402
from run_gateway import ROOT, SCENARIOS, Procs, aigw_config, find_harness, free_port, load_cmd, wait_ready  # noqa: E402
from run_realtime import build_floor_relay, wait_tcp  # noqa: E402
from ws_load import machine_busy, tree_cpu_times  # noqa: E402  (the mux client's own measurement)

#: What starts every chat.completion.chunk event the upstream sends (its [DONE] excluded).
EVENT = b"data: {"


def floor_target(port: int, relay_pid: int, up_pid: int, harness: Path | None) -> dict:
    """A loadgen target whose requests pass through floor-relay to the upstream unchanged."""
    return {"name": "floor", "kind": "loadgen", "loadgen": harness / "loadgen.py" if harness else None,
            "url": f"http://127.0.0.1:{port}/v1/chat/completions", "api_key": "sk-bench-dummy",
            "models": {"default": "gpt-4o-mini", "paced": "paced-gpt-4o-mini"}, "pid": relay_pid, "up_pid": up_pid}


def mux_target(port: int, relay_pid: int) -> dict:
    """The target of `floor-relay mux` on `port`: measured by this script's mux client."""
    return {"name": "floor-mux", "kind": "mux", "port": port, "pid": relay_pid}


async def mux_client(args) -> dict:
    """Order `--streams` streams from `floor-relay mux`, count the events read, and return the
    relay's CPU per event over the measured window (after --warmup), with its kernel share."""
    counts = {"events": 0, "streams": 0}

    class Counter(asyncio.Protocol):
        carry = b""

        def data_received(self, data: bytes) -> None:
            seen = self.carry + data
            counts["events"] += seen.count(EVENT)  # EVENT is longer than the carry: no match counted twice
            counts["streams"] += seen.count(b"data: [DONE]")
            self.carry = seen[-(len(EVENT) - 1):]

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(Counter, "127.0.0.1", args.port)
    model = "paced-gpt-4o-mini" if args.paced else "gpt-4o-mini"
    transport.write(f"{args.streams} {model}\n".encode())
    await asyncio.sleep(args.warmup)
    (u0, s0), busy0, e0, n0, t0 = tree_cpu_times(args.watch), machine_busy(), counts["events"], counts["streams"], time.perf_counter()
    await asyncio.sleep(args.seconds)
    (u1, s1), busy1, e1, n1, t1 = tree_cpu_times(args.watch), machine_busy(), counts["events"], counts["streams"], time.perf_counter()
    transport.close()
    cpu, events, elapsed = (u1 - u0) + (s1 - s0), e1 - e0, t1 - t0
    return {"requests": n1 - n0, "errors": 0, "chunks": events, "chunks_per_stream": events / max(1, n1 - n0),
            "gw_cpu_s": cpu, "gw_cpu_us_per_chunk_allin": cpu / max(1, events) * 1e6, "system_share": (s1 - s0) / max(1e-9, cpu),
            "foreign_cores": max(0.0, (busy1 - busy0) - cpu) / elapsed}  # this client's own CPU counts as foreign here


def measure(args, target: dict, scen: str) -> dict | None:
    """One load run against `target`: its normalized row with the CPU per chunk and the
    kernel's share of it, or None when the load failed."""
    if target["kind"] == "mux":
        _, paced, streams = SCENARIOS[scen]
        cmd = [args.py, __file__, "mux-client", "--port", str(target["port"]), "--streams", str(streams),
               "--seconds", str(args.seconds), "--warmup", str(args.warmup), "--watch", str(target["pid"])]
        r = subprocess.run(["taskset", "-c", "1", *cmd, *(["--paced"] if paced else [])], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"[fail] floor-mux {scen}: {r.stderr[-500:]}", file=sys.stderr)
            return None
        return json.loads(r.stdout.strip().splitlines()[-1])
    row = run_load(args, target, scen)
    if row is not None:
        row["system_share"] = row.pop("gw_system_share")
    return row


def mux_client_main() -> None:
    ap = argparse.ArgumentParser(description="one floor-mux run: order streams, count events, print one JSON line")
    ap.add_argument("mode")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--paced", action="store_true")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--watch", type=int, required=True, help="floor-relay's PID")
    args = ap.parse_args()
    import uvloop

    print(json.dumps(uvloop.run(mux_client(args))), flush=True)


def main() -> None:
    if sys.argv[1:2] == ["mux-client"]:
        return mux_client_main()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--aigw", required=True, help="command running the aigw build to hold against the floor")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--scenarios", default="st_b8,st_c64", help="streamed scenarios of run_gateway.py")
    ap.add_argument("--surfaces", default="http,ws",
                    help="aigw's surfaces to measure beside the floor (ws, http, compat: /compat translated to Anthropic)")
    ap.add_argument("--gateway", default="bench-nolog", help="bench: logs on, bench-nolog: off")
    ap.add_argument("--py", default=sys.executable)
    args = ap.parse_args()
    args.smoke = False
    scenarios = args.scenarios.split(",")
    if any(not SCENARIOS[s][0] for s in scenarios):
        raise SystemExit("--scenarios takes streamed scenarios only (st_*)")
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    harness = find_harness()
    procs = Procs(out / "logs")
    rows: dict[tuple[str, str], list[dict]] = {}
    try:
        compat = "compat" in args.surfaces.split(",")
        up, up_port, an, an_port = start_upstreams(procs, args.py, harness, compat)
        port = free_port()
        (out / "aigw").mkdir(exist_ok=True)
        gw = procs.start("aigw", [args.aigw, "serve", "--config", str(aigw_config(out / "aigw", port, up_port, an_port))], "0",
                         cwd=out / "aigw")
        wait_ready(f"http://127.0.0.1:{port}/health", 60, gw)
        floor_port = free_port()
        relay = procs.start("floor-relay", [str(build_floor_relay()), str(floor_port), str(up_port)], "0")
        wait_tcp(floor_port, relay)
        mux_port = free_port()
        mux = procs.start("floor-mux", [str(build_floor_relay()), "mux", str(mux_port), str(up_port)], "0")
        wait_tcp(mux_port, mux)
        surfaces = surface_targets("aigw", port, args.gateway, gw.pid, up.pid, an.pid if an else None, harness)
        targets = {f"aigw-{s}": surfaces[s] for s in args.surfaces.split(",")}
        targets["floor"] = floor_target(floor_port, relay.pid, up.pid, harness)
        targets["floor-mux"] = mux_target(mux_port, mux.pid)
        for t in targets.values():  # warm every path (imports, pools) before measuring
            if t["kind"] == "mux":
                continue
            subprocess.run(["taskset", "-c", "1", *load_cmd(args, t, "st_b8", args.py)], capture_output=True, cwd=ROOT)
        with open(out / "results.jsonl", "a") as f:
            for rep in range(args.reps):
                for scen in scenarios:
                    order = list(targets) if rep % 2 == 0 else list(reversed(targets))
                    for name in order:
                        row = measure(args, targets[name], scen)
                        if row is None:
                            continue
                        rows.setdefault((scen, name), []).append(row)
                        f.write(json.dumps({"rep": rep, "scenario": scen, "target": name, **row}) + "\n")
                        print(f"[rep {rep}] {scen:6} {name:9} {row['gw_cpu_us_per_chunk_allin']:7.2f} µs/chunk  "
                              f"{row['chunks_per_stream']:.1f} chunks/stream  system {row['system_share']:.0%}  "
                              f"foreign {row['foreign_cores']:.2f}", file=sys.stderr, flush=True)
    finally:
        procs.stop_all()
    names = list(targets)
    # Each aigw surface over the floor of its shape.
    pairs = [(n, "floor-mux" if n == "aigw-ws" else "floor") for n in names if n.startswith("aigw-")]
    lines = ["| scenario | " + " | ".join(f"{n} µs/chunk (system share)" for n in names)
             + " | " + " | ".join(f"{n} / {f}" for n, f in pairs) + " |",
             "|---" * (1 + len(names) + len(pairs)) + "|"]
    for scen in scenarios:
        med = {}
        cells = []
        for n in names:
            got = rows.get((scen, n), [])
            if not got:
                cells.append("–")
                continue
            med[n] = statistics.median(r["gw_cpu_us_per_chunk_allin"] for r in got)
            cells.append(f"{med[n]:.2f} ({statistics.median(r['system_share'] for r in got):.0%})")
        ratios = [f"{med[n] / med[f]:.2f}" if n in med and f in med else "–" for n, f in pairs]
        lines.append(f"| {scen} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
