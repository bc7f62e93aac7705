"""aigw-echo: the provider builds requests for its own endpoint, which echoes word by word."""

from __future__ import annotations

import importlib
import sys

import asyncio
from importlib import metadata
from pathlib import Path

import aiohttp
import orjson
import pytest
import uvloop
from aiohttp import web

from aigw import Call, ConfigError, HttpRequest, PluginContext, Provider
from aigw.testing.plugins import load_plugin_manager

aigw_echo = pytest.importorskip(
    "aigw_echo", reason="aigw-echo is not installed: run `pip install ./plugins/aigw-echo`"
)

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def run(loop: str, coro):
    """Run `coro` on a fresh loop of the named kind (tests run on both)."""
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(coro)


def context(**config) -> PluginContext:
    return PluginContext(name="echo", config=config, settings=None, data_dir=None)


def chat(text: str, *, stream: bool) -> bytes:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]
    return orjson.dumps({"model": "echo-1", "messages": messages, "stream": stream})


async def collect(body) -> bytes:
    if isinstance(body, bytes):
        return body
    return b"".join([chunk async for chunk in body])


def sse_data(raw: bytes) -> list[bytes]:
    return [event.removeprefix(b"data: ") for event in raw.split(b"\n\n") if event]


def deltas(events: list[bytes]) -> str:
    docs = [orjson.loads(e) for e in events if e != b"[DONE]"]
    return "".join(d["choices"][0]["delta"].get("content", "") for d in docs if d["choices"])


# ---- packaging ----


def test_the_distribution_declares_the_echo_entry_point():
    eps = metadata.entry_points(group="aigw", name="echo")
    assert [ep.value for ep in eps] == ["aigw_echo"]


def test_loading_the_plugin_registers_the_provider_and_its_endpoint():
    pm = load_plugin_manager(enabled=["echo"])
    assert "echo" in pm.register_providers()
    assert pm.register_routes().match("POST", "/__echo/chat/completions") is not None


# ---- the provider ----


def test_the_provider_satisfies_the_provider_protocol():
    assert isinstance(aigw_echo.EchoProvider.from_context(context()), Provider)


def test_the_default_upstream_is_the_gateways_own_echo_route():
    settings = {"server": {"host": "0.0.0.0", "port": 9000}}
    ctx = PluginContext(name="echo", config={}, settings=settings, data_dir=None)
    provider = aigw_echo.EchoProvider.from_context(ctx)
    request = provider.build_request(Call("echo", "chat/completions", b"{}"), None)
    assert request.url == "http://127.0.0.1:9000/__echo/chat/completions"


def test_the_configured_pace_travels_as_a_header_and_a_client_may_override_it():
    provider = aigw_echo.EchoProvider.from_context(context(pace_ms=25))
    configured = provider.build_request(Call("echo", "chat/completions", b"{}"), None)
    overridden = provider.build_request(
        Call("echo", "chat/completions", b"{}", headers={"x-aigw-echo-pace-ms": "5"}), None
    )
    assert ("x-aigw-echo-pace-ms", "25") in configured.headers
    assert [v for n, v in overridden.headers if n == "x-aigw-echo-pace-ms"] == ["5"]


def test_gateway_options_never_reach_the_echo_endpoint():
    provider = aigw_echo.EchoProvider.from_context(context())
    call = Call("echo", "chat/completions", b"{}", headers={"cf-aig-authorization": "Bearer gw", "cf-aig-skip-cache": "true"})
    names = [n for n, _ in provider.build_request(call, None).headers]
    assert not [n for n in names if n.startswith("cf-aig-")]


def test_a_stored_key_is_sent_as_a_bearer_token():
    provider = aigw_echo.EchoProvider("http://127.0.0.1:1/__echo")
    request = provider.build_request(Call("echo", "chat/completions", b"{}"), "sk-test")
    assert ("authorization", "Bearer sk-test") in request.headers


@pytest.mark.parametrize("pace", [-1, 10_001, "5", 1.5, True])
def test_an_out_of_range_pace_is_a_config_error_naming_the_key(pace):
    with pytest.raises(ConfigError, match="providers.echo.pace_ms"):
        aigw_echo.EchoProvider.from_context(context(pace_ms=pace))


def test_rate_limits_and_server_errors_may_be_retried_after_retry_after():
    provider = aigw_echo.EchoProvider("http://127.0.0.1:1/__echo")
    verdict = provider.classify_error(429, {"retry-after": "2"}, b"")
    assert (verdict.retryable, verdict.retry_after) == (True, 2.0)
    assert provider.classify_error(400, {}, b"").retryable is False


def test_the_provider_is_built_on_the_public_base_and_shares_its_retry_verdict():
    from aigw.providers import HttpProvider, classify_http_error

    provider = aigw_echo.EchoProvider("http://127.0.0.1:1/__echo")
    assert isinstance(provider, HttpProvider)
    for status in (408, 409, 429, 500, 529):
        assert provider.classify_error(status, {}, b"") == classify_http_error(status, {})
    # The echo's own copy had drifted: it ignored retry-after-ms and x-should-retry.
    assert provider.classify_error(429, {"retry-after-ms": "1500"}, b"").retry_after == 1.5
    assert provider.classify_error(500, {"x-should-retry": "false"}, b"").retryable is False


# ---- the endpoint ----


@pytest.mark.parametrize("loop", LOOPS)
def test_a_stream_echoes_the_last_user_message_word_by_word_then_usage_and_done(loop):
    request = HttpRequest("POST", "/__echo/chat/completions", body=chat("hello there  world", stream=True))
    response = run(loop, aigw_echo.chat_completions(request))
    events = sse_data(run(loop, collect(response.body)))
    assert ("content-type", "text/event-stream") in response.headers
    assert [orjson.loads(e)["choices"][0]["delta"].get("content") for e in events[1:4]] == ["hello", " there", "  world"]
    assert deltas(events) == "hello there  world"
    assert events[-1] == b"[DONE]"
    usage = aigw_echo.EchoProvider("x").usage_from_events(events[:1], events[-3:-1])
    assert (usage.tokens_in, usage.tokens_out) == (5, 3)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_whole_answer_carries_the_text_and_usage(loop):
    request = HttpRequest("POST", "/__echo/chat/completions", body=chat("one two", stream=False))
    response = run(loop, aigw_echo.chat_completions(request))
    doc = orjson.loads(response.body)
    assert doc["choices"][0]["message"]["content"] == "one two"
    assert doc["model"] == "echo-1"
    usage = aigw_echo.EchoProvider("x").usage_from_body(response.body)
    assert (usage.tokens_in, usage.tokens_out) == (4, 2)


def test_a_scripted_status_answers_an_openai_error_with_retry_after():
    request = HttpRequest(
        "POST", "/__echo/chat/completions",
        headers={"x-aigw-echo-status": "429", "x-aigw-echo-retry-after": "3"}, body=chat("hi", stream=False),
    )
    response = asyncio.run(aigw_echo.chat_completions(request))
    assert response.status == 429
    assert ("retry-after", "3") in response.headers
    assert orjson.loads(response.body)["error"]["type"] == "echo_scripted_error"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"messages": "hi"}'])
def test_a_body_without_a_messages_list_is_a_400(body):
    response = asyncio.run(aigw_echo.chat_completions(HttpRequest("POST", "/__echo/chat/completions", body=body)))
    assert response.status == 400
    assert "messages" in orjson.loads(response.body)["error"]["message"]


# ---- over a real socket ----


async def serve_and_call(text: str) -> tuple[list[bytes], list[bytes]]:
    """Mount the endpoint in an aiohttp server (standing in for the gateway until it lands),
    send it the request the provider builds, and return the raw chunks and the SSE events."""

    async def handle(request: web.Request) -> web.StreamResponse:
        answer = await aigw_echo.chat_completions(
            HttpRequest(request.method, request.path, headers={k.lower(): v for k, v in request.headers.items()},
                        body=await request.read())
        )
        response = web.StreamResponse(status=answer.status, headers=dict(answer.headers))
        await response.prepare(request)
        async for chunk in answer.body:
            await response.write(chunk)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/__echo/chat/completions", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        provider = aigw_echo.EchoProvider.from_context(
            PluginContext("echo", {"pace_ms": 1}, {"server": {"host": "127.0.0.1", "port": port}}, None)
        )
        upstream = provider.build_request(Call("echo", "chat/completions", chat(text, stream=True), stream=True), None)
        async with aiohttp.ClientSession() as session:
            async with session.request(upstream.method, upstream.url, headers=upstream.headers, data=upstream.body) as r:
                assert provider.framing(Call("echo", "x", b""), r.status, r.headers["content-type"]).value == "sse"
                chunks = [chunk async for chunk in r.content.iter_any()]
        return chunks, sse_data(b"".join(chunks))
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("loop", LOOPS)
def test_the_provider_reaches_its_endpoint_over_loopback_and_gets_the_stream(loop):
    chunks, events = run(loop, serve_and_call("streams stay streams"))
    assert deltas(events) == "streams stay streams"
    assert events[-1] == b"[DONE]"


# ---- the README's plugin example ----


def test_the_readme_plugin_example_is_a_working_plugin_under_30_lines(tmp_path, monkeypatch):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    source = readme.split("`aigw_llamafile.py`:\n\n```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "aigw_llamafile.py").write_text(source)
    # Not syspath_prepend: it calls pkg_resources, which kosoku shadows with a partial shim.
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    importlib.invalidate_caches()
    import aigw_llamafile

    provider = load_plugin_manager(aigw_llamafile).register_providers().create("llamafile", context())
    request = provider.build_request(Call("llamafile", "chat/completions", b"{}"), None)
    assert len([line for line in source.splitlines() if line.strip()]) < 30  # lines of code
    assert isinstance(provider, Provider)
    assert request.url == "http://127.0.0.1:8080/v1/chat/completions"
