"""The gateway's usual HTTP request is made natively from the server's call to the pipeline
(`GatewayApp.http`, `_codec.UsualDoor`, rust/src/python/usual_door.rs): a provider route to a
gateway entered without a token, naming no option, its route cached by the router. It must
reach the upstream, answer and log exactly as `GatewayApp._dispatch` → `HttpDoors.provider`
→ `_answer` do; every other request takes that Python path.

Each case runs a gateway in front of a real HTTP server with `HttpDoors.provider` counted (the
native door never calls it), and compares what the upstream saw, the bytes the client got and
the log record with the Python path's (the app's `http` set back to `_dispatch`)."""

from __future__ import annotations

import gc
import weakref

import orjson
import pytest
from doors import compare_doors, exchange

from aigw import _codec, gateway as gateway_module
from aigw.api.compat_routes import CompatDoors
from aigw.api.http_routes import HttpDoors
from aigw.api.gateway_context import FrontDoor, GatewayContext
from aigw.api.router import Route, RouteMatch, Router
from aigw.compat.translation import Passthrough
from aigw.protocol.http11 import Headers, Request
from aigw.server.app import StreamedResponse
from aigw.testing.gateway import running_gateway

USUAL_CLASSES = (Request, Headers, Router, RouteMatch, Route, FrontDoor, GatewayContext, HttpDoors)
ANSWER = orjson.dumps({"id": "c1", "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "stream": False})
OPEN = {"open": {"authentication": False}}


@pytest.fixture
def provider_calls(monkeypatch):
    """Calls of `HttpDoors.provider` (the Python door) by gateways built from now on."""
    calls = []
    python_provider = HttpDoors.provider

    async def counted(self, *args):
        calls.append(1)
        return await python_provider(self, *args)

    monkeypatch.setattr(HttpDoors, "provider", counted)
    return calls


def request_bytes(gw, gateway: str = "open", path: str = "/openai/chat/completions", body: bytes = CHAT, extra: str = "") -> bytes:
    return (
        f"POST /v1/{gw.account_id}/{gateway}{path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer sk-client\r\nx-trace-me: 1\r\n{extra}content-length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body


async def both_doors(fixed_upstream, provider_calls, request_for, *, warm: bool = True, **config):
    """`compare_doors` with the OpenAI provider at `fixed_upstream`, `HttpDoors.provider`'s
    calls counted, the gateway `open` (no token) unless `config` says otherwise."""
    config.setdefault("gateways", OPEN)
    return await compare_doors({"openai": fixed_upstream}, fixed_upstream, provider_calls, request_for, warm=warm, **config)


async def test_the_usual_request_is_made_natively_as_the_python_door_makes_it(fixed_upstream, provider_calls):
    native, python = await both_doors(fixed_upstream, provider_calls, request_bytes)
    assert (native[0], python[0]) == (0, 1)
    assert native[1:] == python[1:]
    method, path, forwarded, body = native[1]
    assert (method, path, body) == ("POST", "/v1/chat/completions", CHAT)
    assert forwarded["authorization"] == "Bearer sk-client" and forwarded["x-trace-me"] == "1"
    assert native[2].startswith(b"HTTP/1.1 200 OK\r\n") and native[2].endswith(ANSWER)
    (record,) = native[3]
    assert (record["provider"], record["model"], record["request_type"], record["tokens_out"]) == ("openai", "gpt-4o-mini", "provider", 5)


async def test_a_query_and_a_stream_the_body_asks_for_are_read_as_python_reads_them(fixed_upstream, provider_calls):
    def request(gw):
        return request_bytes(gw, path="/openai/chat/completions?api-version=2", body=CHAT.replace(b'"stream":false', b'"stream":true'))

    native, python = await both_doors(fixed_upstream, provider_calls, request)
    assert (native[0], python[0]) == (0, 1)
    assert native[1:] == python[1:]
    assert native[1][1] == "/v1/chat/completions?api-version=2"
    assert native[3][0]["stream"] is True


@pytest.mark.parametrize(
    "case",
    [
        pytest.param({"extra": "cf-aig-event-id: mine\r\n"}, id="an option"),
        pytest.param({"path": "/openai/chat%2Fcompletions"}, id="a percent-encoded path"),
        pytest.param({"gateway": "default", "extra": "cf-aig-event-id: mine\r\n", "token": "good"}, id="a token and an option"),
    ],
)
async def test_any_other_request_takes_the_python_door(fixed_upstream, provider_calls, case):
    def request(gw):
        extra = case.get("extra", "")
        token = gw.headers["cf-aig-authorization"] if case.get("token") == "good" else f"Bearer {case['token']}" if "token" in case else None
        if token:
            extra += f"cf-aig-authorization: {token}\r\n"
        return request_bytes(gw, gateway=case.get("gateway", "open"), path=case.get("path", "/openai/chat/completions"), extra=extra)

    native, python = await both_doors(fixed_upstream, provider_calls, request)
    assert (native[0], python[0]) == (1, 1)
    assert native[1:] == python[1:]


async def test_a_request_with_a_token_the_backend_accepts_at_once_is_made_natively(fixed_upstream, provider_calls, monkeypatch):
    entered = []
    python_enter_now = FrontDoor.enter_now
    monkeypatch.setattr(FrontDoor, "enter_now", lambda self, *args: (entered.append(args), python_enter_now(self, *args))[1])

    def request(gw):  # `default` requires a token; the built-in backend answers without an await
        return request_bytes(gw, gateway="default", extra=f"cf-aig-authorization: {gw.headers['cf-aig-authorization']}\r\n")

    native, python = await both_doors(fixed_upstream, provider_calls, request)  # the warm-up goes through _dispatch
    assert (native[0], python[0]) == (0, 1)
    assert entered == []  # the door read `_locked`, which _dispatch's entry filled, and asked the backend
    assert native[1:] == python[1:]
    assert "cf-aig-authorization" not in native[1][2]  # the gateway's token is not forwarded
    (record,) = native[3]
    assert record["gateway"] == "default" and record["principal"]


@pytest.mark.parametrize("token", [None, "aigw_refused"], ids=["no token", "a refused token"])
async def test_a_request_without_a_valid_token_gets_the_python_door_s_refusal(fixed_upstream, provider_calls, token):
    def request(gw):
        return request_bytes(gw, gateway="default", extra=f"cf-aig-authorization: Bearer {token}\r\n" if token else "")

    native, python = await both_doors(fixed_upstream, provider_calls, request)
    assert native == python
    assert native[1] is None and native[3] == []  # nothing sent upstream, nothing logged
    assert native[2].startswith(b"HTTP/1.1 401 ")


async def test_a_token_gateway_whose_backend_must_be_awaited_takes_the_python_door(fixed_upstream, provider_calls):
    async with running_gateway({"openai": fixed_upstream}, record_requests=False) as gw:
        gw.gateway.server.app.door._auth_now = None  # as for a backend without `authenticate_now`
        extra = f"cf-aig-authorization: {gw.headers['cf-aig-authorization']}\r\n"
        for _ in range(2):
            response = await exchange(gw.port, request_bytes(gw, gateway="default", extra=extra))
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(provider_calls) == 2


async def test_a_path_the_router_has_not_cached_takes_the_python_door_once(fixed_upstream, provider_calls):
    native, _ = await both_doors(fixed_upstream, provider_calls, request_bytes, warm=False)
    assert native[0] == 1  # the first resolve of the path caches its route
    native, _ = await both_doors(fixed_upstream, provider_calls, request_bytes)
    assert native[0] == 0


async def test_another_route_the_router_cached_gets_its_handler_without_dispatch(fixed_upstream, monkeypatch):
    resolved, entered = [], []
    python_resolve, python_enter = Router.resolve, FrontDoor.enter_without_token
    monkeypatch.setattr(Router, "resolve", lambda self, *args, **kw: (resolved.append(args), python_resolve(self, *args, **kw))[1])
    monkeypatch.setattr(FrontDoor, "enter_without_token", lambda self, *args: (entered.append(args), python_enter(self, *args))[1])
    steps = orjson.dumps([{"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": orjson.loads(CHAT)}])
    async with running_gateway({"openai": fixed_upstream}, record_requests=False, gateways=OPEN) as gw:
        await exchange(gw.port, request_bytes(gw, path="", body=steps))  # resolved once, then cached
        resolved.clear()
        entered.clear()
        response = await exchange(gw.port, request_bytes(gw, path="", body=steps))
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\ncf-aig-step: 0\r\n" in response
    assert (resolved, entered) == ([], [])  # the door entered the gateway and called the handler


async def test_another_route_the_door_declines_is_not_resolved_again(fixed_upstream, monkeypatch):
    resolved = []
    python_resolve = Router.resolve
    monkeypatch.setattr(Router, "resolve", lambda self, *args, **kw: (resolved.append(args), python_resolve(self, *args, **kw))[1])
    steps = orjson.dumps([{"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": orjson.loads(CHAT)}])
    async with running_gateway({"openai": fixed_upstream}, record_requests=False) as gw:  # `default` needs a token
        extra = "cf-aig-authorization: Bearer aigw_refused\r\n"
        await exchange(gw.port, request_bytes(gw, gateway="default", path="", body=steps, extra=extra))
        resolved.clear()
        response = await exchange(gw.port, request_bytes(gw, gateway="default", path="", body=steps, extra=extra))
    assert response.startswith(b"HTTP/1.1 401 ")
    assert resolved == []  # the door handed `_dispatch` the match it found


async def test_another_route_with_a_token_the_backend_accepts_at_once_gets_its_handler_without_dispatch(fixed_upstream, monkeypatch):
    awaited, entered = [], []
    python_authenticate, python_enter_now = FrontDoor.authenticate, FrontDoor.enter_now
    monkeypatch.setattr(FrontDoor, "authenticate", lambda self, *args, **kw: (awaited.append(args), python_authenticate(self, *args, **kw))[1])
    monkeypatch.setattr(FrontDoor, "enter_now", lambda self, *args: (entered.append(args), python_enter_now(self, *args))[1])
    steps = orjson.dumps([{"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": orjson.loads(CHAT)}])
    async with running_gateway({"openai": fixed_upstream}, record_requests=False) as gw:  # `default` needs a token
        extra = f"cf-aig-authorization: {gw.headers['cf-aig-authorization']}\r\n"
        await exchange(gw.port, request_bytes(gw, gateway="default", path="", body=steps, extra=extra))
        awaited.clear()
        entered.clear()
        response = await exchange(gw.port, request_bytes(gw, gateway="default", path="", body=steps, extra=extra))
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\ncf-aig-step: 0\r\n" in response
    assert (entered, awaited) == ([], [])  # entered by the door as `_locked` keeps the gateway, no await


async def test_a_gateway_that_keeps_a_record_list_takes_the_python_door(fixed_upstream, provider_calls):
    async with running_gateway({"openai": fixed_upstream}, gateways=OPEN) as gw:  # records kept
        for _ in range(2):
            response = await exchange(gw.port, request_bytes(gw))
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert len(gw.records) == 2
    assert len(provider_calls) == 2


async def test_code_that_awaits_the_apps_answer_gets_the_door_s_streamed_response(fixed_upstream):
    async with running_gateway({"openai": fixed_upstream}, record_requests=False, gateways=OPEN) as gw:
        app = gw.gateway.server.app
        await exchange(gw.port, request_bytes(gw))  # the router caches the route
        request = Request("POST", f"/v1/{gw.account_id}/open/openai/chat/completions", "1.1", Headers([(b"content-type", b"application/json")]), body=CHAT)
        answer = app.http(request)
        assert isinstance(answer, StreamedResponse)  # made by the native door, at once
        assert await answer is answer


async def test_the_door_does_not_keep_its_app_alive(fixed_upstream):
    async with running_gateway({"openai": fixed_upstream}, record_requests=False, gateways=OPEN) as gw:
        app = gw.gateway.app()
        await exchange(gw.port, request_bytes(gw))
    ref = weakref.ref(app)
    del app
    gc.collect()
    assert ref() is None


def test_the_door_refuses_objects_of_other_classes():
    door = gateway_module._USUAL_DOOR
    with pytest.raises(TypeError, match="not the classes it reads"):
        door.function(object(), object(), object(), object(), object(), object(), ())
    classes = (HttpDoors,) * 8
    with pytest.raises(ValueError, match="is not a slot"):
        _codec.UsualDoor(classes, None, None, dict, None, None, None, None, {}, None, None, (CompatDoors, Passthrough), {}, None)
    with pytest.raises(ValueError, match="is not a slot"):
        _codec.UsualDoor(USUAL_CLASSES, None, None, dict, None, None, None, None, {}, None, None, (HttpDoors, HttpDoors), {}, None)
