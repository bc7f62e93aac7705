"""The floor under the request path: `aigw serve` with the pipeline swapped for the least a
request can run in Python (issue 15, item 2: how much a native pipeline could win at most).

Imported at start-up (this directory's sitecustomize, or the opcode tracer's) when AIGW_FLOOR=1;
a no-op otherwise.
It replaces `run` in the Universal WebSocket session and the HTTP doors with `floor_run`: the
first step's upstream request sent through the gateway's own client (its URL and headers made
once per provider and endpoint), the answer read whole and delivered through the surface's own
sink, and a log record made and handed to the observers (the metrics count requests by it,
which is how instructions.py divides). No options, no plan, no retries, fallbacks, cache, rate
limit, usage or logging: whatever the server, the sinks, the upstream client and asyncio cost
is left, and nothing else. Only for the benchmarks' plain, non-streamed requests.

    AIGW_FLOOR=1 PYTHONPATH=benches/throughput/floor_pipeline:python python -m aigw serve ...
    AIGW_FLOOR=1 python benches/throughput/profile_gateway.py --opcodes ...   # its bytecodes

With AIGW_FLOOR=min the upstream exchange itself is the least Python can do too, instead of
the gateway's client: a bare protocol per connection (the request written whole, the answer
taken whole by the same Rust call the client uses, a future resolved), kept on a plain list;
no pool accounting, timers, retries or owner shares. Plain HTTP only. What the client costs
beyond that is what a leaner Python client could win; the rest only a native one.
"""

import os

if os.environ.get("AIGW_FLOOR") in ("1", "min"):
    import asyncio
    import time
    from urllib.parse import urlsplit

    from aigw import _codec

    from aigw.api import http_routes, universal_ws
    from aigw.pipeline import _make_record
    from aigw.request_model import make_answer
    from aigw.upstream.response import Headers, whole_response

    _upstreams: dict = {}

    def _upstream(rt, step):
        """The URL and headers of `step`'s provider and endpoint, made once (the client's own
        auth header when it sent one, else the stored key)."""
        got = _upstreams.get((step.provider, step.endpoint))
        if got is None:
            provider = rt.providers[step.provider]
            auth = next((v for k, v in (step.headers or {}).items() if k.lower() == provider.auth_header), None)
            if auth is None:
                auth = f"{provider.auth_scheme}{rt.keys.lookup(step.provider, None)}"
            url = provider.base_url.rstrip("/") + "/" + step.endpoint
            got = _upstreams[(step.provider, step.endpoint)] = (url, [(provider.auth_header, auth), ("content-type", "application/json")])
        return got

    class _BareConnection(asyncio.Protocol):
        """One upstream connection, as little as a whole answer needs (AIGW_FLOOR=min)."""

        def __init__(self, idle: list) -> None:
            self.idle, self.transport, self.waiter, self.buf = idle, None, None, b""

        def connection_made(self, transport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.buf += data
            parsed = _codec.take_whole_response(self.buf, 65536, 0, True, whole_response, Headers, 1 << 20, 1 << 26)
            if parsed is not None and len(parsed) == 3:  # the answer, whole
                self.buf, waiter, self.waiter = b"", self.waiter, None
                if waiter is not None and not waiter.done():  # else its request was cancelled
                    waiter.set_result(parsed[0])
                self.idle.append(self)
            elif parsed is not None:
                raise RuntimeError("the floor's bare connection takes whole Content-Length answers only")

        def connection_lost(self, exc) -> None:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(ConnectionError("upstream closed"))
            if self in self.idle:
                self.idle.remove(self)

    _bare: dict = {}  # url -> (host, port, target, Host value, idle bare connections)

    async def _bare_request(url: str, headers, body: bytes):
        """`client.request`'s answer for a plain-HTTP POST, through a bare connection."""
        known = _bare.get(url)
        if known is None:
            parts = urlsplit(url)
            known = _bare[url] = (parts.hostname, parts.port, (parts.path or "/").encode(), parts.netloc.encode(), [])
        host, port, target, host_value, idle = known
        loop = asyncio.get_running_loop()
        if idle:
            conn = idle.pop()
        else:
            _, conn = await loop.create_connection(lambda: _BareConnection(idle), host, port)
        conn.waiter = waiter = loop.create_future()
        conn.transport.write(_codec.request_message("POST", target, host_value, headers, body))
        return await waiter

    def close_bare() -> None:
        """Close every idle bare connection (a test's loop ends with its connections)."""
        for *_, idle in _bare.values():
            for conn in list(idle):
                conn.transport.close()
            idle.clear()

    _minimal = os.environ.get("AIGW_FLOOR") == "min"

    def floor_run(rt, gw, req, sink):
        """The request's coroutine, as `pipeline.run` answers it (a plain function: the opcode
        tracer counts one call of it per request)."""
        return _exchange(rt, gw, req, sink)

    async def _exchange(rt, gw, req, sink):
        """The request's upstream exchange and answer, and nothing else (see the module)."""
        step = req.steps[0]
        url, headers = _upstream(rt, step)
        if _minimal:
            resp = await _bare_request(url, headers, step.body)
        else:
            resp = await rt.client.request("POST", url, headers, step.body, owner=req.owner)
        body = resp.read_now()
        if body is None:
            body = await resp.read()
        record = _make_record(req.log_id, time.time(), gw.name, req.request_type, req.event_id, step.provider, step.model, step.endpoint)
        record.status, record.success = resp.status, resp.status < 400
        for observer in rt.observers:
            observer.observe(record)
        sink.deliver(make_answer(req.event_id, req.log_id, 0, resp.status, "application/json", "MISS", None, resp.headers), body)
        return record

    universal_ws.run = http_routes.run = floor_run
