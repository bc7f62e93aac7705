"""The /compat chat doors' usual pass-through is made natively by the gateway's door
(`_codec.UsualDoor`, rust/src/python/usual_compat.rs): a plain `provider/model` whose provider
speaks the front door's own schema, named before, no option. It must reach the upstream,
answer and log exactly as `CompatDoors._handle` → `_answer` do; every other /compat request
takes that Python path.

Each case runs a gateway in front of a real HTTP server with `CompatDoors._handle` counted (the
native door never calls it) and compares what the upstream saw, the bytes the client got and
the log record with the Python path's (the app's `http` set back to `_dispatch`)."""

from __future__ import annotations

import orjson
import pytest
from doors import compare_doors, exchange

from aigw import _codec
from aigw.api.compat_routes import CompatDoors
from aigw.testing.gateway import running_gateway

OPEN = {"open": {"authentication": False}}
CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
MESSAGES = {"model": "anthropic/claude-3-5-haiku", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def handle_calls(monkeypatch):
    """Calls of `CompatDoors._handle` (the Python door)."""
    calls = []
    python_handle = CompatDoors._handle

    def counted(self, *args):
        calls.append(1)
        return python_handle(self, *args)

    monkeypatch.setattr(CompatDoors, "_handle", counted)
    return calls


def compat_request(path: str, doc: dict, *, gateway: str = "open", extra: str = ""):
    """A function of the running gateway: the bytes of one /compat POST of `doc`."""
    body = orjson.dumps(doc)

    def request(gw) -> bytes:
        return (
            f"POST /v1/{gw.account_id}/{gateway}/compat/{path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            f"authorization: Bearer sk-client\r\n{extra}content-length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body

    return request


async def both(fixed_upstream, handle_calls, request_for, **config):
    config.setdefault("gateways", OPEN)
    sims = {"openai": fixed_upstream, "anthropic": fixed_upstream}
    return await compare_doors(sims, fixed_upstream, handle_calls, request_for, **config)


async def test_an_openai_pass_through_is_made_natively_as_the_python_door_makes_it(fixed_upstream, handle_calls):
    native, python = await both(fixed_upstream, handle_calls, compat_request("chat/completions", CHAT))
    assert (native[0], python[0]) == (0, 1)
    assert native[1:] == python[1:]
    method, path, forwarded, body = native[1]
    assert (method, path) == ("POST", "/v1/chat/completions")
    assert orjson.loads(body)["model"] == "gpt-4o-mini"  # the name spliced in, the rest as sent
    assert forwarded.get("authorization") != "Bearer sk-client"  # the client's key is not forwarded
    assert b"\r\ncf-aig-provider: openai\r\n" in native[2] and b"\r\ncf-aig-model: gpt-4o-mini\r\n" in native[2]
    (record,) = native[3]
    assert (record["request_type"], record["provider"], record["model"], record["tokens_out"]) == ("compat", "openai", "gpt-4o-mini", 5)


async def test_an_anthropic_pass_through_is_made_natively_as_the_python_door_makes_it(fixed_upstream, handle_calls):
    native, python = await both(fixed_upstream, handle_calls, compat_request("v1/messages", MESSAGES))
    assert (native[0], python[0]) == (0, 1)
    assert native[1:] == python[1:]
    assert orjson.loads(native[1][3])["model"] == "claude-3-5-haiku"
    assert native[3][0]["provider"] == "anthropic"


async def test_a_streamed_pass_through_asks_the_upstream_as_the_python_door_asks(fixed_upstream, handle_calls):
    native, python = await both(fixed_upstream, handle_calls, compat_request("chat/completions", {**CHAT, "stream": True}))
    assert (native[0], python[0]) == (0, 1)
    assert native[1:] == python[1:]
    assert orjson.loads(native[1][3])["stream"] is True and native[3][0]["stream"] is True


async def test_a_pass_through_with_a_token_is_made_natively_with_its_principal(fixed_upstream, handle_calls):
    def request(gw):  # `default` requires a token; the built-in backend answers without an await
        return compat_request("chat/completions", CHAT, gateway="default", extra=f"cf-aig-authorization: {gw.headers['cf-aig-authorization']}\r\n")(gw)

    native, python = await both(fixed_upstream, handle_calls, request)
    assert (native[0], python[0]) == (0, 1)
    assert native[1:] == python[1:]
    assert native[3][0]["principal"]


@pytest.mark.parametrize(
    "path, doc, extra",
    [
        pytest.param("chat/completions", CHAT, "cf-aig-cache-ttl: 60\r\n", id="an option"),
        pytest.param("chat/completions", {**CHAT, "model": "anthropic/claude-3-5-haiku", "max_tokens": 16}, "", id="a translated target"),
        pytest.param("chat/completions", {**CHAT, "model": "nope/some-model"}, "", id="an unknown provider"),
        pytest.param("chat/completions", {**CHAT, "model": 7}, "", id="a model that is not a string"),
        pytest.param("embeddings", {"model": "openai/text-embedding-3-small", "input": "hi"}, "", id="embeddings"),
    ],
)
async def test_any_other_compat_request_takes_the_python_door(fixed_upstream, handle_calls, path, doc, extra):
    native, python = await both(fixed_upstream, handle_calls, compat_request(path, doc, extra=extra))
    assert (native[0], python[0]) == (1, 1)
    assert native[1:] == python[1:]


async def test_a_name_not_resolved_before_takes_the_python_door_once(fixed_upstream, handle_calls):
    native, _ = await both(fixed_upstream, handle_calls, compat_request("chat/completions", CHAT), warm=False)
    assert native[0] == 1  # `_handle` resolves the name and remembers it
    native, _ = await both(fixed_upstream, handle_calls, compat_request("chat/completions", CHAT))
    assert native[0] == 0


async def test_doors_that_keep_a_record_list_take_the_python_door(fixed_upstream, handle_calls):
    async with running_gateway({"openai": fixed_upstream}, gateways=OPEN) as gw:  # records kept
        for _ in range(2):
            response = await exchange(gw.port, compat_request("chat/completions", CHAT)(gw))
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert len(gw.records) == 2
    assert len(handle_calls) == 2


async def test_a_request_the_door_read_and_declined_hands_its_read_to_handle(fixed_upstream, monkeypatch):
    handed = []
    python_handle = CompatDoors._handle

    def recorded(self, front, request, ctx, *lone):
        handed.append(lone)
        return python_handle(self, front, request, ctx, *lone)

    monkeypatch.setattr(CompatDoors, "_handle", recorded)
    translated = {**CHAT, "model": "anthropic/claude-3-5-haiku", "max_tokens": 16}
    async with running_gateway({"openai": fixed_upstream, "anthropic": fixed_upstream}, record_requests=False, gateways=OPEN) as gw:
        for doc, extra in ((translated, ""), (translated, ""), (CHAT, "cf-aig-cache-ttl: 60\r\n")):
            response = await exchange(gw.port, compat_request("chat/completions", doc, extra=extra)(gw))
            assert response.startswith(b"HTTP/1.1 ")
    # The first request's route was not cached yet (`_dispatch` called the handler); then the
    # door read each body once and handed `_handle` what `lone_model` reads.
    assert handed == [(), (_codec.lone_model(orjson.dumps(translated)),), (_codec.lone_model(orjson.dumps(CHAT)),)]
