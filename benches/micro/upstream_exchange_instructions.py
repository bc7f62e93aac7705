"""Instructions the upstream client's usual exchange costs (issue 15 item 2), exact where time
is not.

Per exchange: an idle pooled connection taken for an owner and a request written to a real
socket (uvloop transport), the whole answer the benchmarks' upstream sends handed to the
connection's `data_received`, the waiter resolved and the connection parked idle again: what
every non-streamed request of a busy gateway does, without the rest of the gateway. Run it
under callgrind twice (two values of N) and divide the difference of the totals by the
difference of N, which cancels the interpreter's start-up and the connection's set-up:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benches/micro/upstream_exchange_instructions.py --exchanges 1000
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python benches/micro/upstream_exchange_instructions.py --exchanges 21000
    # (I refs of the second − I refs of the first) ÷ 20,000

(`python` must be the interpreter itself, not a shim that execs it, for valgrind to follow it.)
With a build before the native exchange (no `client._send`), the same steps run through the
Python methods (`_Pool.take_idle`, `Connection.send`, `data_received`, `_Pool.release`).
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvloop

from aigw.upstream import client as client_module
from aigw.upstream.client import UpstreamClient, _Pool
from aigw.upstream.connection import Connection

BODY = (
    b'{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",'
    b'"content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}'
)
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\ndate: Sun, 06 Dec 2026 13:00:00 GMT\r\n\r\n%b" % (len(BODY), BODY)
REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


async def exchanges(n: int) -> None:
    loop = asyncio.get_running_loop()
    client = UpstreamClient()
    pool = _Pool(("http", "x", 80), client)
    native = hasattr(client_module, "_send")
    conn = Connection(loop, pool, client._limits, client_module._EXCHANGE.receiver) if native else Connection(loop, pool, client._limits)  # type: ignore[call-arg]
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)  # written to, never read: 1,000s of small requests fit its buffer
    await loop.create_connection(lambda: conn, sock=ours)
    pool.conns.add(conn)
    total = loop.time() + 600
    owner = object()

    def first() -> asyncio.Future:  # the connection's first request: as the client sends it after connecting
        pool.hold(owner)
        conn.owner, conn.busy = owner, True
        waiter = loop.create_future()
        conn.send(REQUEST, waiter, False, loop.time() + 100, total, True)
        return waiter

    def one() -> None:
        if not pool.idle:
            waiter = first()
        elif native:
            _, waiter = client_module._send(pool, owner, REQUEST, False, 100.0, total, True)
        else:
            taken = pool.take_idle(owner, loop.time())
            waiter = loop.create_future()
            taken.send(REQUEST, waiter, False, loop.time() + 100, total, True)
        conn.data_received(ANSWER)
        if waiter.result().status != 200:
            raise SystemExit("the answer was not taken")

    for _ in range(n):
        one()
        if n and _ % 1000 == 999:
            try:  # keep the peer's receive buffer from filling
                while theirs.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
    await client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exchanges", type=int, default=10000)
    args = ap.parse_args()
    uvloop.run(exchanges(args.exchanges))


if __name__ == "__main__":
    main()
