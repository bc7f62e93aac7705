"""Load client for the Universal WebSocket API (picows client, uvloop), or for a plain HTTP
upstream as the no-gateway baseline.

Closed loop: keeps --inflight requests outstanding on one connection for --seconds after a
warm-up, then prints one JSON line: requests, req/s, latency percentiles (µs), stream chunks,
and the CPU seconds (user+sys) that each --watch PID spent in the measured window.

    python ws_load.py --url ws://127.0.0.1:8787/v1/acct/bench --inflight 64 --seconds 5 --watch gw=PID
    python ws_load.py --url ws://... --stream --inflight 8 --watch gw=PID
    python ws_load.py --http http://127.0.0.1:18000/v1/chat/completions --inflight 1   # direct baseline
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit

import orjson
import psutil

REQUEST = {"model": "gpt-4o-mini", "max_tokens": 32, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]}


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return {"p50_us": pick(0.5) * 1e6, "p90_us": pick(0.9) * 1e6, "p99_us": pick(0.99) * 1e6}


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        p = psutil.Process(pid)
        t = p.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in p.children(recursive=True):
            try:
                ct = child.cpu_times()
                total += ct.user + ct.system
            except psutil.NoSuchProcess:
                pass
        out[name] = total
    return out


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.done = 0
        self.chunks = 0
        self.errors = 0
        self.measuring = False


async def run_ws(args, stats: Stats) -> None:
    from picows import WSListener, WSMsgType, ws_connect

    loop = asyncio.get_running_loop()
    sent: dict[str, float] = {}
    counter = iter(range(1, 1 << 62))
    body = dict(REQUEST, stream=True, model="paced-gpt-4o-mini" if args.paced else "gpt-4o-mini") if args.stream else REQUEST
    template = {"type": "universal.create", "request": {"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": body}}

    def message(event_id: str) -> bytes:
        template["request"]["eventId"] = event_id
        return orjson.dumps(template)

    class Client(WSListener):
        def on_ws_connected(self, transport):
            self.transport = transport

        def send_one(self):
            eid = str(next(counter))
            sent[eid] = time.perf_counter()
            self.transport.send(WSMsgType.TEXT, message(eid))

        def on_ws_frame(self, transport, frame):
            if frame.msg_type != WSMsgType.TEXT:
                return
            msg = orjson.loads(frame.get_payload_as_bytes())
            kind = msg["type"]
            meta = msg.get("metadata", {})
            eid = meta.get("eventId")
            if kind == "universal.stream":
                if stats.measuring:
                    stats.chunks += 1
                return
            if kind == "universal.created" and meta.get("contentType") == "text/event-stream" and "error" not in meta:
                return  # stream start
            t0 = sent.pop(eid, None)
            if t0 is None:
                return
            if stats.measuring:
                stats.latencies.append(time.perf_counter() - t0)
                stats.done += 1
                if meta.get("status", 200) >= 400 or "error" in meta:
                    stats.errors += 1
            self.send_one()

    transport, client = await ws_connect(Client, args.url, max_frame_size=64 << 20)
    for _ in range(args.inflight):
        client.send_one()
    await asyncio.sleep(args.warmup)
    stats.measuring = True
    await asyncio.sleep(args.seconds)
    stats.measuring = False
    transport.disconnect()


async def run_http(args, stats: Stats) -> None:
    u = urlsplit(args.http)
    body = orjson.dumps(REQUEST)
    req = (f"POST {u.path} HTTP/1.1\r\nhost: {u.netloc}\r\ncontent-type: application/json\r\n"
           f"authorization: Bearer dummy\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body

    async def worker():
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        while True:
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            n = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(n)
            if stats.measuring:
                stats.latencies.append(time.perf_counter() - t0)
                stats.done += 1

    tasks = [asyncio.create_task(worker()) for _ in range(args.inflight)]
    await asyncio.sleep(args.warmup)
    stats.measuring = True
    await asyncio.sleep(args.seconds)
    stats.measuring = False
    for t in tasks:
        t.cancel()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="ws:// URL of the Universal endpoint")
    ap.add_argument("--http", help="plain HTTP URL (baseline without a gateway)")
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--paced", action="store_true", help="ask the upstream to pace chunks")
    ap.add_argument("--watch", action="append", default=[], help="NAME=PID whose CPU to report")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    pids = {k: int(v) for k, v in (w.split("=", 1) for w in args.watch)}
    stats = Stats()
    task = asyncio.create_task(run_ws(args, stats) if args.url else run_http(args, stats))
    await asyncio.sleep(args.warmup)
    cpu0, t0 = cpu_of(pids), time.perf_counter()
    await asyncio.sleep(args.seconds)
    cpu1, t1 = cpu_of(pids), time.perf_counter()
    await task
    elapsed = t1 - t0
    out = {"label": args.label, "inflight": args.inflight, "stream": args.stream, "requests": stats.done, "errors": stats.errors,
           "seconds": elapsed, "req_per_s": stats.done / elapsed, "chunks": stats.chunks, **percentiles(stats.latencies)}
    for name in pids:
        cpu = cpu1[name] - cpu0[name]
        out[f"{name}_cpu_s"] = cpu
        out[f"{name}_cpu_us_per_req"] = cpu / stats.done * 1e6 if stats.done else None
        if stats.chunks:
            out[f"{name}_cpu_us_per_chunk_allin"] = cpu / stats.chunks * 1e6
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
