"""The HTTP doors' usual whole answer is written to the client natively
(`_codec.HttpWholeDeliver`, rust/src/python/http_whole.rs, called by the pipeline's
`WholeAnswer`) byte for byte as `HttpSink.deliver` then `ResponseWriter.send_whole` write it;
they take every other answer.

Each case sends the same raw request twice to a gateway in front of a real HTTP server: as the
gateway runs, and with the request's sink of a subclass (which the native code declines), so
the Python path answers. The bytes on the wire must be the same but for the request's ids."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from doors import Records, exchange, without_ids

from aigw import _codec
from aigw.api import compat_routes, http_routes
from aigw.api.http_sink import HttpSink, deliver_natively
from aigw.protocol.http11 import REASONS
from aigw.server.http import HttpConnection
from aigw.server.http_response import ENDED, NEW, ResponseWriter
from aigw.slots_maker import slot_writer
from aigw.testing.gateway import running_gateway

ANSWER = orjson.dumps({"id": "c1", "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]})


class PythonSink(HttpSink):
    """An HttpSink the native code does not take (not exactly its class)."""

    __slots__ = ()


def python_sink(response, step_header):
    return PythonSink(response, step_header=step_header)


def request_bytes(gw, path: str, body: bytes = CHAT, extra: str = "") -> bytes:
    token = gw.headers["cf-aig-authorization"]
    return (
        f"POST /v1/{gw.account_id}/{gw.gateway_name}{path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
        f"cf-aig-authorization: {token}\r\n{extra}content-length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body


async def both_paths(monkeypatch, up, path: str = "/openai/chat/completions", body: bytes = CHAT, extra: str = ""):
    """(native response, Python response, HttpSink.deliver calls by each) for one request."""
    calls = 0
    python_deliver = HttpSink.deliver

    def counted(self, *args):
        nonlocal calls
        calls += 1
        return python_deliver(self, *args)

    monkeypatch.setattr(HttpSink, "deliver", counted)
    async with running_gateway({"openai": up}, record_requests=False) as gw:
        # The pipeline's memos learn a media type on the Python path: the first answer of one
        # is never native (nor, then, are the upstream's connections all idle and warm).
        await exchange(gw.port, request_bytes(gw, path, body, extra))
        calls = 0
        native = await exchange(gw.port, request_bytes(gw, path, body, extra))
        native_calls, calls = calls, 0
        with monkeypatch.context() as m:
            m.setattr(http_routes, "plain_http_sink", python_sink)
            python = await exchange(gw.port, request_bytes(gw, path, body, extra))
    return native, python, native_calls, calls


async def test_a_usual_answer_is_written_natively_as_python_writes_it(monkeypatch, fixed_upstream):
    native, python, native_calls, python_calls = await both_paths(monkeypatch, fixed_upstream)
    assert (native_calls, python_calls) == (0, 1)
    assert without_ids(native) == without_ids(python)
    assert native.startswith(b"HTTP/1.1 200 OK\r\n") and native.endswith(ANSWER)
    assert b"\r\ncf-aig-cache-status: MISS\r\n" in native and b"cf-aig-step" not in native


async def test_the_record_of_an_answer_written_natively_keeps_its_body_and_usage(monkeypatch, fixed_upstream):
    calls = []
    monkeypatch.setattr(HttpSink, "deliver", lambda self, *args: calls.append(args))
    records = Records()
    async with running_gateway({"openai": fixed_upstream}, record_requests=False) as gw:
        gw.gateway.add_observer(records)
        await exchange(gw.port, request_bytes(gw, "/openai/chat/completions"))  # the memos learn the media type
        calls.clear()
        response = await exchange(gw.port, request_bytes(gw, "/openai/chat/completions"))
        await asyncio.sleep(0.05)  # the record reaches the observers after the answer
    assert calls == [] and response.endswith(ANSWER)
    record = records.records[-1]
    assert (record.success, record.status, record.response_body, record.tokens_in, record.tokens_out) == (True, 200, ANSWER, 3, 5)


async def test_the_fields_of_the_upstream_hop_and_its_cf_aig_fields_are_not_relayed(monkeypatch, fixed_upstream):
    fixed_upstream.headers += [("x-request-id", "req-1"), ("cf-aig-step", "9"), ("Keep-Alive", "timeout=5"), ("X-Mixed-Case", "Kept")]
    native, python, native_calls, _ = await both_paths(monkeypatch, fixed_upstream)
    assert native_calls == 0
    assert without_ids(native) == without_ids(python)
    assert b"\r\nx-request-id: req-1\r\n" in native and b"\r\nx-mixed-case: Kept\r\n" in native  # names as the parser gives them
    assert b"cf-aig-step" not in native and b"keep-alive" not in native.lower()


async def test_the_universal_endpoint_says_which_step_answered(monkeypatch, fixed_upstream):
    steps = orjson.dumps([{"provider": "openai", "endpoint": "chat/completions", "headers": {"content-type": "application/json"}, "query": orjson.loads(CHAT)}])
    native, python, native_calls, python_calls = await both_paths(monkeypatch, fixed_upstream, path="", body=steps)
    assert (native_calls, python_calls) == (0, 1)
    assert without_ids(native) == without_ids(python)
    assert b"\r\ncf-aig-step: 0\r\n" in native


async def test_a_client_that_asks_to_close_gets_connection_close(monkeypatch, fixed_upstream):
    native, python, native_calls, _ = await both_paths(monkeypatch, fixed_upstream, extra="connection: close\r\n")
    assert native_calls == 0
    assert without_ids(native) == without_ids(python)
    assert b"\r\nconnection: close\r\n" in native


async def test_an_http_10_client_gets_connection_close(monkeypatch, fixed_upstream):
    calls = []
    monkeypatch.setattr(HttpSink, "deliver", lambda self, *args: calls.append(args))
    async with running_gateway({"openai": fixed_upstream}, record_requests=False) as gw:
        request = request_bytes(gw, "/openai/chat/completions").replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)
        await exchange(gw.port, request)  # the memos learn the media type (see both_paths)
        calls.clear()
        response = await exchange(gw.port, request)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nconnection: close\r\n" in response
    assert response.endswith(ANSWER) and calls == []


@pytest.mark.parametrize(
    "case",
    [
        pytest.param({"headers": [("content-type", "application/json"), ("x-note", "caf\xe9")]}, id="a field outside ASCII"),
        pytest.param({"body": b'{"pad":"' + b"x" * 70000 + b'"}'}, id="a body of 64 KiB or more"),
        pytest.param({"extra": "cf-aig-event-id: caf\xe9\r\n"}, id="an event id outside ASCII"),
    ],
)
async def test_any_other_answer_is_left_to_the_python_path(monkeypatch, fixed_upstream, case):
    fixed_upstream.headers = case.get("headers", fixed_upstream.headers)
    fixed_upstream.body = case.get("body", fixed_upstream.body)
    native, python, native_calls, python_calls = await both_paths(monkeypatch, fixed_upstream, extra=case.get("extra", ""))
    assert (native_calls, python_calls) == (1, 1)
    assert without_ids(native) == without_ids(python)
    assert native.startswith(b"HTTP/1.1 200 OK\r\n")


def test_the_native_delivery_refuses_classes_without_the_slots_it_uses():
    with pytest.raises(ValueError, match="is not a slot"):
        _codec.HttpWholeDeliver((HttpSink, HttpSink, HttpConnection), REASONS, NEW, ENDED)
    _codec.HttpWholeDeliver((HttpSink, ResponseWriter, HttpConnection), REASONS, NEW, ENDED)


def test_a_sink_class_is_registered_once_and_the_first_registration_stays():
    class Registered(HttpSink):
        __slots__ = ()

    assert deliver_natively(Registered) is True
    assert deliver_natively(Registered) is False
    assert deliver_natively(HttpSink) is False  # http_sink registered it at import


def test_a_sink_class_that_answers_its_own_way_is_refused():
    class OwnHeaders(HttpSink):
        __slots__ = ()

        def gateway_headers(self, answer):
            return [("x-own", "1")]

    with pytest.raises(TypeError, match="answers in its own way"):
        deliver_natively(OwnHeaders)


class PythonPassthrough(compat_routes._PassthroughSink):
    """A /compat pass-through sink the native code does not take."""

    __slots__ = ()


async def test_a_compat_pass_through_answer_is_written_natively_with_its_extra_headers(monkeypatch, fixed_upstream):
    body = orjson.dumps({**orjson.loads(CHAT), "model": "openai/gpt-4o-mini"})
    python_sink = slot_writer(PythonPassthrough, ("response", "front", "extra_headers"), {"step_header": False})
    calls = []
    python_deliver = HttpSink.deliver
    monkeypatch.setattr(HttpSink, "deliver", lambda self, *args: (calls.append(1), python_deliver(self, *args))[1])
    async with running_gateway({"openai": fixed_upstream}, record_requests=False) as gw:
        request = request_bytes(gw, "/compat/chat/completions", body)
        await exchange(gw.port, request)  # the memos learn the media type (see both_paths)
        calls.clear()
        native = await exchange(gw.port, request)
        native_calls = len(calls)
        monkeypatch.setattr(compat_routes, "_passthrough_sink", python_sink)
        python = await exchange(gw.port, request)
    assert (native_calls, len(calls)) == (0, 1)
    assert without_ids(native) == without_ids(python)
    assert b"\r\ncf-aig-provider: openai\r\ncf-aig-model: gpt-4o-mini\r\n" in native
