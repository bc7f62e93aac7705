"""Malformed client input over the HTTP doors (the HTTP side of tests/api/test_malformed_corpus.py):
every case is a client mistake, so every answer is a 4xx (with the gateway's code when the
gateway answers for itself), never a 500, nothing reaches a provider that should not, and the
server logs no traceback."""

from __future__ import annotations

import asyncio
import gc
import json
import logging

import orjson
import pytest
from doors import session
from yarl import URL

OPENAI_STEP = {"provider": "openai", "endpoint": "chat/completions", "query": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}

BAD_STEP_HEADERS = {
    "name-trailing-space": {"transfer-encoding ": "chunked"},
    "name-leading-space": {" host": "evil.example"},
    "name-empty": {"": "x"},
    "name-colon": {"x-a: injected": "v"},
    "name-nul": {"x\0a": "v"},
    "name-non-ascii": {"x-caf\u00e9": "v"},
    "value-nul": {"x-a": "a\0b"},
    "value-crlf-injection": {"x-a": "a\r\nX-Injected: yes"},
    "value-del": {"x-a": "a\x7fb"},
    "value-euro": {"x-a": "\u20ac"},
    "value-null": {"x-a": None},
    "value-object": {"x-a": {"v": 1}},
    "owned-host": {"Host": "evil.example"},
    "owned-content-length": {"Content-Length": "5"},
    "owned-connection": {"Connection": "close"},
    "owned-proxy": {"Proxy-Authorization": "Basic eA=="},
    "option-max-attempts-word": {"cf-aig-max-attempts": "abc"},
    "option-cache-ttl-huge": {"cf-aig-cache-ttl": "99999999999999999999999"},
}
BAD_ENDPOINTS = {
    "dotdot": "../../x",
    "dotdot-encoded": "%2e%2e/%2E%2E/x",
    "dotdot-inside": "x/../../y",
    "backslashes": "x\\..\\y",
    "space": "chat completions",
    "nul": "chat\0completions",
    "non-ascii": "caf\u00e9",
    "bad-percent": "x%zz",
    "fragment": "chat#x",
}


def universal_cases() -> dict[str, tuple[bytes, int]]:
    """name → (Universal HTTP request body, the gateway code of its answer)."""
    cases: dict[str, tuple[bytes, int]] = {}

    def add(name: str, doc, code: int = 2010) -> None:
        cases[name] = (json.dumps(doc, ensure_ascii=False).encode() if not isinstance(doc, bytes) else doc, code)

    for name, headers in BAD_STEP_HEADERS.items():
        add(f"step header {name}", [{**OPENAI_STEP, "headers": headers}])
    for name, endpoint in BAD_ENDPOINTS.items():
        add(f"endpoint {name}", [{**OPENAI_STEP, "endpoint": endpoint}])
    add("config-attempts-zero", [{**OPENAI_STEP, "config": {"maxAttempts": 0}}])
    add("config-unknown-key", [{**OPENAI_STEP, "config": {"frobnicate": 1}}])
    add("headers-string", [{**OPENAI_STEP, "headers": "x"}])
    add("provider-number", [{**OPENAI_STEP, "provider": 5}])
    add("provider-unknown", [{**OPENAI_STEP, "provider": "nope-ai"}], 2008)
    add("byok-alias-unknown", [{**OPENAI_STEP, "headers": {"cf-aig-byok-alias": "nope"}}], 2040)
    add("array-of-junk", [OPENAI_STEP, 5])
    add("not-json", b"{not json")
    add("not-utf8", b"\xff\xfe[]")
    add("json-null", b"null")
    add("huge-number", b'[{"provider":"openai","endpoint":"x","query":{"n":1e400}}]')
    add("lone-surrogate", b'[{"provider":"openai","endpoint":"x","query":{"t":"\\ud800"}}]')
    query = '{"a":' + "[" * 200 + "]" * 200 + "}"
    add("query-depth-200", ('[{"provider":"openai","endpoint":"chat/completions","query":%s}]' % query).encode())
    add("depth-beyond-parser", b"[" * 1100 + b"]" * 1100)
    return cases


UNIVERSAL = universal_cases()

#: Provider-route requests: (method, path under the gateway, extra headers, body) → expected code
#: (None: the provider's own 4xx, relayed; a gateway code otherwise).
PROVIDER_CASES = {
    "path-dotdot": ("POST", "/openai/../../../x", {}, b"{}", None),
    "path-dotdot-encoded": ("POST", "/openai/%2e%2e/%2e%2e/x", {}, b"{}", None),
    "path-provider-dotdot": ("POST", "/../openai/chat/completions", {}, b"{}", None),
    "unknown-provider": ("POST", "/nope-ai/chat/completions", {}, b"{}", 2008),
    "option-max-attempts-word": ("POST", "/openai/chat/completions", {"cf-aig-max-attempts": "abc"}, b"{}", 2010),
    "option-skip-cache-maybe": ("POST", "/openai/chat/completions", {"cf-aig-skip-cache": "maybe"}, b"{}", 2010),
    "option-backoff-unknown": ("POST", "/openai/chat/completions", {"cf-aig-backoff": "sideways"}, b"{}", 2010),
    "option-request-timeout-negative": ("POST", "/openai/chat/completions", {"cf-aig-request-timeout": "-1"}, b"{}", 2010),
    "event-id-too-long": ("POST", "/openai/chat/completions", {"cf-aig-event-id": "e" * 300}, b"{}", 2010),
    "byok-alias-unknown": ("POST", "/openai/chat/completions", {"cf-aig-byok-alias": "nope"}, b"{}", 2040),
    "body-not-json": ("POST", "/openai/chat/completions", {"content-type": "application/json"}, b"{not json", None),
    "body-deep": ("POST", "/openai/chat/completions", {"content-type": "application/json"}, b"[" * 1100 + b"]" * 1100, None),
}


def code_of(body: bytes) -> int | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    return error[0].get("code") if isinstance(error, list) and error else None


def assert_no_traceback(caplog, capsys) -> None:
    gc.collect()
    out = capsys.readouterr()
    logged = caplog.text + out.err + out.out
    for sign in ("Traceback", "Task exception was never retrieved", "internal error"):
        assert sign not in logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_every_malformed_universal_request_is_a_4xx_with_its_code_and_no_traceback(gateway, sims, caplog, capsys):
    caplog.set_level(logging.INFO)
    wrong = []
    async with gateway() as gw, session() as http:
        for name, (body, code) in UNIVERSAL.items():
            async with http.post(gw.http_url, data=body, headers={"content-type": "application/json", **gw.headers}) as resp:
                status, answer = resp.status, await resp.read()
            if not (400 <= status < 500 and code_of(answer) == code):
                wrong.append(f"{name}: {status} {answer[:200]!r}")
        async with http.post(gw.http_url, json=[OPENAI_STEP], headers=gw.headers) as resp:
            assert resp.status == 200  # the gateway still serves
    assert wrong == []
    assert len(sims["openai"].requests) == 1
    assert_no_traceback(caplog, capsys)


@pytest.mark.parametrize("name", sorted(PROVIDER_CASES))
async def test_a_malformed_provider_route_request_is_a_4xx_and_never_a_500(gateway, sims, caplog, capsys, name):
    caplog.set_level(logging.INFO)
    method, path, headers, body, code = PROVIDER_CASES[name]
    async with gateway() as gw, session() as http:
        url = URL(gw.http_url + path, encoded=True)  # as written: no client-side dot-segment removal
        async with http.request(method, url, data=body, headers={**gw.headers, **headers}) as resp:
            status, answer = resp.status, await resp.read()
    assert 400 <= status < 500, answer
    if code is not None:
        assert code_of(answer) == code, answer
    for request in sims["openai"].requests:  # whatever went upstream stayed under the provider's base
        assert request.path.startswith("/v1/") and ".." not in request.path
    assert_no_traceback(caplog, capsys)


@pytest.mark.parametrize(
    "header_line",
    [b"x-a: a\x00b", b"x a: v", b"x-\xff: v", b": v", b"cf-aig-metadata: \x7f"],
    ids=["value-nul", "name-space", "name-non-ascii", "name-empty", "option-del"],
)
async def test_a_request_with_an_invalid_header_field_is_a_400(gateway, sims, caplog, capsys, header_line):
    caplog.set_level(logging.INFO)
    async with gateway() as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(
            b"POST /v1/acct/default/openai/chat/completions HTTP/1.1\r\nhost: x\r\n"
            + f"cf-aig-authorization: Bearer {gw.token}\r\n".encode()
            + header_line + b"\r\ncontent-length: 2\r\n\r\n{}"
        )
        status_line = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
    assert status_line.split()[1] in {b"400", b"431"}, status_line
    assert sims["openai"].requests == []
    assert_no_traceback(caplog, capsys)
