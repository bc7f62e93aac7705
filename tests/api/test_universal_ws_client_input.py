"""Client input over the Universal WebSocket API (issue 7): a bad header, endpoint, nesting or
eventId is the client's mistake, answered 400/2010 for its eventId, logged with that status and
never sent upstream; no credential reaches an answer or a log; and neither a bad message nor a
bug while handling one touches the connection or the requests running beside it."""

from __future__ import annotations

import asyncio
import gc
import logging

import orjson
import pytest
from universal_ws_helpers import answer, answers, chunk_text, connect, create, recv, step

SECRET = "sk-live-SECRET0123456789abcdef"


def error_of(msg: dict) -> dict:
    return msg["response"]["errors"][0]


async def refused(ws, request: dict) -> dict:
    """Send `request` and return its (only) answer, checked to be a 400/2010 for its eventId."""
    await ws.send(create(request))
    (msg,) = await answer(ws)
    assert msg["type"] == "universal.created" and msg["metadata"]["eventId"] == request["eventId"], msg
    assert msg["metadata"]["status"] == 400 and error_of(msg)["code"] == 2010, msg
    return msg


BAD_HEADERS = {
    "name-trailing-space": {"transfer-encoding ": "chunked"},
    "name-trailing-tab": {"content-length\t": "5"},
    "name-leading-space": {" host": "evil.example"},
    "empty-name": {"": "x"},
    "colon-in-name": {"x-a: injected": "v"},
    "nul-in-name": {"x-\0a": "v"},
    "non-ascii-name": {"x-caf\u00e9": "v"},
    "nul-in-value": {"x-a": "a\0b"},
    "crlf-in-value": {"x-a": "a\r\nX-Injected: yes"},
    "non-latin1-value": {"x-a": "\u20ac"},
    "line-separator-value": {"x-a": "v\u2028"},
    "owned-host": {"Host": "evil.example"},
    "owned-content-length": {"CONTENT-LENGTH": "5"},
    "owned-transfer-encoding": {"Transfer-Encoding": "chunked"},
    "owned-connection": {"connection": "close"},
    "owned-expect": {"Expect": "100-continue"},
    "owned-proxy": {"Proxy-Authorization": "Basic eA=="},
}


@pytest.mark.one_loop
@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
async def test_a_bad_header_is_refused_with_2010_and_never_reaches_the_upstream(gateway, sims, headers):
    async with gateway() as gw, connect(gw) as ws:
        msg = await refused(ws, step("openai", headers=headers, event_id="h"))
        assert "header" in error_of(msg)["message"]
        await ws.send(create(step("openai", "still here", event_id="after")))
        (ok,) = await answer(ws)
    assert ok["metadata"]["status"] == 200
    assert len(sims["openai"].requests) == 1  # only the valid request went out


async def test_a_bad_header_is_logged_with_its_400(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await refused(ws, step("openai", headers={"x-a": "\u20ac"}, event_id="logged"))
    (record,) = gw.records
    assert (record.event_id, record.status, record.success) == ("logged", 400, False)
    assert "'x-a'" in record.error


async def test_a_provider_key_in_a_bad_header_reaches_no_answer_log_or_stderr(gateway, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    async with gateway() as gw, connect(gw) as ws:
        msg = await refused(ws, step("openai", headers={"Authorization": f"Bearer {SECRET}\u2028"}, event_id="key"))
        assert "'Authorization'" in error_of(msg)["message"]
        assert SECRET not in orjson.dumps(msg).decode()
    gc.collect()  # an unretrieved task exception would be reported now
    out = capsys.readouterr()
    assert SECRET not in caplog.text + out.out + out.err
    assert SECRET not in repr(gw.records)
    assert SECRET.encode() not in gw.log_db.read_bytes()


def scoped(sims) -> dict:
    """A custom provider whose base URL has a path: /scoped/v1 on the openai simulator."""
    return {"custom-scoped": {"base_url": sims["openai"].url + "/scoped/v1", "key": sims["openai"].key}}


@pytest.mark.one_loop
@pytest.mark.parametrize("provider", ["openai", "groq", "anthropic", "google-ai-studio", "workers-ai", "custom-scoped"])
async def test_dot_segments_in_an_endpoint_are_refused_for_every_provider(gateway, sims, provider):
    # Every provider builds its URL its own way; groq's simulator sits under /openai/v1.
    async with gateway(providers=scoped(sims)) as gw, connect(gw) as ws:
        msg = await refused(ws, {"eventId": "dots", "provider": provider, "endpoint": "../../x", "query": {"model": "m"}})
    assert "endpoint" in error_of(msg)["message"]
    assert all(not sim.requests for sim in sims.values())
    assert gw.records[0].status == 400


@pytest.mark.one_loop
@pytest.mark.parametrize("endpoint", ["%2e%2e/%2E%2E/x", "x/../../y", "x\\..\\..\\y", "chat/../../../admin", "x/%2E./y"])
async def test_an_endpoint_that_could_leave_the_base_path_is_refused_in_any_spelling(gateway, sims, endpoint):
    custom = scoped(sims)
    provider = "custom-scoped"
    async with gateway(providers=custom) as gw, connect(gw) as ws:
        request = {"eventId": "dots", "provider": provider, "endpoint": endpoint, "query": {"model": "m"}}
        msg = await refused(ws, request)
    assert "endpoint" in error_of(msg)["message"]
    assert all(not sim.requests for sim in sims.values())
    assert gw.records[0].status == 400


@pytest.mark.one_loop
@pytest.mark.parametrize("endpoint", ["chat completions", "chat\0completions", "chat\x7f", "caf\u00e9/completions"])
async def test_an_endpoint_with_spaces_controls_or_non_ascii_is_a_client_error(gateway, sims, endpoint):
    async with gateway() as gw, connect(gw) as ws:
        msg = await refused(ws, {"eventId": "ep", "provider": "openai", "endpoint": endpoint, "query": {}})
    assert "endpoint has" in error_of(msg)["message"]
    assert not sims["openai"].requests and gw.records[0].status == 400


async def test_a_valid_endpoint_on_a_provider_with_a_base_path_stays_under_it(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("groq", event_id="ok")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200
    assert sims["groq"].requests[0].raw_path == "/openai/v1/chat/completions"


async def test_the_upstream_gets_the_query_bytes_the_client_sent(gateway, sims):
    query = b'{"model": "gpt-4o-mini",  "temperature": 1.0, "messages": [{"role": "user", "content": "caf\\u00e9"}]}'
    message = b'{"type":"universal.create","request":{"eventId":"raw","provider":"openai","endpoint":"chat/completions","query":' + query + b"}}"
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(message.decode())
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200
    assert sims["openai"].requests[0].body == query


async def test_a_too_deeply_nested_query_is_refused_while_a_sibling_stream_completes(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 5, 0.05
    deep = '{"a":' + "[" * 255 + "]" * 255 + "}"
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "a b c d e", stream=True, event_id="sibling")))
        await ws.send(
            '{"type":"universal.create","request":{"eventId":"deep","provider":"openai","endpoint":"chat/completions","query":%s}}' % deep
        )
        got = await answers(ws, 2)
    (refusal,) = got["deep"]
    assert refusal["metadata"]["status"] == 400 and "deeper than" in error_of(refusal)["message"]
    stream = got["sibling"]
    assert stream[-1]["type"] == "universal.done" and "error" not in stream[-1]["metadata"]
    assert "".join(chunk_text(m.get("response")) for m in stream).split() == ["a", "b", "c", "d", "e"]


async def test_an_integer_event_id_is_refused_with_2010(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send('{"type":"universal.create","request":{"eventId":123456789012345678901234567890,"provider":"openai","endpoint":"chat/completions","query":{}}}')
        msg = await recv(ws)
    assert msg["type"] == "universal.error" and msg["error"]["code"] == 2010 and msg["metadata"]["status"] == 400
    assert "eventId must be a non-empty string" in msg["error"]["message"]
    assert not sims["openai"].requests


async def test_a_bug_while_handling_one_message_answers_500_for_it_and_spares_the_rest(gateway, sims, monkeypatch, caplog):
    from aigw.api import universal_ws
    from aigw.api.universal_ws import UniversalSession

    start = UniversalSession._start

    def buggy_start(self, ws, event_id, steps):
        if event_id == "boom":
            raise RuntimeError(f"a bug holding client data {SECRET}")
        start(self, ws, event_id, steps)

    monkeypatch.setattr(UniversalSession, "_start", buggy_start)
    # Messages then go through handle_message and its _start (the native on_message takes a
    # usual create only while the module's _usual_start is its own).
    real_usual_start = universal_ws._usual_start
    monkeypatch.setattr(universal_ws, "_usual_start", lambda *args: real_usual_start(*args))
    sims["openai"].chunks, sims["openai"].chunk_delay = 5, 0.05
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "a b c d e", stream=True, event_id="sibling")))
        await ws.send(create(step("openai", event_id="boom")))
        got = await answers(ws, 2)
        await ws.send(create(step("openai", "after", event_id="after")))
        (after,) = await answer(ws)
    (bug,) = got["boom"]
    assert bug["metadata"]["status"] == 500 and error_of(bug)["message"] == "internal error"
    assert got["sibling"][-1]["type"] == "universal.done" and "error" not in got["sibling"][-1]["metadata"]
    assert after["metadata"]["status"] == 200
    assert "RuntimeError at" in caplog.text and SECRET not in caplog.text


async def test_a_bug_inside_a_running_request_is_logged_without_its_message(gateway, monkeypatch, caplog, capsys):
    import aigw.api.universal_ws as universal_ws

    async def buggy_run(*args, **kwargs):
        raise UnicodeEncodeError("latin-1", f"Bearer {SECRET}\u2028", 30, 31, "ordinal not in range(256)")

    monkeypatch.setattr(universal_ws, "run", buggy_run)
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", event_id="bug")))
        (msg,) = await answer(ws)
        await asyncio.sleep(0)
    gc.collect()
    out = capsys.readouterr()
    assert msg["metadata"]["status"] == 500 and msg["metadata"]["eventId"] == "bug"
    assert "UnicodeEncodeError at" in caplog.text
    logged = caplog.text + out.err + out.out
    assert SECRET not in logged and "Task exception was never retrieved" not in logged
