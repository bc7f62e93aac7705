"""Realtime relay benchmark (issue 10): N concurrent audio sessions through `aigw serve`.

Starts on loopback (free ports): an upstream (by default a minimal picows echo server on
Deepgram's path, started as `python run_realtime.py echo --port P`; `--upstream deepgram` uses
aigw.testing's Deepgram live simulator instead: slower, JSON results, no per-frame latency) and
`aigw serve --config OUT/aigw.toml` with `[providers.deepgram] realtime_url` pointing at it and a
stored key. Then, in this process (picows clients on uvloop):

1. direct: N sessions straight to the upstream, each sending one 640-byte binary frame (20 ms of
   16 kHz linear16 mono) every 20 ms, paced in real time, starts staggered over 20 ms; the first
   8 bytes carry the send time and the echo gives the round trip;
2. gateway: the same N sessions through `ws://…/v1/bench-account/bench/deepgram/v1/listen?…`.

Measured over the window after `--warmup` seconds:
  gateway CPU per relayed frame = (utime+stime of the `aigw serve` process tree, /proc/<pid>/stat)
                                  / (frames client→upstream + frames upstream→client)
  added latency per frame      = round-trip p50/p99 through the gateway − direct (same pacing)
  RSS per session              = (gateway VmRSS with N sessions open − before) / N
Issue 10's targets: ≤ 4 µs gateway CPU per relayed frame, p99 added ≤ 1 ms.

    python benches/throughput/run_realtime.py [--sessions 100] [--seconds 20] [--warmup 2]
        [--upstream echo|deepgram] [--gw-cpus 0] [--aux-cpus 1] [--out FILE.json]
    python benches/throughput/run_realtime.py --sessions 10 --seconds 2 --warmup 0.5   # smoke

Prints one JSON object (also written to --out) and a short table. Logs of the started
processes go to a temporary directory printed at start (kept with --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from run_gateway import Procs, free_port, wait_ready  # noqa: E402  (the harness's process helpers)
FRAME_BYTES = 640  # 20 ms of 16 kHz 16-bit mono PCM
FRAME_INTERVAL = 0.020
LISTEN_QUERY = "model=nova-3&encoding=linear16&sample_rate=16000"
KEY = "bench-deepgram-key"
STAMP = struct.Struct("<Q")


# -- the echo upstream (a subprocess) -------------------------------------------------------

def serve_echo(port: int) -> None:
    """A minimal Deepgram-path echo upstream: every binary frame back unchanged; a text frame
    (CloseStream) closes with 1000."""
    from picows import WSListener, WSMsgType, ws_create_server

    class Echo(WSListener):
        def on_ws_frame(self, transport, frame):
            if frame.msg_type == WSMsgType.BINARY:
                transport.send(WSMsgType.BINARY, frame.get_payload_as_memoryview())
            elif frame.msg_type == WSMsgType.TEXT:
                transport.send_close(1000)
                transport.disconnect()
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            elif frame.msg_type == WSMsgType.PING:
                transport.send_pong(frame.get_payload_as_bytes())

    async def main() -> None:
        server = await ws_create_server(lambda request: Echo(), "127.0.0.1", port)
        await server.serve_forever()

    run_loop(main())


def serve_deepgram(port: int) -> None:
    """aigw.testing's Deepgram live simulator on `port` (key KEY, no inactivity close)."""
    from aigw.testing.simulators.realtime_deepgram import DeepgramLiveSimulator

    async def main() -> None:
        sim = DeepgramLiveSimulator(key=KEY, net_timeout=3600)
        await sim.start(port=port)
        await asyncio.Event().wait()

    run_loop(main())


def run_loop(coro) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:
        asyncio.run(coro)


# -- processes ------------------------------------------------------------------------------

def wait_tcp(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process on port {port} exited with {proc.returncode}; see its log")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"port {port} not ready within {timeout}s")


def tree_pids(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its descendants, from /proc/<pid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


def rss_bytes(pid: int) -> int:
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def aigw_config(out: Path, port: int, up_port: int) -> Path:
    path = out / "aigw.toml"
    path.write_text(f'''# generated by run_realtime.py
data_dir = "{out / "aigw-data"}"

[server]
host = "127.0.0.1"
port = {port}

[gateways.bench]
authentication = false

[realtime]
idle_timeout = 0
max_sessions_per_gateway = 0

[providers.deepgram]
realtime_url = "ws://127.0.0.1:{up_port}"
key = "{KEY}"
''')
    return path


# -- the load -------------------------------------------------------------------------------

class Phase:
    """What one phase's sessions saw inside the measured window."""

    def __init__(self) -> None:
        self.measuring = False
        self.sent = 0
        self.received = 0
        self.rtts: list[float] = []
        self.errors: list[str] = []


async def run_phase(url: str, sessions: int, seconds: float, warmup: float, on_window=None) -> Phase:
    """`sessions` paced sessions to `url` for warmup + seconds; `on_window(start: bool)` is
    called when the measured window opens and closes."""
    from picows import WSListener, WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    phase = Phase()
    clock = time.perf_counter_ns
    frame = bytearray(FRAME_BYTES)

    class Session(WSListener):
        def on_ws_connected(self, transport):
            self.transport = transport
            self.closed = loop.create_future()

        def on_ws_frame(self, transport, msg):
            if msg.msg_type == WSMsgType.BINARY:
                if phase.measuring:
                    phase.received += 1
                    phase.rtts.append((clock() - STAMP.unpack_from(msg.get_payload_as_memoryview())[0]) / 1e3)
            elif msg.msg_type == WSMsgType.TEXT:
                if phase.measuring:
                    phase.received += 1
            elif msg.msg_type == WSMsgType.CLOSE:
                if msg.get_close_code() not in (1000, 1001) and len(phase.errors) < 5:
                    phase.errors.append(f"close {msg.get_close_code()} {msg.get_close_message()!r}")
                transport.disconnect()

        def on_ws_disconnected(self, transport):
            if not self.closed.done():
                self.closed.set_result(None)

        def tick(self, when: float, end: float):
            if when >= end or self.closed.done():
                return
            STAMP.pack_into(frame, 0, clock())
            self.transport.send(WSMsgType.BINARY, frame)
            if phase.measuring:
                phase.sent += 1
            nxt = when + FRAME_INTERVAL
            loop.call_at(nxt, self.tick, nxt, end)

    clients = []
    for _ in range(sessions):
        transport, client = await ws_connect(Session, url)
        clients.append((transport, client))
    begin = loop.time() + 0.1
    end = begin + warmup + seconds
    for i, (_, client) in enumerate(clients):
        first = begin + FRAME_INTERVAL * i / sessions
        loop.call_at(first, client.tick, first, end)
    await asyncio.sleep(begin + warmup - loop.time())
    phase.measuring = True
    if on_window:
        on_window(True)
    await asyncio.sleep(seconds)
    phase.measuring = False
    if on_window:
        on_window(False)
    await asyncio.sleep(0.2)  # the last echoes
    for transport, client in clients:
        transport.send(WSMsgType.TEXT, b'{"type":"CloseStream"}')
    await asyncio.wait_for(asyncio.gather(*(c.closed for _, c in clients)), 10)
    return phase


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def measured(url: str, args, pid: int) -> tuple[Phase, dict]:
    """One phase through the relay process `pid`: what the sessions saw, and that process
    tree's CPU per relayed frame and RSS per session over the window."""
    rss_before = rss_bytes(pid)
    window: dict[str, float] = {}

    def on_window(opening: bool) -> None:
        window["cpu_start" if opening else "cpu_end"] = cpu_seconds(pid)
        window["t_start" if opening else "t_end"] = time.perf_counter()
        if opening:
            window["rss_open"] = rss_bytes(pid)

    phase = await run_phase(url, args.sessions, args.seconds, args.warmup, on_window)
    relayed = phase.sent + phase.received
    cpu = window["cpu_end"] - window["cpu_start"]
    return phase, {
        "frames_sent": phase.sent, "frames_received": phase.received, "frames_relayed": relayed,
        "cpu_seconds": round(cpu, 3), "cpu_percent": round(100 * cpu / (window["t_end"] - window["t_start"]), 1),
        "cpu_us_per_relayed_frame": round(cpu * 1e6 / relayed, 2) if relayed else None,
        "rss_per_session_kib": round((window["rss_open"] - rss_before) / args.sessions / 1024, 1),
        "rtt_us_p50": pct(phase.rtts, 0.5), "rtt_us_p99": pct(phase.rtts, 0.99), "errors": phase.errors,
    }


async def drive(args, up_port: int, gw_port: int, gw_pid: int, floor: tuple[int, int] | None = None) -> dict:
    direct_url = f"ws://127.0.0.1:{up_port}/v1/listen?{LISTEN_QUERY}"
    gw_url = f"ws://127.0.0.1:{gw_port}/v1/bench-account/bench/deepgram/v1/listen?{LISTEN_QUERY}"
    result: dict = {"sessions": args.sessions, "seconds": args.seconds, "upstream": args.upstream,
                    "frame_bytes": FRAME_BYTES, "frames_per_second_per_session": 1 / FRAME_INTERVAL}
    direct = None
    if args.upstream == "echo":
        direct = await run_phase(direct_url, args.sessions, args.seconds, args.warmup)
    gateway, result["gateway"] = await measured(gw_url, args, gw_pid)
    if floor is not None:
        # The same sessions through floor-relay: bytes copied between sockets, one read and one
        # write per frame, nothing parsed (the cheapest relay there is; its path is the echo's).
        floor_port, floor_pid = floor
        _, result["floor"] = await measured(f"ws://127.0.0.1:{floor_port}/v1/listen?{LISTEN_QUERY}", args, floor_pid)
        g, f = result["gateway"]["cpu_us_per_relayed_frame"], result["floor"]["cpu_us_per_relayed_frame"]
        if g and f:
            result["gateway_over_floor"] = round(g / f, 2)
    if direct is not None:
        result["direct"] = {"frames_sent": direct.sent, "frames_received": direct.received,
                            "rtt_us_p50": pct(direct.rtts, 0.5), "rtt_us_p99": pct(direct.rtts, 0.99), "errors": direct.errors}
        if gateway.rtts and direct.rtts:
            result["added_latency_us_p50"] = round(pct(gateway.rtts, 0.5) - pct(direct.rtts, 0.5), 1)
            result["added_latency_us_p99"] = round(pct(gateway.rtts, 0.99) - pct(direct.rtts, 0.99), 1)
            result["direct"]["rtt_us_mean"] = round(statistics.fmean(direct.rtts), 1)
            result["gateway"]["rtt_us_mean"] = round(statistics.fmean(gateway.rtts), 1)
    return result


def build_floor_relay() -> Path:
    """Build benches/floor_relay (release) and return its binary."""
    manifest = HERE.parent / "floor_relay" / "Cargo.toml"
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path", str(manifest)], check=True)
    return manifest.parent / "target" / "release" / "floor-relay"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("echo", "deepgram"):
        sub = argparse.ArgumentParser()
        sub.add_argument("kind")
        sub.add_argument("--port", type=int, required=True)
        a = sub.parse_args()
        (serve_echo if a.kind == "echo" else serve_deepgram)(a.port)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--upstream", choices=("echo", "deepgram"), default="echo")
    ap.add_argument("--aigw", default=f"{sys.executable} -m aigw", help="command that runs aigw")
    ap.add_argument("--gw-cpus", default=None, help="taskset CPU list for aigw serve")
    ap.add_argument("--aux-cpus", default=None, help="taskset CPU list for the upstream")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the working directory (config, logs)")
    ap.add_argument("--floor", action="store_true",
                    help="also run the sessions through benches/floor_relay (bytes copied on one epoll thread, "
                         "pinned like the gateway): the floor any relay's CPU per frame stands on")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="aigw-realtime-bench-"))
    print(f"[work] {work}", file=sys.stderr)
    procs = Procs(work)
    try:
        up_port, gw_port = free_port(), free_port()
        up = procs.start("upstream", [sys.executable, str(Path(__file__).resolve()), args.upstream, "--port", str(up_port)], args.aux_cpus)
        wait_tcp(up_port, up)
        cfg = aigw_config(work, gw_port, up_port)
        gw = procs.start("aigw", [*args.aigw.split(), "serve", "--config", str(cfg)], args.gw_cpus, cwd=work)
        wait_ready(f"http://127.0.0.1:{gw_port}/health", 60, gw)
        floor = None
        if args.floor:
            floor_port = free_port()
            relay = procs.start("floor-relay", [str(build_floor_relay()), str(floor_port), str(up_port)], args.gw_cpus)
            wait_tcp(floor_port, relay)
            floor = (floor_port, relay.pid)
        result = run_and_report(args, up_port, gw_port, gw.pid, floor)
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


def run_and_report(args, up_port: int, gw_port: int, gw_pid: int, floor: tuple[int, int] | None = None) -> dict:
    holder: dict = {}

    async def go() -> None:
        holder["result"] = await drive(args, up_port, gw_port, gw_pid, floor)

    run_loop(go())
    result = holder["result"]
    print(json.dumps(result, indent=2))
    g = result["gateway"]
    print(f"\n{args.sessions} sessions x {1 / FRAME_INTERVAL:.0f} frames/s x {FRAME_BYTES} B, {args.seconds:g} s window", file=sys.stderr)
    print(f"gateway CPU per relayed frame: {g['cpu_us_per_relayed_frame']} us (target <= 4)  [{g['cpu_percent']}% of a core]", file=sys.stderr)
    if "added_latency_us_p99" in result:
        print(f"added latency per frame: p50 {result['added_latency_us_p50']} us, p99 {result['added_latency_us_p99']} us (target p99 <= 1000)", file=sys.stderr)
    print(f"RSS per session: {g['rss_per_session_kib']} KiB", file=sys.stderr)
    if "floor" in result:
        f = result["floor"]
        print(f"floor relay (bytes copied, Rust epoll): {f['cpu_us_per_relayed_frame']} us per relayed frame; "
              f"gateway / floor = {result.get('gateway_over_floor')}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
