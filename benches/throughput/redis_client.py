"""CPU per Redis command: aigw-redis's pipelined client against redis-py's asyncio client.

Starts a real redis-server (aigw.testing.servers), then for each client and concurrency runs N
GETs (misses) on uvloop and prints CPU µs of this process per command (redis-server's own CPU
is not counted: it is the same for both). Needs `pip install ./plugins/aigw-redis redis`.

    python benches/throughput/redis_client.py [--commands 20000] [--concurrency 1,8,64]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

from aigw.testing.servers import redis_server


async def measure(execute, n: int, concurrency: int) -> float:
    async def worker(count: int) -> None:
        for i in range(count):
            await execute("GET", f"bench:{i}")

    await asyncio.gather(*(worker(100) for _ in range(concurrency)))  # warm: connections open
    t0 = time.process_time()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    return (time.process_time() - t0) / (n // concurrency * concurrency) * 1e6


async def main(url: str, args) -> None:
    import redis.asyncio as aioredis
    from aigw_redis.client import RedisClient

    ours = RedisClient(url, timeout=1.0)
    theirs = aioredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, retry_on_timeout=False)
    print("| in flight | aigw-redis client µs/command | redis-py µs/command | ratio |")
    print("|---|---|---|---|")
    for c in (int(x) for x in args.concurrency.split(",")):
        a = await measure(ours.execute, args.commands, c)
        b = await measure(theirs.execute_command, args.commands, c)
        print(f"| {c} | {a:.1f} | {b:.1f} | {b / a:.1f}× |", flush=True)
    await ours.aclose()
    await theirs.aclose()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", type=int, default=20000)
    ap.add_argument("--concurrency", default="1,8,64")
    args = ap.parse_args()
    with redis_server() as server:
        uvloop.run(main(server.url, args))
