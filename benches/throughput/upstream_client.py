"""CPU per small request: aigw's UpstreamClient vs aiohttp's client against a raw uvloop upstream
running in a child process (so only the client's CPU is measured in this process).

    python benches/throughput/upstream_client.py [requests] [concurrency]
"""

import asyncio
import multiprocessing
import sys
import time

import uvloop

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n" b'{"id":"x","object":"chat"}\n'


class Upstream(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")
        if n:
            # bodies are tiny and arrive with their head in these runs
            self.buf = self.buf[self.buf.rindex(b"\r\n\r\n") + 4 :]
            self.t.write(RESPONSE * n)


def serve(port_q):
    async def main():
        server = await asyncio.get_running_loop().create_server(Upstream, "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    uvloop.run(main())


BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'


async def run_aigw(url, n, conc):
    from aigw.upstream import UpstreamClient

    async with UpstreamClient() as client:
        headers = [(b"content-type", b"application/json"), (b"authorization", b"Bearer sk-test")]

        async def worker(k):
            for _ in range(k):
                resp = await client.request("POST", url, headers, BODY)
                await resp.read()

        await worker(50)
        return await timed(worker, n, conc)


async def run_aiohttp(url, n, conc):
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        headers = {"content-type": "application/json", "authorization": "Bearer sk-test"}

        async def worker(k):
            for _ in range(k):
                async with session.post(url, data=BODY, headers=headers) as resp:
                    await resp.read()

        await worker(50)
        return await timed(worker, n, conc)


async def timed(worker, n, conc):
    c0, w0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    c1, w1 = time.process_time(), time.perf_counter()
    return (n // conc * conc) / (w1 - w0), (c1 - c0) / (n // conc * conc) * 1e6


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=serve, args=(q,), daemon=True)
    p.start()
    url = f"http://127.0.0.1:{q.get()}/v1/chat/completions"
    try:
        for name, fn in (("aigw UpstreamClient", run_aigw), ("aiohttp ClientSession", run_aiohttp)):
            for loop_name, runner in (("uvloop", uvloop.run), ("asyncio", asyncio.run)):
                rps, cpu = runner(fn(url, n, conc))
                print(f"{name:22} {loop_name:8} {rps:9.0f} req/s  {cpu:6.1f} µs CPU/request  (n={n}, concurrency={conc})")
    finally:
        p.terminate()


if __name__ == "__main__":
    main()
