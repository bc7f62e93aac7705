"""OpenAI chat-completions requests in → provider requests out (one table row per behaviour),
from the wire samples of providers.md §1, §3, §4, §6."""

from __future__ import annotations

import orjson
import pytest

from aigw.compat.ir import InvalidCompatRequest, UnsupportedParameter
from aigw.compat.translation import Target, Targets, Translation, resolve_target, split_model
from aigw.errors import InvalidProvider

ANTHROPIC = Target("anthropic", "anthropic", "claude-sonnet-4-5", "v1/messages")
GEMINI = Target("google-ai-studio", "gemini", "gemini-2.5-flash", None)
WORKERS = Target("workers-ai", "workers-ai", "@cf/meta/llama-3.1-8b-instruct", None)
GROQ = Target("groq", "openai", "llama-3.3-70b", "chat/completions")

PNG = "data:image/png;base64,iVBORw0KGgo="
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
TOOL_TURN = [
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"c":21}'},
    {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
]  # fmt: skip


def out(target: Target, **doc):
    call = Translation("openai", {"model": "x", **doc}, target).upstream_call()
    return call.endpoint, call.query, orjson.loads(call.body)


CASES = [
    pytest.param(
        ANTHROPIC,
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Again"}],
         "max_completion_tokens": 1024, "temperature": 0.5, "top_p": 0.9, "stop": "END"},
        ("v1/messages", "", {"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": "Be brief.", "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["END"],
          "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}, {"role": "assistant", "content": [{"type": "text", "text": "Hi!"}]}, {"role": "user", "content": [{"type": "text", "text": "Again"}]}]}),
        id="anthropic-system-multiturn-sampling",
    ),
    pytest.param(
        ANTHROPIC, {"messages": [{"role": "user", "content": "Hi"}]},
        ("v1/messages", "", {"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}),
        id="anthropic-default-max-tokens",
    ),
    pytest.param(
        ANTHROPIC, {"messages": TOOL_TURN, "tools": TOOLS, "tool_choice": "required", "parallel_tool_calls": False, "max_tokens": 50},
        ("v1/messages", "", {"model": "claude-sonnet-4-5", "max_tokens": 50,
          "tools": [{"name": "get_weather", "description": "Weather", "input_schema": TOOLS[0]["function"]["parameters"]}],
          "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
          "messages": [
              {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
              {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}, {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": '{"c":21}'}, {"type": "tool_result", "tool_use_id": "call_2", "content": "sunny"}]},
          ]}),
        id="anthropic-tools-and-parallel-results-in-one-user-turn",
    ),
    pytest.param(
        ANTHROPIC, {"messages": [{"role": "user", "content": [{"type": "text", "text": "What?"}, {"type": "image_url", "image_url": {"url": PNG}}, {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}]}], "max_tokens": 9},
        ("v1/messages", "", {"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}}]}]}),
        id="anthropic-images-data-and-https",
    ),
    pytest.param(
        GEMINI,
        {"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": [{"type": "text", "text": "This?"}, {"type": "image_url", "image_url": {"url": PNG}}]}],
         "temperature": 0.7, "max_tokens": 256, "stop": ["x"], "seed": 7, "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}},
        ("v1beta/models/gemini-2.5-flash:generateContent", "", {
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Hello"}]}, {"role": "user", "parts": [{"text": "This?"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]}],
            "systemInstruction": {"parts": [{"text": "Be brief"}]},
            "generationConfig": {"maxOutputTokens": 256, "temperature": 0.7, "stopSequences": ["x"], "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}, "seed": 7}}),
        id="gemini-system-roles-config-json-schema-inline-image",
    ),
    pytest.param(
        GEMINI, {"messages": TOOL_TURN, "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "stream": True},
        ("v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse", {
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}, {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"c": 21}}}, {"functionResponse": {"name": "get_weather", "response": {"content": "sunny"}}}]}],
            "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parametersJsonSchema": TOOLS[0]["function"]["parameters"]}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}}),
        id="gemini-tools-function-responses-stream-endpoint",
    ),
    pytest.param(
        WORKERS, {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Where is New York?"}], "max_tokens": 256, "temperature": 0.6, "stream": True, "response_format": {"type": "json_object"}},
        ("@cf/meta/llama-3.1-8b-instruct", "", {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Where is New York?"}], "max_tokens": 256, "temperature": 0.6, "response_format": {"type": "json_object"}, "stream": True}),
        id="workers-ai-messages-json-mode-stream",
    ),
    pytest.param(
        GROQ, {"messages": [{"role": "user", "content": "Hi"}], "logit_bias": {"1": 2}, "stream": True, "stream_options": {"include_usage": True}},
        ("chat/completions", "", {"model": "llama-3.3-70b", "messages": [{"role": "user", "content": "Hi"}], "logit_bias": {"1": 2}, "stream": True, "stream_options": {"include_usage": True}}),
        id="openai-family-passes-through-with-the-model-rewritten",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("target", "doc", "expected"), CASES)
def test_request_translation(target, doc, expected):
    assert out(target, **doc) == expected


REFUSED = [
    pytest.param(ANTHROPIC, {"response_format": {"type": "json_object"}}, "response_format", id="anthropic-json-mode"),
    pytest.param(ANTHROPIC, {"logit_bias": {"1": 1}}, "logit_bias", id="anthropic-logit-bias"),
    pytest.param(ANTHROPIC, {"n": 2}, "n", id="anthropic-n-2"),
    pytest.param(ANTHROPIC, {"seed": 1}, "seed", id="anthropic-seed"),
    pytest.param(GEMINI, {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]}, "image_url", id="gemini-http-image"),
    pytest.param(GEMINI, {"parallel_tool_calls": False}, "parallel_tool_calls", id="gemini-parallel-tool-calls-false"),
    pytest.param(WORKERS, {"stop": ["x"]}, "stop", id="workers-ai-stop"),
    pytest.param(WORKERS, {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}]}, "image_url", id="workers-ai-image"),
    pytest.param(WORKERS, {"tool_choice": "required"}, "tool_choice", id="workers-ai-tool-choice-required"),
    pytest.param(ANTHROPIC, {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}, "input_audio", id="audio-input"),
]  # fmt: skip


@pytest.mark.parametrize(("target", "doc", "param"), REFUSED)
def test_a_parameter_the_provider_cannot_honour_is_refused_by_name(target, doc, param):
    with pytest.raises(UnsupportedParameter) as info:
        out(target, **{"messages": [{"role": "user", "content": "Hi"}], **doc})
    assert info.value.status == 400 and info.value.code == 2010
    assert param in info.value.message and target.provider in info.value.message


def test_harmless_parameters_are_accepted_and_not_forwarded():
    _, _, body = out(ANTHROPIC, messages=[{"role": "user", "content": "Hi"}], user="u1", store=False, n=1, metadata={"a": "b"}, presence_penalty=0)
    assert set(body) == {"model", "max_tokens", "messages"}


def test_a_tool_result_for_an_unknown_call_is_a_bad_request_for_gemini():
    with pytest.raises(InvalidCompatRequest):
        out(GEMINI, messages=[{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}])


@pytest.mark.parametrize("name", ["gpt-4o", "", None, "/gpt", "openai/"])
def test_a_model_without_a_provider_prefix_is_invalid_provider_2008(name):
    with pytest.raises(InvalidProvider) as info:
        split_model(name)
    assert (info.value.status, info.value.code) == (400, 2008)


def test_model_names_keep_their_slashes_after_the_provider():
    assert split_model("workers-ai/@cf/meta/llama-3.1-8b-instruct") == ("workers-ai", "@cf/meta/llama-3.1-8b-instruct")


def test_an_unknown_provider_is_invalid_provider_2008():
    with pytest.raises(InvalidProvider) as info:
        resolve_target("nosuch", "m", {"openai": object()}, {})
    assert info.value.code == 2008


def test_a_custom_provider_takes_its_configured_format():
    providers = {"custom-local": object(), "custom-claude": object()}
    formats = {"custom-local": "openai", "custom-claude": "anthropic"}
    assert resolve_target("custom-local", "m", providers, formats) == Target("custom-local", "openai", "m", "chat/completions")
    assert resolve_target("custom-claude", "m", providers, formats) == Target("custom-claude", "anthropic", "m", "v1/messages")


def test_a_provider_without_a_compat_format_is_invalid_provider():
    with pytest.raises(InvalidProvider):
        resolve_target("cartesia", "m", {"cartesia": object()}, {})


def test_targets_resolve_as_resolve_target_does_and_remember_each_name():
    providers, formats = {"custom-local": object(), "openai": object()}, {"custom-local": "openai"}
    targets = Targets(providers, formats)
    first = targets("custom-local", "m")
    assert first == resolve_target("custom-local", "m", providers, formats)
    assert targets("custom-local", "m") is first
    assert targets("openai", "gpt-4o") == resolve_target("openai", "gpt-4o", providers, formats)


def test_targets_raise_for_an_unknown_provider_every_time():
    targets = Targets({"openai": object()}, {})
    for _ in range(2):
        with pytest.raises(InvalidProvider):
            targets("nosuch", "m")


def test_targets_remember_at_most_their_bound_of_names(monkeypatch):
    monkeypatch.setattr(Targets, "MAX_REMEMBERED", 2)
    targets = Targets({"openai": object()}, {})
    for model in ("a", "b", "c"):
        targets("openai", model)
    assert targets("openai", "a") is targets("openai", "a")
    assert targets("openai", "c") is not targets("openai", "c")  # past the bound: built each time
    assert targets("openai", "c") == Target("openai", "openai", "c", "chat/completions")
