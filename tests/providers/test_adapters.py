"""Provider adapters map Calls to upstream requests and read usage and errors (no network)."""

from types import MappingProxyType

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigw.builtins.providers.anthropic import AnthropicProvider
from aigw.providers import forwardable_headers, framing_for, join_url, parse_retry_after
from aigw.builtins.providers.google import GoogleAIStudioProvider
from aigw.builtins.providers.openai import OpenAIProvider, compatible_provider
from aigw.builtins.providers.workers_ai import WorkersAIProvider
from aigw.types import Call, Framing, Usage


def call(provider, endpoint, headers=None, body=b'{"model":"m"}', query=""):
    return Call(provider=provider, endpoint=endpoint, body=body, headers=headers or {}, query=query)


@pytest.mark.parametrize("endpoint", ["chat/completions", "v1/chat/completions", "/chat/completions"])
def test_openai_accepts_paths_with_and_without_v1(endpoint):
    req = OpenAIProvider().build_request(call("openai", endpoint), None)
    assert req.url == "https://api.openai.com/v1/chat/completions"


def test_query_string_is_passed_on():
    assert join_url("https://x/v1", "models", "a=1&b=2") == "https://x/v1/models?a=1&b=2"


def test_gateway_options_and_hop_by_hop_headers_are_not_forwarded():
    headers = {
        "authorization": "Bearer sk-client",
        "cf-aig-cache-ttl": "60",
        "cf-aig-authorization": "Bearer gw",
        "cf-skip-cache": "true",
        "host": "gateway",
        "content-length": "10",
        "openai-organization": "org",
    }
    assert dict(forwardable_headers(headers)) == {"authorization": "Bearer sk-client", "openai-organization": "org"}


def test_a_dict_is_filtered_natively_as_any_other_mapping_is_in_python():
    headers = {
        "x-first": "1",
        "cf-aig-metadata": "{}",
        "proxy-authorization": "Basic a",
        "sec-websocket-key": "k",
        "accept-encoding": "gzip",
        "cf-cache-ttl": "5",
        "authorization": "Bearer sk-client",
        "x-last": "2",
    }
    native = forwardable_headers(headers)
    assert native == forwardable_headers(MappingProxyType(headers))  # the Python filter
    assert native == [("x-first", "1"), ("authorization", "Bearer sk-client"), ("x-last", "2")]


HEADER_NAMES = st.sampled_from(
    ["authorization", "x-api-key", "content-type", "accept", "cf-aig-metadata", "proxy-x", "connection", "host", "cf-cache-ttl", "x-a"]
)


@given(
    headers=st.dictionaries(HEADER_NAMES, st.text(max_size=5), max_size=8),
    auth=st.none() | st.tuples(st.sampled_from(["authorization", "x-api-key"]), st.text(max_size=5)),
    default_type=st.booleans(),
)
def test_the_native_filter_replaces_the_key_and_adds_a_content_type_as_python_does(headers, auth, default_type):
    native = forwardable_headers(headers, auth, default_type)
    assert native == forwardable_headers(MappingProxyType(headers), auth, default_type)  # the Python filter
    names = [n for n, _ in native]
    if auth is not None:
        assert names.count(auth[0]) == 1 and native[len(native) - 1 - (default_type and "content-type" not in headers)] == auth
    assert names.count("content-type") == (1 if default_type or "content-type" in headers else 0)


def test_client_key_is_used_as_sent():
    req = OpenAIProvider().build_request(call("openai", "chat/completions", {"authorization": "Bearer sk-client"}), None)
    assert ("authorization", "Bearer sk-client") in req.headers


def test_stored_key_is_injected_in_the_providers_auth_header():
    req = OpenAIProvider().build_request(call("openai", "chat/completions"), "sk-stored")
    assert ("authorization", "Bearer sk-stored") in req.headers
    assert ("content-type", "application/json") in req.headers


def test_anthropic_gets_x_api_key_and_a_default_version():
    req = AnthropicProvider().build_request(call("anthropic", "v1/messages"), "sk-ant")
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert ("x-api-key", "sk-ant") in req.headers
    assert ("anthropic-version", "2023-06-01") in req.headers


def test_anthropic_keeps_the_clients_version_and_accepts_a_bare_messages_path():
    c = call("anthropic", "messages", {"x-api-key": "k", "anthropic-version": "2026-10-21"})
    req = AnthropicProvider().build_request(c, None)
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert [v for n, v in req.headers if n == "anthropic-version"] == ["2026-10-21"]


def test_anthropic_counts_bearer_auth_as_client_auth():
    assert AnthropicProvider().has_client_auth({"authorization": "Bearer sk-ant"})


@pytest.mark.parametrize(
    "slug,url",
    [
        ("groq", "https://api.groq.com/openai/v1/chat/completions"),
        ("mistral", "https://api.mistral.ai/v1/chat/completions"),
        ("deepseek", "https://api.deepseek.com/v1/chat/completions"),
        ("grok", "https://api.x.ai/v1/chat/completions"),
        ("openrouter", "https://openrouter.ai/api/v1/chat/completions"),
        ("cerebras", "https://api.cerebras.ai/v1/chat/completions"),
        ("perplexity-ai", "https://api.perplexity.ai/chat/completions"),
    ],
)
def test_openai_compatible_family_base_urls(slug, url):
    assert compatible_provider(slug).build_request(call(slug, "chat/completions"), None).url == url


def test_custom_provider_uses_its_configured_base_url():
    p = compatible_provider("custom-local", "http://127.0.0.1:11434/v1")
    assert p.build_request(call("custom-local", "v1/chat/completions"), None).url == "http://127.0.0.1:11434/v1/chat/completions"


def test_custom_provider_without_base_url_is_refused():
    with pytest.raises(ValueError, match="base_url"):
        compatible_provider("custom-nowhere")


def test_workers_ai_runs_models_with_slashes_under_the_account():
    p = WorkersAIProvider(account_id="acct")
    req = p.build_request(call("workers-ai", "@cf/meta/llama-3.1-8b-instruct"), "cf-token")
    assert req.url == "https://api.cloudflare.com/client/v4/accounts/acct/ai/run/@cf/meta/llama-3.1-8b-instruct"
    assert ("authorization", "Bearer cf-token") in req.headers


def test_workers_ai_openai_compatible_route():
    p = WorkersAIProvider(account_id="acct")
    assert p.build_request(call("workers-ai", "v1/chat/completions"), None).url.endswith("/accounts/acct/ai/v1/chat/completions")


def test_workers_ai_without_account_says_what_is_missing():
    with pytest.raises(ValueError, match="account_id"):
        WorkersAIProvider().build_request(call("workers-ai", "@cf/x"), None)


def test_google_defaults_to_v1beta_and_injects_the_goog_key():
    p = GoogleAIStudioProvider()
    req = p.build_request(call("google-ai-studio", "models/gemini-2.5-flash:generateContent"), "gk")
    assert req.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert ("x-goog-api-key", "gk") in req.headers


def test_google_key_in_query_is_client_auth():
    p = GoogleAIStudioProvider()
    req = p.build_request(call("google-ai-studio", "v1/models/g:generateContent", query="key=client"), "stored")
    assert not any(n == "x-goog-api-key" for n, _ in req.headers)
    assert req.url.endswith("?key=client")


@pytest.mark.parametrize(
    "content_type,framing",
    [
        ("text/event-stream; charset=utf-8", Framing.SSE),
        ("application/json", Framing.JSON),
        ("application/problem+json", Framing.JSON),
        ("application/x-ndjson", Framing.NDJSON),
        ("application/vnd.amazon.eventstream", Framing.EVENTSTREAM),
        ("audio/mpeg", Framing.RAW),
    ],
)
def test_framing_follows_the_content_type(content_type, framing):
    assert framing_for(content_type) is framing


OPENAI_BODY = orjson.dumps({"object": "chat.completion", "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}})


def test_openai_usage_from_body():
    assert OpenAIProvider().usage_from_body(OPENAI_BODY) == Usage(9, 2)


def test_openai_usage_from_the_include_usage_chunk():
    events = [b'{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":null}', b'{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2}}']
    assert OpenAIProvider().usage_from_events([], events) == Usage(9, 2)


def test_responses_api_usage_from_response_completed():
    done = orjson.dumps({"type": "response.completed", "response": {"usage": {"input_tokens": 9, "output_tokens": 2}}})
    assert OpenAIProvider().usage_from_events([], [done]) == Usage(9, 2)


def test_groq_usage_from_x_groq():
    last = orjson.dumps({"choices": [{"delta": {}, "finish_reason": "stop"}], "x_groq": {"usage": {"prompt_tokens": 5, "completion_tokens": 7}}})
    assert compatible_provider("groq").usage_from_events([], [last]) == Usage(5, 7)


def test_stream_without_usage_reports_none():
    assert OpenAIProvider().usage_from_events([], [b'{"choices":[]}', b"not json"]) is None


def test_anthropic_usage_from_message_start_and_message_delta():
    start = orjson.dumps({"type": "message_start", "message": {"usage": {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 3}}})
    delta = orjson.dumps({"type": "message_delta", "usage": {"output_tokens": 6}})
    stop = b'{"type":"message_stop"}'
    assert AnthropicProvider().usage_from_events([start], [delta, stop]) == Usage(15, 6)


def test_workers_ai_usage_from_envelope_and_stream():
    p = WorkersAIProvider(account_id="a")
    body = orjson.dumps({"result": {"response": "x", "usage": {"prompt_tokens": 16, "completion_tokens": 20}}, "success": True})
    assert p.usage_from_body(body) == Usage(16, 20)
    assert p.usage_from_events([], [b'{"response":"","usage":{"prompt_tokens":16,"completion_tokens":20}}']) == Usage(16, 20)


def test_gemini_usage_counts_thoughts_as_output_and_last_chunk_wins():
    p = GoogleAIStudioProvider()
    a = orjson.dumps({"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1}})
    b = orjson.dumps({"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 3}})
    assert p.usage_from_events([], [a, b]) == Usage(4, 5)


@pytest.mark.parametrize("status,retryable", [(400, False), (401, False), (404, False), (408, True), (429, True), (500, True), (503, True), (529, True)])
def test_error_classification_by_status(status, retryable):
    assert OpenAIProvider().classify_error(status, {}, b"").retryable is retryable


def test_x_should_retry_overrides_the_status():
    assert OpenAIProvider().classify_error(500, {"x-should-retry": "false"}, b"").retryable is False
    assert OpenAIProvider().classify_error(400, {"x-should-retry": "true"}, b"").retryable is True


def test_retry_after_forms():
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_gemini_retry_delay_comes_from_retry_info():
    body = orjson.dumps({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}})
    verdict = GoogleAIStudioProvider().classify_error(429, {}, body)
    assert verdict.retryable and verdict.retry_after == 37.0
