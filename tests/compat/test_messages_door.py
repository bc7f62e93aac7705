"""The Anthropic Messages front door: Messages requests in → any provider's request out, and
that provider's answers and streams back as Messages bodies and events (one shared IR)."""

from __future__ import annotations

import orjson
import pytest

from aigw.compat.ir import InvalidCompatRequest, UnsupportedParameter
from aigw.compat.translation import Target, Translation

OPENAI = Target("openai", "openai", "gpt-4o-mini", "chat/completions")
GEMINI = Target("google-ai-studio", "gemini", "gemini-2.5-flash", None)
WORKERS = Target("workers-ai", "workers-ai", "@cf/meta/llama", None)
ANTHROPIC = Target("anthropic", "anthropic", "claude-sonnet-4-5", "v1/messages")

MESSAGES = {
    "model": "x",
    "max_tokens": 100,
    "system": [{"type": "text", "text": "Be brief."}],
    "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "21C"}]}, {"type": "text", "text": "Thanks"}]},
    ],
    "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any"},
    "stop_sequences": ["END"],
}  # fmt: skip


def door(target: Target, **extra) -> Translation:
    return Translation("anthropic", {**MESSAGES, **extra}, target)


def body_out(target: Target, **extra) -> dict:
    return orjson.loads(door(target, **extra).upstream_call().body)


def events(lines: list[bytes]) -> list[tuple[str, dict]]:
    out = []
    for line in lines:
        head, data = line.rstrip(b"\n").split(b"\n", 1)
        assert head.startswith(b"event: ") and data.startswith(b"data: ")
        doc = orjson.loads(data[6:])
        assert doc["type"] == head[7:].decode()
        out.append((doc["type"], doc))
    return out


def test_messages_request_becomes_an_openai_request():
    body = body_out(OPENAI, stream=True)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "21C"},
        {"role": "user", "content": "Thanks"},
    ]
    assert body["model"] == "gpt-4o-mini" and body["max_completion_tokens"] == 100 and body["stop"] == ["END"]
    assert body["tool_choice"] == "required" and body["tools"][0]["function"]["name"] == "get_weather"
    assert body["stream_options"] == {"include_usage": True}


def test_messages_request_becomes_a_gemini_request():
    body = body_out(GEMINI)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"][1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}
    assert body["contents"][2] == {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"content": "21C"}}}, {"text": "Thanks"}]}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_messages_request_to_workers_ai_refuses_what_it_cannot_honour():
    with pytest.raises(UnsupportedParameter) as info:
        door(WORKERS).upstream_call()
    assert "stop" in info.value.message


def test_top_k_goes_where_it_can_and_is_refused_elsewhere():
    assert body_out(GEMINI, top_k=5)["generationConfig"]["topK"] == 5
    with pytest.raises(UnsupportedParameter):
        door(OPENAI, top_k=5).upstream_call()


def test_messages_to_anthropic_passes_through():
    call = door(ANTHROPIC).upstream_call()
    assert call.endpoint == "v1/messages" and orjson.loads(call.body) == {**MESSAGES, "model": "claude-sonnet-4-5"}


def test_a_messages_request_without_max_tokens_is_a_bad_request():
    doc = {k: v for k, v in MESSAGES.items() if k != "max_tokens"}
    with pytest.raises(InvalidCompatRequest):
        Translation("anthropic", doc, OPENAI).upstream_call()


def test_an_openai_answer_becomes_a_messages_body():
    answer = {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]}, "finish_reason": "tool_calls"}],
              "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13, "prompt_tokens_details": {"cached_tokens": 4}}}  # fmt: skip
    status, body = door(OPENAI).response(200, orjson.dumps(answer))
    doc = orjson.loads(body)
    assert status == 200 and doc["type"] == "message" and doc["id"].startswith("msg_")
    assert doc["content"] == [{"type": "text", "text": "Hi"}, {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}]
    assert doc["stop_reason"] == "tool_use"
    assert doc["usage"] == {"input_tokens": 6, "output_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4}


def test_provider_errors_come_back_in_anthropic_error_shape():
    status, body = door(GEMINI).response(429, b'{"error":{"code":429,"message":"exhausted","status":"RESOURCE_EXHAUSTED"}}')
    assert status == 429 and orjson.loads(body) == {"type": "error", "error": {"type": "rate_limit_error", "message": "exhausted"}}


def test_an_openai_stream_becomes_messages_events():
    chunks = [
        b'{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}',
        b'{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"Hel"}}]}',
        b'{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"lo"}}]}',
        b'{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}',
        b'{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}',
        b'{"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}',
        b'{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}',
        b"[DONE]",
    ]  # fmt: skip
    tr = door(OPENAI, stream=True).stream_translator()
    got = events(tr.feed(chunks))
    assert [name for name, _ in got] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    assert got[2][1]["delta"] == {"type": "text_delta", "text": "Hel"}
    assert got[5][1] == {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}}
    assert got[6][1]["delta"] == {"type": "input_json_delta", "partial_json": "{}"}
    assert got[8][1]["delta"]["stop_reason"] == "tool_use"
    assert got[8][1]["usage"] == {"input_tokens": 9, "output_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def test_a_workers_ai_stream_becomes_messages_events():
    tr = door(WORKERS, stop_sequences=None, stream=True).stream_translator()
    got = events(tr.feed([b'{"response":"Hi"}', b'{"response":"","usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}', b"[DONE]"]))
    assert [n for n, _ in got] == ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert got[4][1]["delta"]["stop_reason"] == "end_turn" and got[4][1]["usage"]["output_tokens"] == 1


def test_a_broken_stream_ends_with_an_anthropic_error_event():
    tr = door(GEMINI, stream=True).stream_translator()
    tr.feed([b'{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}'])
    assert events(tr.fail(502, "upstream broke"))[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": "upstream broke"}})
