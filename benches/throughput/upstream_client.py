"""CPU per request and per streamed chunk of HTTP clients calling a fast fake OpenAI upstream:
aigw's UpstreamClient, aiohttp's ClientSession, and a minimal raw asyncio.Protocol HTTP/1.1
keep-alive client (below, the floor a Python client on this loop can reach), in the same run.

The upstream (fast_upstream.py) runs in another process pinned to core 1; this process (the
clients, one at a time) is pinned to core 0 and its own CPU time (user+sys, process_time) is
what is measured, over a fixed window after a warm-up on the same connections. Workloads and
clients are interleaved per rep (client order rotated), and every cell is the median
[min–max] over reps.

    python benches/throughput/upstream_client.py [--reps 3] [--seconds 3] [--out benches/results/upstream-client]

Workloads (C coroutines, each in a closed loop):
  ns_c1   non-stream, C=1      one small POST → 371-byte chat.completion (Content-Length)
  ns_c8   non-stream, C=8
  st_c8   paced streams, C=8   64 chat.completion.chunk events 1 ms apart, each its own HTTP
                               chunk and socket read (chunked transfer coding)
  st_b8   burst streams, C=8   the same 64 events written back to back (reads coalesce)
Per-chunk figures divide by streams × 64.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import uvloop

HERE = Path(__file__).resolve().parent
CHUNKS = 64
BODY = b'{"model":"gpt-4o-mini","max_tokens":32,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence."}]}'
STREAM_BODY = {False: BODY[:-1] + b',"stream":true}', True: BODY[:-1].replace(b"gpt-4o-mini", b"paced-gpt-4o-mini") + b',"stream":true}'}
HEADERS = [(b"content-type", b"application/json"), (b"authorization", b"Bearer sk-test")]

# scenario -> (stream, paced, concurrency)
WORKLOADS = {"ns_c1": (False, False, 1), "ns_c8": (False, False, 8), "st_c8": (True, True, 8), "st_b8": (True, False, 8)}


# ---- the minimal client: raw asyncio.Protocol, HTTP/1.1 keep-alive, one connection per worker ----


class RawConn(asyncio.Protocol):
    """Just enough HTTP/1.1: Content-Length and chunked bodies, keep-alive, no limits/timeouts."""

    def __init__(self) -> None:
        self.buf = b""
        self.waiter: asyncio.Future | None = None
        self.out: list[bytes] = []
        self.state = 0  # 0 head, 1 length body, 2 chunked, 3 done
        self.need = 0

    def connection_made(self, transport) -> None:
        self.t = transport

    def send(self, data: bytes) -> None:
        self.state, self.buf, self.out = 0, b"", []
        self.t.write(data)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if self.state == 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head = buf[:end].lower()
            buf = buf[end + 4 :]
            if b"transfer-encoding: chunked" in head:
                self.state, self.need = 2, -1
            else:
                i = head.index(b"content-length:") + 15
                j = head.find(b"\r\n", i)
                self.state, self.need = 1, int(head[i : j if j > 0 else None])
        if self.state == 1:
            if len(buf) >= self.need:
                self.out.append(buf[: self.need])
                buf, self.state = b"", 3
        else:
            while True:
                if self.need < 0:
                    j = buf.find(b"\r\n")
                    if j < 0:
                        break
                    self.need = int(buf[:j], 16)
                    buf = buf[j + 2 :]
                    if self.need == 0:
                        self.state, buf = 3, b""
                        break
                if len(buf) < self.need + 2:
                    break
                self.out.append(buf[: self.need])
                buf, self.need = buf[self.need + 2 :], -1
        self.buf = buf
        w = self.waiter
        if w is not None and not w.done() and (self.out or self.state == 3):
            w.set_result(None)

    async def chunks(self):
        """The body as it arrives (the same contract as UpstreamResponse.iter_chunks)."""
        while True:
            if self.out:
                data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
                self.out = []
                yield data
            elif self.state == 3:
                return
            else:
                self.waiter = asyncio.get_running_loop().create_future()
                await self.waiter


def raw_request(host: str, port: int, body: bytes) -> bytes:
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%d\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer sk-test\r\ncontent-length: %d\r\n\r\n%s" % (host.encode(), port, len(body), body))


async def drive_raw(host, port, stream, paced, conc, deadline_box):
    loop = asyncio.get_running_loop()
    data = raw_request(host, port, STREAM_BODY[paced] if stream else BODY)
    conns = [(await loop.create_connection(RawConn, host, port))[1] for _ in range(conc)]

    async def one(c: RawConn) -> int:
        c.send(data)
        n = 0
        async for piece in c.chunks():
            n += len(piece)
        return n

    try:
        return await closed_loop(one, conns, deadline_box)
    finally:
        for c in conns:
            c.t.close()


async def drive_aigw(host, port, stream, paced, conc, deadline_box):
    from aigw.upstream import UpstreamClient

    url = f"http://{host}:{port}/v1/chat/completions"
    body = STREAM_BODY[paced] if stream else BODY
    async with UpstreamClient() as client:

        async def one(_) -> int:
            resp = await client.request("POST", url, HEADERS, body)
            if not stream:
                return len(await resp.read())
            n = 0
            async for piece in resp.iter_chunks():
                n += len(piece)
            return n

        return await closed_loop(one, [None] * conc, deadline_box)


async def drive_aiohttp(host, port, stream, paced, conc, deadline_box):
    import aiohttp

    url = f"http://{host}:{port}/v1/chat/completions"
    body = STREAM_BODY[paced] if stream else BODY
    headers = {"content-type": "application/json", "authorization": "Bearer sk-test"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def one(_) -> int:
            async with session.post(url, data=body, headers=headers) as resp:
                if not stream:
                    return len(await resp.read())
                n = 0
                async for piece in resp.content.iter_any():
                    n += len(piece)
                return n

        return await closed_loop(one, [None] * conc, deadline_box)


CLIENTS = {"aigw": drive_aigw, "aiohttp": drive_aiohttp, "raw": drive_raw}


async def closed_loop(one, slots, box) -> dict:
    """Run `one(slot)` in a loop per slot: warm-up until box['t0'], then measure until box['t1']."""
    loop = asyncio.get_running_loop()
    stats = {"requests": 0, "bytes": 0}

    async def worker(slot):
        while loop.time() < box["t1"]:
            n = await one(slot)
            if box["measuring"]:
                stats["requests"] += 1
                stats["bytes"] += n

    async def clock():
        await asyncio.sleep(box["warmup"])
        box["cpu0"], box["w0"] = time.process_time(), time.perf_counter()
        box["measuring"] = True
        await asyncio.sleep(box["seconds"])
        box["cpu1"], box["w1"] = time.process_time(), time.perf_counter()
        box["measuring"] = False
        box["t1"] = 0.0  # workers stop after their current request

    box["t1"] = float("inf")
    await asyncio.gather(clock(), *(worker(s) for s in slots))
    return stats


def measure(client: str, workload: str, host: str, port: int, seconds: float, warmup: float) -> dict:
    stream, paced, conc = WORKLOADS[workload]
    box = {"seconds": seconds, "warmup": warmup, "measuring": False}
    stats = uvloop.run(CLIENTS[client](host, port, stream, paced, conc, box))
    cpu, wall, n = box["cpu1"] - box["cpu0"], box["w1"] - box["w0"], stats["requests"]
    row = {"client": client, "workload": workload, "requests": n, "bytes": stats["bytes"], "seconds": wall,
           "req_per_s": n / wall, "cpu_s": cpu, "cores": cpu / wall, "cpu_us_per_req": cpu / n * 1e6 if n else None}
    if stream and n:
        row["cpu_us_per_chunk"] = cpu / (n * CHUNKS) * 1e6
    return row


def fmt(vals, d=1):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    m = statistics.median(vals)
    return f"{m:,.{d}f}".replace(",", " ") if len(vals) == 1 else f"{m:,.{d}f} [{min(vals):,.{d}f}–{max(vals):,.{d}f}]".replace(",", " ")


def render(rows: list[dict], meta: str) -> str:
    by: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by.setdefault((r["client"], r["workload"]), []).append(r)
    workloads = [w for w in WORKLOADS if any(k[1] == w for k in by)]
    clients = [c for c in CLIENTS if any(k[0] == c for k in by)]
    lines = [f"# Upstream client CPU{' (SMOKE: not a measurement)' if any(r.get('smoke') for r in rows) else ''}", "", meta, "",
             "| workload | metric | " + " | ".join(clients) + " | aigw / raw (target ≤ 1.5) |", "|---|---|" + "---|" * (len(clients) + 1)]
    for w in workloads:
        stream = WORKLOADS[w][0]
        key = "cpu_us_per_chunk" if stream else "cpu_us_per_req"
        label = "CPU µs / chunk" if stream else "CPU µs / request"
        cells = [fmt([r.get(key) for r in by.get((c, w), [])], 2 if stream else 1) for c in clients]
        raw = {r["rep"]: r.get(key) for r in by.get(("raw", w), [])}
        ratio = [r[key] / raw[r["rep"]] for r in by.get(("aigw", w), []) if raw.get(r["rep"])]
        lines.append(f"| {w} | {label} | " + " | ".join(cells) + f" | {fmt(ratio, 2)} |")
        if stream:
            cells = [fmt([r.get("cpu_us_per_req") for r in by.get((c, w), [])], 0) for c in clients]
            lines.append(f"| {w} | CPU µs / 64-chunk stream | " + " | ".join(cells) + " | |")
        cells = [fmt([r.get("req_per_s") for r in by.get((c, w), [])], 0) for c in clients]
        lines.append(f"| {w} | {'streams' if stream else 'requests'}/s | " + " | ".join(cells) + " | |")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--clients", default=",".join(CLIENTS))
    ap.add_argument("--client-cpu", type=int, default=0)
    ap.add_argument("--upstream-cpu", type=int, default=1)
    ap.add_argument("--out", type=Path, help="directory for results.jsonl and summary.md")
    ap.add_argument("--smoke", action="store_true", help="label the output as a pipeline check")
    args = ap.parse_args()
    port = free_port()
    up = subprocess.Popen(["taskset", "-c", str(args.upstream_cpu), sys.executable, str(HERE / "fast_upstream.py"), "--port", str(port),
                           "--chunks", str(CHUNKS), "--paced-delay-ms", "1"], stdout=subprocess.DEVNULL)
    os.sched_setaffinity(0, {args.client_cpu})
    rows: list[dict] = []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        clients = args.clients.split(",")
        for rep in range(args.reps):
            for w in args.workloads.split(","):
                k = rep % len(clients)
                for c in clients[k:] + clients[:k]:
                    row = {"rep": rep, "smoke": args.smoke, **measure(c, w, "127.0.0.1", port, args.seconds, args.warmup)}
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        up.terminate()
        up.wait()
    import aiohttp

    from aigw import __version__ as aigw_version

    meta = (f"{args.reps} rep(s) × {args.seconds:g} s, uvloop {uvloop.__version__}, aiohttp {aiohttp.__version__}, aigw {aigw_version}; "
            f"clients on core {args.client_cpu}, fast_upstream.py on core {args.upstream_cpu}; median [min–max]. "
            "raw = the ~70-line asyncio.Protocol client in this file (no limits, no timeouts, no pool).")
    text = render(rows, meta)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "results.jsonl", "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        (args.out / "summary.md").write_text(text)


if __name__ == "__main__":
    main()
