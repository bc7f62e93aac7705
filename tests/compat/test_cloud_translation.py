"""Translation for the cloud providers, table-driven from the wire samples of providers.md §2,
§5 (Converse, ConverseStream, the event-stream framing) and §7 (Cohere v2): OpenAI requests in
→ provider requests out, provider answers and streams in → OpenAI answers and chunks out."""

from __future__ import annotations

import orjson
import pytest

from aigw.compat.bedrock_converse import PayloadReader
from aigw.compat.ir import UnsupportedParameter
from aigw.compat.translation import Translation, resolve_target
from aigw.errors import InvalidProvider
from aigw.testing.simulators.aws_bedrock import es_message, event
from tests.compat.test_answers_back import chunks, deltas
from tests.compat.test_requests_out import PNG, TOOL_TURN, TOOLS

REGISTERED = {slug: object() for slug in ("azure-openai", "google-vertex-ai", "aws-bedrock", "cohere")}
BEDROCK = resolve_target("aws-bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", REGISTERED, {})
COHERE = resolve_target("cohere", "command-a-03-2025", REGISTERED, {})
VERTEX_CLAUDE = resolve_target("google-vertex-ai", "anthropic/claude-sonnet-4-5", REGISTERED, {})


def out(model: str, **doc):
    provider, _, name = model.partition("/")
    call = Translation("openai", {"model": model, **doc}, resolve_target(provider, name, REGISTERED, {})).upstream_call()
    return call.endpoint, call.query, orjson.loads(call.body)


CONVERSE = "bedrock-runtime/us-east-1/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
VERTEX = "v1/projects/-/locations/-/publishers"

REQUESTS = [
    pytest.param(
        "azure-openai/my-resource/gpt-4o", {"messages": [{"role": "user", "content": "Hi"}], "seed": 7},
        ("my-resource/gpt-4o/chat/completions", "api-version=2024-10-21", {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "seed": 7}),
        id="azure-passes-through-to-the-deployment",
    ),
    pytest.param(
        "google-vertex-ai/google/gemini-2.5-flash", {"messages": [{"role": "user", "content": "Hi"}], "stream": True},
        (f"{VERTEX}/google/models/gemini-2.5-flash:streamGenerateContent", "alt=sse", {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}),
        id="vertex-gemini-stream",
    ),
    pytest.param(
        "google-vertex-ai/claude-sonnet-4-5", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 9},
        (f"{VERTEX}/anthropic/models/claude-sonnet-4-5:rawPredict", "", {"anthropic_version": "vertex-2023-10-16", "max_tokens": 9, "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}),
        id="vertex-bare-claude-is-anthropic-rawpredict-without-model",
    ),
    pytest.param(
        "aws-bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        {"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}], "max_completion_tokens": 64, "temperature": 0.5, "top_p": 0.9, "stop": "END"},
        (f"{CONVERSE}/converse", "", {"system": [{"text": "Be brief"}], "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                                      "inferenceConfig": {"maxTokens": 64, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]}}),
        id="converse-system-and-inference-config",
    ),
    pytest.param(
        "aws-bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", {"messages": TOOL_TURN, "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "stream": True},
        (f"{CONVERSE}/converse-stream", "", {
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather", "inputSchema": {"json": TOOLS[0]["function"]["parameters"]}}}], "toolChoice": {"tool": {"name": "get_weather"}}},
            "messages": [
                {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}, {"toolUse": {"toolUseId": "call_2", "name": "get_weather", "input": {"city": "Rome"}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"json": {"c": 21}}]}}, {"toolResult": {"toolUseId": "call_2", "content": [{"text": "sunny"}]}}]},
            ]}),
        id="converse-tools-tool-use-and-results-in-one-user-turn",
    ),
    pytest.param(
        "aws-bedrock/amazon.nova-pro-v1:0", {"messages": [{"role": "user", "content": [{"type": "text", "text": "What?"}, {"type": "image_url", "image_url": {"url": PNG}}]}], "tool_choice": "required", "tools": TOOLS},
        ("bedrock-runtime/us-east-1/model/amazon.nova-pro-v1%3A0/converse", "", {
            "messages": [{"role": "user", "content": [{"text": "What?"}, {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}]}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather", "inputSchema": {"json": TOOLS[0]["function"]["parameters"]}}}], "toolChoice": {"any": {}}}}),
        id="converse-image-bytes-and-any-tool",
    ),
    pytest.param(
        "cohere/command-a-03-2025",
        {"messages": [{"role": "system", "content": "Be brief"}, *TOOL_TURN], "tools": TOOLS, "tool_choice": "required", "max_tokens": 10, "seed": 3,
         "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}},
        ("v2/chat", "", {"model": "command-a-03-2025", "max_tokens": 10, "seed": 3, "tool_choice": "REQUIRED",
                         "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
                         "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": TOOLS[0]["function"]["parameters"]}}],
                         "messages": [
                             {"role": "system", "content": "Be brief"},
                             {"role": "user", "content": "Weather in Paris and Rome?"},
                             {"role": "assistant", "tool_calls": TOOL_TURN[1]["tool_calls"]},
                             {"role": "tool", "tool_call_id": "call_1", "content": '{"c":21}'},
                             {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
                         ]}),
        id="cohere-system-tools-json-schema",
    ),
    pytest.param(
        "cohere/command-a-vision-07-2025", {"messages": [{"role": "user", "content": [{"type": "text", "text": "What?"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}], "stream": True},
        ("v2/chat", "", {"model": "command-a-vision-07-2025", "stream": True,
                         "messages": [{"role": "user", "content": [{"type": "text", "text": "What?"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}),
        id="cohere-image-url-and-stream",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("model", "doc", "expected"), REQUESTS)
def test_an_openai_request_becomes_the_providers_request(model, doc, expected):
    assert out(model, **doc) == expected


@pytest.mark.parametrize(
    ("model", "doc", "param"),
    [
        ("aws-bedrock/amazon.nova-pro-v1:0", {"response_format": {"type": "json_object"}}, "response_format"),
        ("aws-bedrock/amazon.nova-pro-v1:0", {"tools": TOOLS, "tool_choice": "none"}, "tool_choice"),
        ("aws-bedrock/amazon.nova-pro-v1:0", {"seed": 1}, "seed"),
        ("aws-bedrock/amazon.nova-pro-v1:0", {"tools": TOOLS, "parallel_tool_calls": False}, "parallel_tool_calls"),
        ("cohere/command-a-03-2025", {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, "tool_choice"),
        ("cohere/command-a-03-2025", {"tools": TOOLS, "parallel_tool_calls": False}, "parallel_tool_calls"),
        ("google-vertex-ai/anthropic/claude-sonnet-4-5", {"response_format": {"type": "json_object"}}, "response_format"),
    ],
)
def test_a_parameter_the_provider_cannot_honour_is_refused_by_name(model, doc, param):
    with pytest.raises(UnsupportedParameter) as info:
        out(model, messages=[{"role": "user", "content": "Hi"}], **doc)
    assert info.value.param == param and model.partition("/")[0] in info.value.message


@pytest.mark.parametrize("model", ["azure-openai/gpt-4o", "google-vertex-ai/meta/llama-3", "google-vertex-ai/google/a/b"])
def test_a_cloud_model_name_without_its_parts_is_an_invalid_provider(model):
    provider, _, name = model.partition("/")
    with pytest.raises(InvalidProvider):
        resolve_target(provider, name, REGISTERED, {})


def test_an_anthropic_door_request_passes_through_to_claude_on_vertex_without_model():
    doc = {"model": "google-vertex-ai/anthropic/claude-sonnet-4-5", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    call = Translation("anthropic", doc, VERTEX_CLAUDE).upstream_call()
    assert call.endpoint.endswith(":streamRawPredict")
    assert orjson.loads(call.body) == {"max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "Hi"}], "anthropic_version": "vertex-2023-10-16"}


# ---- answers back -----------------------------------------------------------------------------


def whole(target, status: int, doc):
    code, body = Translation("openai", {"model": "x", "messages": [{"role": "user", "content": "Hi"}]}, target).response(status, orjson.dumps(doc))
    return code, orjson.loads(body)


def test_a_converse_answer_with_a_tool_use_becomes_a_chat_completion_with_cached_tokens():
    doc = {"output": {"message": {"role": "assistant", "content": [{"text": "Let me check."}, {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}]}},
           "stopReason": "tool_use", "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7, "cacheReadInputTokens": 10}, "metrics": {"latencyMs": 42}}  # fmt: skip
    status, body = whole(BEDROCK, 200, doc)
    choice = body["choices"][0]
    assert status == 200 and choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "Let me check."
    assert choice["message"]["tool_calls"] == [{"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]
    assert body["usage"]["prompt_tokens"] == 15 and body["usage"]["completion_tokens"] == 2
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 10


@pytest.mark.parametrize(("reason", "finish"), [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter")])
def test_converse_stop_reasons_map_to_openai_finish_reasons(reason, finish):
    doc = {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": reason, "usage": {"inputTokens": 1, "outputTokens": 1}}
    assert whole(BEDROCK, 200, doc)[1]["choices"][0]["finish_reason"] == finish


def test_a_bedrock_throttling_error_is_openais_429_shape():
    status, body = whole(BEDROCK, 429, {"message": "Too many requests, please wait before trying again."})
    assert status == 429 and body["error"]["message"] == "Too many requests, please wait before trying again."
    assert body["error"]["type"] == "rate_limit_error"


def test_a_cohere_answer_with_tool_calls_becomes_a_chat_completion_billed_units_first():
    doc = {"id": "c1", "finish_reason": "TOOL_CALL",
           "message": {"role": "assistant", "tool_plan": "I will check.", "tool_calls": [{"id": "get_weather_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
           "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 2}, "tokens": {"input_tokens": 70, "output_tokens": 2}, "cached_tokens": 0}}  # fmt: skip
    status, body = whole(COHERE, 200, doc)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert (body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"]) == (3, 2)


@pytest.mark.parametrize(("status", "expected"), [(401, 401), (498, 401), (429, 429), (422, 422)])
def test_a_cohere_error_is_openais_shape_with_a_status_the_sdk_knows(status, expected):
    code, body = whole(COHERE, status, {"id": "e1", "message": "invalid api token"})
    assert code == expected and body["error"]["message"] == "invalid api token"


# ---- streams ----------------------------------------------------------------------------------


def converse_stream(*events: bytes, include_usage: bool = True) -> list:
    tr = Translation("openai", {"model": "x", "messages": [{"role": "user", "content": "Hi"}], "stream": True, "stream_options": {"include_usage": include_usage}}, BEDROCK)
    translator = tr.stream_translator()
    reader = translator.reader()
    wire = b"".join(events)
    lines: list[bytes] = []
    for i in range(0, len(wire), 7):  # messages straddle reads
        lines += translator.feed(reader.feed(wire[i : i + 7]))
    lines += translator.close()
    assert not reader.finish()
    return chunks(lines), translator


def test_a_converse_stream_with_text_and_a_tool_call_becomes_openai_chunks():
    docs, translator = converse_stream(
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking"}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Paris"}'}}}),
        event("contentBlockStop", {"contentBlockIndex": 1}),
        event("messageStop", {"stopReason": "tool_use"}),
        event("metadata", {"usage": {"inputTokens": 5, "outputTokens": 9, "totalTokens": 14}, "metrics": {"latencyMs": 42}}),
    )
    ds = deltas(docs)
    assert ds[0]["role"] == "assistant" and ds[1]["content"] == "Checking"
    assert ds[2]["tool_calls"][0]["id"] == "tooluse_1" and ds[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert "".join(d["tool_calls"][0]["function"].get("arguments", "") for d in ds[2:5]) == '{"city":"Paris"}'
    assert docs[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert docs[-2]["usage"]["prompt_tokens"] == 5 and docs[-2]["usage"]["completion_tokens"] == 9 and docs[-1] == "[DONE]"
    assert translator.saw_terminator


def test_a_converse_stream_exception_ends_with_an_openai_error_event_and_no_done():
    exception = es_message({":exception-type": "throttlingException", ":content-type": "application/json", ":message-type": "exception"}, b'{"message":"Too many tokens"}')
    docs, translator = converse_stream(event("messageStart", {"role": "assistant"}), event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}), exception)
    assert docs[-1]["error"]["message"] == "Too many tokens" and "[DONE]" not in docs
    assert translator.saw_terminator  # (the error was the provider's end)


def test_a_converse_stream_cut_before_its_stop_is_not_a_clean_end():
    docs, translator = converse_stream(event("messageStart", {"role": "assistant"}), event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}))
    assert not translator.saw_terminator and "[DONE]" not in docs


def test_the_payload_reader_refuses_a_frame_with_a_bad_crc():
    good = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}})
    with pytest.raises(ValueError):
        PayloadReader().feed(good[:-1] + bytes([good[-1] ^ 0xFF]))


def sse(doc) -> bytes:
    return orjson.dumps(doc) if not isinstance(doc, bytes) else doc


def test_a_cohere_stream_with_tool_call_events_becomes_openai_chunks():
    tr = Translation("openai", {"model": "x", "messages": [{"role": "user", "content": "Hi"}], "stream": True, "stream_options": {"include_usage": True}}, COHERE)
    translator = tr.stream_translator()
    call = {"id": "get_weather_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    events = [
        {"id": "c1", "type": "message-start", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will check."}}},
        {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call}}},
        {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": '{"city":'}}}}},
        {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": '"Paris"}'}}}}},
        {"type": "tool-call-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 7}, "tokens": {"input_tokens": 70, "output_tokens": 7}}}},
        b"[DONE]",
    ]
    docs = chunks(translator.feed([sse(e) for e in events]))
    ds = deltas(docs)
    assert ds[1]["tool_calls"][0]["id"] == "get_weather_1"
    assert "".join(d["tool_calls"][0]["function"].get("arguments", "") for d in ds[1:4]) == '{"city":"Paris"}'
    assert docs[-3]["choices"][0]["finish_reason"] == "tool_calls"
    assert docs[-2]["usage"]["prompt_tokens"] == 3 and docs[-1] == "[DONE]" and translator.saw_terminator


def test_a_cohere_stream_that_ends_in_error_ends_with_an_openai_error_event():
    translator = Translation("openai", {"model": "x", "messages": [{"role": "user", "content": "Hi"}], "stream": True}, COHERE).stream_translator()
    events = [{"id": "c1", "type": "message-start", "delta": {"message": {"role": "assistant"}}}, {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "boom"}}]
    docs = chunks(translator.feed([sse(e) for e in events]))
    assert docs[-1]["error"]["message"] == "boom" and "[DONE]" not in docs
