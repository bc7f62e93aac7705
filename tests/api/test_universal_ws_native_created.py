"""The Universal WebSocket's usual whole answer is written natively (`_codec.WsWholeDeliver`,
rust/src/python/ws_whole.rs, called by the pipeline's `WholeAnswer`) byte for byte as
`WebSocketSink.deliver` then `WebSocket.send_text` write it; they take every other answer.

Each case sends the same request twice over one connection to a gateway in front of a real
HTTP server: as the gateway runs, and with the session's native start declined and its sink
of a subclass (which the native delivery declines), so the Python path answers. The texts
received must be the same but for the request's log id."""

from __future__ import annotations

import re

import orjson
import pytest
from universal_ws_helpers import connect, create

from aigw import _codec, pipeline
from aigw.api import universal_ws
from aigw.api.universal_ws import WebSocketSink
from aigw.protocol.websocket import OPEN, WebSocketConnection
from aigw.server.websocket import WebSocket
from aigw.testing.gateway import running_gateway

WITH_USAGE = orjson.dumps({"id": "c1", "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
WITHOUT_USAGE = orjson.dumps({"id": "c2", "choices": []})




class PythonSink(WebSocketSink):
    """A WebSocketSink the native delivery does not take (not exactly its class)."""

    __slots__ = ()


def step(event_id: str) -> dict:
    query = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
    return {"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": query, "eventId": event_id}


async def both_paths(monkeypatch, up) -> tuple[str, str, int, int]:
    """(native text, Python text, WebSocketSink.deliver calls by each) for one request."""
    calls = []
    python_deliver = WebSocketSink.deliver
    monkeypatch.setattr(WebSocketSink, "deliver", lambda self, *args: (calls.append(1), python_deliver(self, *args))[1])
    async with running_gateway({"openai": up}, record_requests=False) as gw, connect(gw) as ws:
        await ws.send(create(step("warm")))  # the pipeline's memos learn the media type
        await ws.recv()
        calls.clear()
        await ws.send(create(step("e1")))
        native = await ws.recv()
        native_calls = len(calls)
        monkeypatch.setattr(universal_ws, "_usual_start", lambda *args: False)
        monkeypatch.setattr(universal_ws, "_make_sink", PythonSink)
        await ws.send(create(step("e1")))
        python = await ws.recv()
    return native, python, native_calls, len(calls) - native_calls


def without_log_id(text: str) -> str:
    return re.sub(r'"logId":"[^"]*"', '"logId":"X"', text)


@pytest.mark.parametrize("body", [WITH_USAGE, WITHOUT_USAGE], ids=["with usage", "without usage"])
async def test_a_usual_answer_is_written_natively_as_python_writes_it(monkeypatch, fixed_upstream, body):
    fixed_upstream.body = body
    native, python, native_calls, python_calls = await both_paths(monkeypatch, fixed_upstream)
    assert (native_calls, python_calls) == (0, 1)
    assert without_log_id(native) == without_log_id(python)
    message = orjson.loads(native)
    assert message["type"] == "universal.created" and message["metadata"]["eventId"] == "e1"
    assert orjson.dumps(message["response"]) == body


def test_the_native_delivery_refuses_classes_without_the_slots_it_uses():
    with pytest.raises(ValueError, match="is not a slot"):
        _codec.WsWholeDeliver((WebSocketSink, WebSocketSink, WebSocketConnection), OPEN)
    _codec.WsWholeDeliver((WebSocketSink, WebSocket, WebSocketConnection), OPEN)


def test_the_pipeline_takes_native_deliveries_only():
    with pytest.raises(TypeError):
        pipeline.deliver_natively_to(object())
    again = _codec.WsWholeDeliver((WebSocketSink, WebSocket, WebSocketConnection), OPEN)
    assert pipeline.deliver_natively_to(again) is False  # universal_ws registered its sink at import
