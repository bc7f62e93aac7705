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
"""

import os

if os.environ.get("AIGW_FLOOR") == "1":
    import time

    from aigw.api import http_routes, universal_ws
    from aigw.pipeline import _make_record
    from aigw.request_model import make_answer

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

    def floor_run(rt, gw, req, sink):
        """The request's coroutine, as `pipeline.run` answers it (a plain function: the opcode
        tracer counts one call of it per request)."""
        return _exchange(rt, gw, req, sink)

    async def _exchange(rt, gw, req, sink):
        """The request's upstream exchange and answer, and nothing else (see the module)."""
        step = req.steps[0]
        url, headers = _upstream(rt, step)
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
