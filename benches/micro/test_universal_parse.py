"""A Universal client message to the upstream body it carries: `parse_client_message` plus the
step's `body`, with the query cut out in Rust (the gateway's path) and decoded whole and
re-encoded (the path before, still taken by an unusual message), side by side.

    python -m pytest benches/micro/test_universal_parse.py --benchmark-columns=median,ops
"""

from __future__ import annotations

import orjson
import pytest

from aigw.api import universal_messages
from aigw.api.universal_messages import parse_client_message


def _message(turns: int) -> bytes:
    """A chat request with `turns` earlier messages of ~400 bytes (0: the load generator's body)."""
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "Tell me more about the history of the printing press in Europe. " * 6}
        for i in range(turns)
    ]
    query = {"model": "gpt-4o-mini", "max_tokens": 32, "messages": [{"role": "system", "content": "You are terse."}, *history, {"role": "user", "content": "Say hi."}]}
    return orjson.dumps({"type": "universal.create", "request": {"eventId": "e1", "provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": query}})


SIZES = {"small": _message(0), "16 KB": _message(40)}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("path", ["cut in Rust", "decoded whole"])
def test_message_to_upstream_body(benchmark, monkeypatch, size, path):
    payload = SIZES[size]
    if path == "decoded whole":
        monkeypatch.setattr(universal_messages._codec, "cut_queries", lambda payload, depth: None)

    def parse() -> bytes:
        return parse_client_message(payload).steps[0].body

    assert orjson.loads(parse()) == orjson.loads(payload)["request"]["query"]
    benchmark.extra_info.update(impl=f"aigw ({path})", op="parse message + body", size=size, frames=1, payload_bytes=len(payload))
    benchmark(parse)
