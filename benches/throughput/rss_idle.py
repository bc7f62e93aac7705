"""RSS per idle WebSocket: N connections to a server (handshake + one 64 B echo each), then
(server RSS now - RSS before) / N. Raw sockets, no client library.

    python benches/throughput/rss_idle.py --cmd "aigw echo --no-deflate --loop uvloop --port {port}"
"""

import argparse
import asyncio
import base64
import os
import shlex
import socket
import subprocess
import sys
import time


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def one(port: int, sem: asyncio.Semaphore, conns: list) -> None:
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        w.write((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        await r.readuntil(b"\r\n\r\n")
        payload = os.urandom(64)
        w.write(b"\x82\xc0\x00\x00\x00\x00" + payload)  # masked with a zero key
        got = await r.readexactly(2 + 64)
        assert got[2:] == payload, got[:2]
        conns.append((r, w))


async def main(a) -> None:
    port = a.port
    cmd = a.cmd.format(port=port)
    proc = subprocess.Popen(shlex.split(cmd), stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        await asyncio.sleep(0.5)
        before = rss_kib(proc.pid)
        conns: list = []
        sem = asyncio.Semaphore(50)
        await asyncio.gather(*(one(port, sem, conns) for _ in range(a.conns)))
        await asyncio.sleep(1.0)
        after = rss_kib(proc.pid)
        print(f"{a.label}: conns={len(conns)} rss0={before} KiB rss={after} KiB "
              f"per_conn={(after - before) / len(conns):.2f} KiB", flush=True)
        for _, w in conns:
            w.close()
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--cmd", required=True)
    p.add_argument("--port", type=int, default=18761)
    p.add_argument("--conns", type=int, default=1000)
    p.add_argument("--label", default="server")
    asyncio.run(main(p.parse_args()))
