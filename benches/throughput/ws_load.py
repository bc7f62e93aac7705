"""Load client for the Universal WebSocket API (picows client, uvloop), or for a plain HTTP
upstream as the no-gateway baseline.

Closed loop: keeps --inflight requests outstanding on ONE connection (or spread over
--connections connections) for --seconds after a warm-up (same connections), then prints one JSON line: requests (streams count once), req/s,
latency percentiles (µs; for streams also time to the first `universal.stream`), stream chunks,
and the CPU seconds (user+sys, process tree, psutil) that each --watch PID, this client, and
everything else on the machine ("foreign", from /proc/stat) spent in the measured window.

Both clients are callback-driven (the next request is sent from the callback that completed the
previous one), so their own overhead is comparable when latency is compared.

    python ws_load.py --url ws://127.0.0.1:8787/v1/acct/bench --inflight 64 --seconds 5 --watch gw=PID
    python ws_load.py --url ws://... --stream [--paced] --inflight 8 --watch gw=PID
    python ws_load.py --url ws://... --inflight 32 --connections 32     # one request in flight per connection
    python ws_load.py --http http://127.0.0.1:18000/v1/chat/completions --inflight 1   # direct baseline
    python ws_load.py --url ws://... --unique-cache-key       # every request misses the cache, then is stored
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from urllib.parse import urlsplit

import orjson
import psutil

# The same body the shared harness's loadgen.py sends (2 messages, max_tokens 32).
REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello in one short sentence."},
    ],
    "max_tokens": 32,
}


def percentiles(samples: list[float], prefix: str = "") -> dict[str, float]:
    if not samples:
        return {}
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return {f"{prefix}p50_us": pick(0.5) * 1e6, f"{prefix}p90_us": pick(0.9) * 1e6, f"{prefix}p99_us": pick(0.99) * 1e6}


def own_cpu(pid: int) -> float:
    """user+sys CPU seconds of `pid` alone (its threads, not its child processes)."""
    try:
        return sum(psutil.Process(pid).cpu_times()[:2])
    except psutil.NoSuchProcess:
        return float("nan")


def tree_cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of `pid`, its live descendants and its reaped children
    (NaN when `pid` is gone)."""
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan"), float("nan")
    user = system = 0.0
    for q in procs:
        try:
            t = q.cpu_times()
            user += t.user + t.children_user
            system += t.system + t.children_system
        except psutil.NoSuchProcess:
            pass
    return user, system


def tree_cpu(pid: int) -> float:
    """user+sys CPU seconds of `pid`, its live descendants and its reaped children."""
    return sum(tree_cpu_times(pid))


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.ttfc: list[float] = []
        self.done = 0
        self.chunks = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.measuring = False

    def error(self, what: str) -> None:
        if self.measuring:
            self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(what[:300])


async def run_ws(args, stats: Stats, ready: asyncio.Future) -> None:
    from picows import WSListener, WSMsgType, ws_connect

    sent: dict[str, float] = {}
    first: set[str] = set()  # streams that have not yet delivered a chunk
    counter = iter(range(1, 1 << 62))
    body = dict(REQUEST)
    if args.stream:
        body["stream"] = True
        body["model"] = "paced-gpt-4o-mini" if args.paced else "gpt-4o-mini"
    template = {"type": "universal.create", "request": {"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": body}}
    request = template["request"]
    cache_prefix = f"bench-{os.getpid()}-{time.time_ns()}-"
    perf = time.perf_counter

    class Client(WSListener):
        def on_ws_connected(self, transport):
            self.transport = transport

        def send_one(self):
            eid = str(next(counter))
            request["eventId"] = eid
            if args.unique_cache_key:  # every request a cache MISS that is then stored
                request["headers"]["cf-aig-cache-key"] = cache_prefix + eid
            payload = orjson.dumps(template)
            if args.stream:
                first.add(eid)
            sent[eid] = perf()
            self.transport.send(WSMsgType.TEXT, payload)

        def on_ws_frame(self, transport, frame):
            if frame.msg_type != WSMsgType.TEXT:
                if frame.msg_type == WSMsgType.CLOSE:
                    stats.error(f"close frame: {frame.get_close_code()} {frame.get_close_message()}")
                return
            msg = orjson.loads(frame.get_payload_as_bytes())
            kind = msg["type"]
            meta = msg.get("metadata") or {}
            eid = meta.get("eventId")
            if kind == "universal.stream":
                if eid in first:
                    first.discard(eid)
                    if stats.measuring:
                        stats.ttfc.append(perf() - sent[eid])
                if stats.measuring:
                    stats.chunks += 1
                return
            if kind == "universal.created" and "error" not in meta and meta.get("contentType") == "text/event-stream" and meta.get("status", 200) < 400:
                return  # stream start; universal.done ends it
            t0 = sent.pop(eid, None)
            if t0 is None:
                stats.error(f"unexpected message: {msg!r}")
                return
            first.discard(eid)
            if stats.measuring:
                stats.latencies.append(perf() - t0)
                stats.done += 1
            if meta.get("status", 200) >= 400 or "error" in meta or kind == "universal.error":
                stats.error(json.dumps(msg)[:300])
            self.send_one()

        def on_ws_disconnected(self, transport):
            if not ready.done():
                ready.set_result(None)

    # --connections K: K connections share the --inflight requests (1 each when K == inflight:
    # the one-connection-per-request shape); the default is ONE multiplexed connection.
    conns = [await ws_connect(Client, args.url, max_frame_size=64 << 20) for _ in range(args.connections)]
    for i in range(args.inflight):
        conns[i % len(conns)][1].send_one()
    await ready  # main() decides when the run ends
    for transport, _ in conns:
        transport.disconnect()


async def run_http(args, stats: Stats, ready: asyncio.Future) -> None:
    """Raw asyncio.Protocol keep-alive client, one connection per in-flight request
    (HTTP/1.1 has no multiplexing), non-streaming only."""
    u = urlsplit(args.http)
    body = orjson.dumps(REQUEST)
    req = (f"POST {u.path} HTTP/1.1\r\nhost: {u.netloc}\r\ncontent-type: application/json\r\n"
           f"authorization: Bearer dummy\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body
    perf = time.perf_counter

    class Conn(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport
            self.buf = b""
            self.need = -1
            self.send()

        def send(self):
            self.t0 = perf()
            self.t.write(req)

        def data_received(self, data):
            buf = self.buf + data
            while True:
                if self.need < 0:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head = buf[:end].lower()
                    i = head.find(b"content-length:")
                    self.status = int(head[9:12])
                    self.need = end + 4 + int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None])
                if len(buf) < self.need:
                    break
                buf = buf[self.need :]
                self.need = -1
                if stats.measuring:
                    stats.latencies.append(perf() - self.t0)
                    stats.done += 1
                if self.status >= 400:
                    stats.error(f"HTTP {self.status}")
                self.send()
            self.buf = buf

        def connection_lost(self, exc):
            if not ready.done():
                stats.error(f"connection lost: {exc}")

    loop = asyncio.get_running_loop()
    conns = [await loop.create_connection(Conn, u.hostname, u.port) for _ in range(args.inflight)]
    await ready
    for t, _ in conns:
        t.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="ws:// URL of the Universal endpoint")
    ap.add_argument("--http", help="plain HTTP URL (baseline without a gateway)")
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--connections", type=int, default=1,
                    help="WebSocket connections sharing the --inflight requests (= --inflight: one request per connection)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--paced", action="store_true", help="ask the upstream to pace chunks (model name contains 'paced')")
    ap.add_argument("--watch", action="append", default=[], help="NAME=PID whose CPU to report (with its children)")
    ap.add_argument("--watch-alone", action="append", default=[], help="NAME=PID whose own CPU to report (children excluded)")
    ap.add_argument("--label", default="")
    ap.add_argument("--unique-cache-key", action="store_true", help="a new cf-aig-cache-key per request: the cache's miss-and-store path")
    args = ap.parse_args()
    if bool(args.url) == bool(args.http):
        ap.error("give exactly one of --url / --http")
    if not 1 <= args.connections <= args.inflight:
        ap.error("--connections must be between 1 and --inflight")
    pids = {k: int(v) for k, v in (w.split("=", 1) for w in args.watch)}
    alone = {k: int(v) for k, v in (w.split("=", 1) for w in args.watch_alone)}
    me = psutil.Process()
    stats = Stats()
    end = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_ws(args, stats, end) if args.url else run_http(args, stats, end))
    await asyncio.sleep(args.warmup)
    if task.done():
        task.result()  # raise the connect error
    cpu0, mine0, busy0, t0 = {n: tree_cpu(p) for n, p in pids.items()}, sum(me.cpu_times()[:2]), machine_busy(), time.perf_counter()
    own0 = {n: own_cpu(p) for n, p in alone.items()}
    stats.measuring = True
    await asyncio.sleep(args.seconds)
    stats.measuring = False
    cpu1, mine1, busy1, t1 = {n: tree_cpu(p) for n, p in pids.items()}, sum(me.cpu_times()[:2]), machine_busy(), time.perf_counter()
    own1 = {n: own_cpu(p) for n, p in alone.items()}
    if not end.done():
        end.set_result(None)
    await task
    elapsed = t1 - t0
    done = stats.done
    out = {"label": args.label, "target": args.url or args.http, "inflight": args.inflight,
           "connections": args.connections if args.url else args.inflight, "stream": args.stream, "paced": args.paced,
           "requests": done, "errors": stats.errors, "error_samples": stats.error_samples, "seconds": round(elapsed, 4),
           "req_per_s": done / elapsed, "chunks": stats.chunks, "chunks_per_stream": stats.chunks / done if args.stream and done else None,
           **percentiles(stats.latencies), **percentiles(stats.ttfc, "ttfc_")}
    ours = mine1 - mine0
    out["client_cpu_s"] = ours
    for name in pids:
        cpu = cpu1[name] - cpu0[name]
        ours += cpu
        out[f"{name}_cpu_s"] = cpu
        out[f"{name}_cores"] = cpu / elapsed
        out[f"{name}_cpu_us_per_req"] = cpu / done * 1e6 if done else None
        if stats.chunks:
            out[f"{name}_cpu_us_per_chunk_allin"] = cpu / stats.chunks * 1e6
    for name in alone:  # already counted in its tree's watch: not added to `ours` again
        cpu = own1[name] - own0[name]
        out[f"{name}_cpu_s"] = cpu
        out[f"{name}_cpu_us_per_req"] = cpu / done * 1e6 if done else None
    out["foreign_cores"] = max(0.0, (busy1 - busy0) - ours) / elapsed
    out["loadavg"] = float(open("/proc/loadavg").read().split()[0])
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
