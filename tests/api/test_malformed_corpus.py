"""A corpus of malformed client input, walked against a real gateway (issue 7, item 3).

Every entry is a client mistake, so every answer is a 4xx with the gateway's code for it (2010
unless the entry says otherwise) carrying the eventId when the input had a readable one; none
is a 500; the connection stays usable; and the server's log output holds no traceback.

The corpus is data: a `Malformed` names the surface it is sent over. Only the WebSocket surface
exists today; an HTTP surface adds its sender to `SENDERS` and its entries to `CORPUS`.
"""

from __future__ import annotations

import gc
import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import orjson
import pytest
from universal_ws_helpers import answer, connect, create, recv, step

pytestmark = pytest.mark.one_loop


@dataclass(frozen=True)
class Malformed:
    """One malformed input and how it must be answered."""

    name: str
    payload: str  # what goes on the wire (a WebSocket text message)
    event_id: str | None  # the eventId the answer carries; None: the input has no readable one
    code: int = 2010
    surface: str = "websocket"


@dataclass(frozen=True)
class Answered:
    """An answer, reduced to what the corpus checks, whatever the surface."""

    status: int
    code: int | None
    event_id: str | None


def message(request: Any) -> str:
    # The standard library's encoder: orjson refuses integers beyond 64 bits, which a client may send.
    return json.dumps({"type": "universal.create", "request": request}, ensure_ascii=False)


def with_step(event_id: str, **fields: Any) -> str:
    """A valid openai step with `fields` replaced (a value of `...` removes the field)."""
    request = {**step("openai", event_id=event_id), **fields}
    return message({k: v for k, v in request.items() if v is not ...})


def nested_query(event_id: str, levels: int) -> str:
    """A create whose query nests `levels` deep (the message itself 2 more), built as text."""
    query = '{"a":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"
    return with_step(event_id, query={}).replace('"query": {}', f'"query": {query}')


def corpus() -> list[Malformed]:
    cases: list[Malformed] = []

    def add(name: str, payload: str, event_id: str | None, code: int = 2010) -> None:
        cases.append(Malformed(name, payload, event_id, code))

    # -- headers: names, values, types, gateway-owned names --
    bad_headers = {
        "name-trailing-space": {"transfer-encoding ": "chunked"},
        "name-trailing-tab": {"content-length\t": "5"},
        "name-leading-space": {" host": "evil.example"},
        "name-empty": {"": "x"},
        "name-colon": {"x-a: injected": "v"},
        "name-nul": {"x\0a": "v"},
        "name-non-ascii": {"x-caf\u00e9": "v"},
        "name-emoji": {"x-\U0001f600": "v"},
        "value-nul": {"x-a": "a\0b"},
        "value-cr": {"x-a": "a\rb"},
        "value-lf": {"x-a": "a\nb"},
        "value-crlf-injection": {"x-a": "a\r\nX-Injected: yes"},
        "value-del": {"x-a": "a\x7fb"},
        "value-escape": {"x-a": "a\x1bb"},
        "value-euro": {"x-a": "\u20ac"},
        "value-line-separator": {"Authorization": "Bearer sk-x\u2028"},
        "value-emoji": {"x-a": "\U0001f600"},
        "value-null": {"x-a": None},
        "value-array": {"x-a": ["v"]},
        "value-object": {"x-a": {"v": 1}},
        "owned-host": {"Host": "evil.example"},
        "owned-content-length": {"Content-Length": "5"},
        "owned-transfer-encoding": {"TRANSFER-ENCODING": "chunked"},
        "owned-connection": {"Connection": "close"},
        "owned-upgrade": {"Upgrade": "h2c"},
        "owned-te": {"TE": "trailers"},
        "owned-trailer": {"Trailer": "x"},
        "owned-keep-alive": {"Keep-Alive": "timeout=5"},
        "owned-expect": {"Expect": "100-continue"},
        "owned-proxy": {"Proxy-Authorization": "Basic eA=="},
    }
    for name, headers in bad_headers.items():
        add(f"header {name}", with_step(name, headers=headers), name)
    for name, headers in {"headers-string": "x", "headers-array": [], "headers-number": 0}.items():
        add(name, with_step(name, headers=headers), name)
    add("authorization-object", with_step("auth-obj", authorization={"a": 1}), "auth-obj")

    # -- gateway options with bad values, as headers and as step config --
    options = {
        "max-attempts-word": {"cf-aig-max-attempts": "abc"},
        "max-attempts-huge": {"cf-aig-max-attempts": "1e400"},
        "cache-ttl-huge": {"cf-aig-cache-ttl": "99999999999999999999999"},
        "cache-ttl-too-short": {"cf-aig-cache-ttl": "10"},
        "skip-cache-maybe": {"cf-aig-skip-cache": "maybe"},
        "backoff-unknown": {"cf-aig-backoff": "sideways"},
        "cache-key-empty": {"cf-aig-cache-key": ""},
        "request-timeout-negative": {"cf-aig-request-timeout": "-1"},
    }
    for name, headers in options.items():
        add(f"option {name}", with_step(name, headers=headers), name)
    add("byok-alias-unknown", with_step("alias", headers={"cf-aig-byok-alias": "nope"}), "alias", code=2040)
    configs = {
        "config-string": "x",
        "config-array": [],
        "config-unknown-key": {"frobnicate": 1},
        "config-attempts-string": {"maxAttempts": "many"},
        "config-attempts-bool": {"maxAttempts": True},
        "config-attempts-zero": {"maxAttempts": 0},
        "config-attempts-huge": {"maxAttempts": 1e308},
        "config-attempts-bigint": {"maxAttempts": 123456789012345678901234567890},
        "config-attempts-array": {"maxAttempts": [1]},
        "config-delay-negative": {"retryDelay": -1},
        "config-backoff-number": {"backoff": 5},
        "config-timeout-object": {"requestTimeout": {}},
    }
    for name, config in configs.items():
        add(name, with_step(name, config=config), name)

    # -- endpoints --
    endpoints = {
        "dotdot": "../../x",
        "dotdot-encoded": "%2e%2e/%2E%2E/x",
        "dotdot-inside": "x/../../y",
        "dotdot-double-encoded": "%252e%252e/x",
        "backslashes": "x\\..\\y",
        "space": "chat completions",
        "nul": "chat\0completions",
        "del": "chat\x7f",
        "non-ascii": "caf\u00e9",
        "bad-percent": "x%zz",
        "fragment": "chat#x",
    }
    for name, endpoint in endpoints.items():
        add(f"endpoint {name}", with_step(name, endpoint=endpoint), name)
    for name, endpoint in {"endpoint-number": 5, "endpoint-null": None, "endpoint-object": {}, "endpoint-missing": ...}.items():
        add(name, with_step(name, endpoint=endpoint), name)

    # -- provider --
    for name, provider in {"provider-empty": "", "provider-number": 5, "provider-array": [], "provider-missing": ...}.items():
        add(name, with_step(name, provider=provider), name)
    add("provider-unknown", with_step("unknown", provider="nope-ai"), "unknown", code=2008)

    # -- query: types and depth --
    for name, query in {"query-string": "hi", "query-number": 5, "query-array": [1], "query-bool": True}.items():
        add(name, with_step(name, query=query), name)
    for levels in (129, 255, 1000):
        add(f"query-depth-{levels}", nested_query(f"depth-{levels}", levels), f"depth-{levels}")
    add("message-depth-beyond-parser", '{"type":"universal.create","request":' + "[" * 1100 + "]" * 1100 + "}", None)

    # -- eventId --
    for name, raw in {"int": "1", "bigint": "123456789012345678901234567890", "float": "1.5", "bool": "true",
                      "array": "[]", "object": "{}", "empty": '""', "too-long": orjson.dumps("e" * 300).decode()}.items():
        add(f"eventId {name}", '{"type":"universal.create","request":{"eventId":%s,"provider":"openai","endpoint":"chat/completions","query":{}}}' % raw, None)

    # -- message shape --
    add("not-json", "{not json", None)
    add("huge-number", '{"type":"universal.create","request":{"eventId":"n","provider":"openai","endpoint":"x","query":{"n":1e400}}}', None)
    add("lone-surrogate", '{"type":"universal.create","request":{"eventId":"s","provider":"openai","endpoint":"x","query":{"t":"\\ud800"}}}', None)
    add("json-array", "[]", None)
    add("json-string", '"universal.create"', None)
    add("json-null", "null", None)
    add("type-missing", '{"request":{"eventId":"no-type"}}', "no-type")
    add("type-number", '{"type":5,"request":{"eventId":"type-num"}}', "type-num")
    add("type-unknown", '{"type":"universal.frobnicate","request":{"eventId":"frob"}}', "frob")
    add("request-missing", '{"type":"universal.create","eventId":"no-request"}', "no-request")
    add("request-string", '{"type":"universal.create","eventId":"req-str","request":"x"}', "req-str")
    add("request-empty-array", '{"type":"universal.create","eventId":"req-empty","request":[]}', "req-empty")
    add("request-array-of-junk", message([step("openai", event_id="junk"), 5]), "junk")
    add("cancel-without-event-id", '{"type":"universal.cancel"}', None)
    add("cancel-not-in-flight", '{"type":"universal.cancel","eventId":"ghost"}', "ghost")
    return cases


CORPUS = corpus()


def names_are_unique() -> bool:
    return len({c.name for c in CORPUS}) == len(CORPUS)


def reduce_ws_answer(msg: dict) -> Answered:
    """A `universal.error`, or a `universal.created` with a gateway error body (anything else,
    such as a relayed provider answer, has no gateway code)."""
    meta = msg.get("metadata", {})
    if msg.get("type") == "universal.error":
        error = msg.get("error", {})
    else:
        response = msg.get("response")
        errors = response.get("errors") if isinstance(response, dict) else None
        error = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return Answered(meta.get("status"), error.get("code"), meta.get("eventId"))


async def send_over_websocket(gw, cases: list[Malformed]) -> list[Answered]:
    """Send each case in turn on one connection, read its one answer, then prove the connection
    still serves a valid request."""
    answered = []
    async with connect(gw) as ws:
        for case in cases:
            await ws.send(case.payload)
            msg = await recv(ws)
            answered.append(reduce_ws_answer(msg))
        await ws.send(create(step("openai", "still usable", event_id="after-corpus")))
        (ok,) = await answer(ws)
        assert ok["metadata"]["status"] == 200, "the connection no longer serves requests after the corpus"
    return answered


SENDERS: dict[str, Callable[[Any, list[Malformed]], Awaitable[list[Answered]]]] = {"websocket": send_over_websocket}


def test_the_corpus_names_each_case_once():
    assert names_are_unique()


@pytest.mark.parametrize("surface", sorted(SENDERS))
async def test_every_malformed_input_is_a_client_error_and_leaves_no_traceback(gateway, sims, surface, caplog, capsys):
    caplog.set_level(logging.INFO)
    cases = [c for c in CORPUS if c.surface == surface]
    async with gateway() as gw:
        answered = await SENDERS[surface](gw, cases)
    gc.collect()  # an unretrieved task exception is reported when its task is collected
    wrong = [
        f"{case.name}: got status {got.status} code {got.code} eventId {got.event_id!r}"
        for case, got in zip(cases, answered)
        if not (400 <= (got.status or 0) < 500 and got.code == case.code and got.event_id == case.event_id)
    ]
    assert wrong == []
    out = capsys.readouterr()
    logged = caplog.text + out.err + out.out
    for sign in ("Traceback", "Task exception was never retrieved", "internal error", "on_message failed"):
        assert sign not in logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(sims["openai"].requests) == 1  # only the final, valid request went upstream
    logged_statuses = {r.event_id: r.status for r in gw.records}
    assert all(400 <= status < 500 for event_id, status in logged_statuses.items() if event_id != "after-corpus")
