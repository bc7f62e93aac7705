"""Provider answers in → front-door answers out: whole bodies, errors and streams, from the wire
samples of providers.md §1, §3, §4, §6 (stream in → chunks out)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigw.compat.translation import Target, Translation

ANTHROPIC = Target("anthropic", "anthropic", "claude-sonnet-4-5", "v1/messages")
GEMINI = Target("google-ai-studio", "gemini", "gemini-2.5-flash", None)
WORKERS = Target("workers-ai", "workers-ai", "@cf/meta/llama", None)
OPENAI = Target("openai", "openai", "gpt-4o-mini", "chat/completions")

ASK = {"model": "x", "messages": [{"role": "user", "content": "Hi"}]}


def openai_door(target: Target, **extra) -> Translation:
    return Translation("openai", {**ASK, **extra}, target)


def whole(target: Target, status: int, doc, **extra):
    code, body = openai_door(target, **extra).response(status, orjson.dumps(doc))
    return code, orjson.loads(body)


def chunks(lines: list[bytes]) -> list:
    """Data payloads of translated SSE lines (JSON decoded; [DONE] kept as is). An item of
    `lines` may hold several events (a run of text deltas is translated in one piece)."""
    out = []
    for line in lines:
        assert line.startswith(b"data: ") and line.endswith(b"\n\n"), line
        for event in line[:-2].split(b"\n\n"):
            assert event.startswith(b"data: "), event
            data = event[6:]
            out.append("[DONE]" if data == b"[DONE]" else orjson.loads(data))
    return out


def deltas(docs) -> list:
    return [d["choices"][0]["delta"] if d != "[DONE]" and d["choices"] else d for d in docs]


# ---- whole answers ----------------------------------------------------------------------------


def test_anthropic_message_becomes_a_chat_completion_with_cached_tokens():
    doc = {"id": "msg_01ABC", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
           "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "stop_sequence": None,
           "usage": {"input_tokens": 12, "output_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4}}  # fmt: skip
    status, body = whole(ANTHROPIC, 200, doc)
    assert status == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello!", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 16, "completion_tokens": 6, "total_tokens": 22, "prompt_tokens_details": {"cached_tokens": 4}}


def test_anthropic_tool_use_becomes_tool_calls():
    doc = {"id": "msg_1", "content": [{"type": "text", "text": "Let me check."}, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
           "stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 4}}  # fmt: skip
    _, body = whole(ANTHROPIC, 200, doc)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]


@pytest.mark.parametrize(("stop_reason", "finish"), [("max_tokens", "length"), ("stop_sequence", "stop"), ("refusal", "content_filter")])
def test_anthropic_stop_reasons_map_to_finish_reasons(stop_reason, finish):
    _, body = whole(ANTHROPIC, 200, {"id": "msg_1", "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason})
    assert body["choices"][0]["finish_reason"] == finish


def test_gemini_response_becomes_a_chat_completion():
    doc = {"candidates": [{"content": {"parts": [{"text": "Hello!"}], "role": "model"}, "finishReason": "STOP", "index": 0}],
           "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6, "cachedContentTokenCount": 1},
           "modelVersion": "gemini-2.5-flash", "responseId": "r-1"}  # fmt: skip
    _, body = whole(GEMINI, 200, doc)
    assert body["model"] == "gemini-2.5-flash"
    assert body["choices"][0]["message"]["content"] == "Hello!"
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6, "prompt_tokens_details": {"cached_tokens": 1}}


def test_gemini_function_calls_become_tool_calls_and_a_blocked_prompt_is_content_filter():
    doc = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}], "role": "model"}, "finishReason": "STOP"}]}
    _, body = whole(GEMINI, 200, doc)
    call = body["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "f", "arguments": '{"a":1}'} and call["id"].startswith("call_")
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    _, blocked = whole(GEMINI, 200, {"promptFeedback": {"blockReason": "SAFETY"}})
    assert blocked["choices"][0]["finish_reason"] == "content_filter"


def test_workers_ai_envelope_becomes_a_chat_completion():
    doc = {"result": {"response": "New York is in…", "tool_calls": [], "usage": {"prompt_tokens": 16, "completion_tokens": 20, "total_tokens": 36}},
           "success": True, "errors": [], "messages": []}  # fmt: skip
    _, body = whole(WORKERS, 200, doc)
    assert body["choices"][0]["message"]["content"] == "New York is in…"
    assert body["usage"]["total_tokens"] == 36


def test_workers_ai_tool_calls_with_object_arguments():
    doc = {"result": {"response": None, "tool_calls": [{"name": "f", "arguments": {"x": 1}}]}, "success": True}
    _, body = whole(WORKERS, 200, doc)
    assert body["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"x":1}'}
    assert body["choices"][0]["finish_reason"] == "tool_calls"


ERRORS = [
    pytest.param(ANTHROPIC, 529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 503, "server_error", "Overloaded", id="anthropic-529-is-503"),
    pytest.param(ANTHROPIC, 401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}, 401, "authentication_error", "invalid x-api-key", id="anthropic-401"),
    pytest.param(GEMINI, 400, {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT", "details": [{"reason": "API_KEY_INVALID"}]}}, 401, "authentication_error", "API key not valid.", id="gemini-bad-key-is-401"),
    pytest.param(GEMINI, 429, {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}, 429, "rate_limit_error", "Resource has been exhausted", id="gemini-429"),
    pytest.param(WORKERS, 400, {"result": None, "success": False, "errors": [{"code": 5007, "message": "No such model"}], "messages": []}, 400, "invalid_request_error", "No such model", id="workers-ai-5007"),
]  # fmt: skip


@pytest.mark.parametrize(("target", "status", "doc", "want_status", "want_type", "message"), ERRORS)
def test_provider_errors_come_back_in_openai_error_shape(target, status, doc, want_status, want_type, message):
    code, body = whole(target, status, doc)
    assert code == want_status
    assert body["error"]["type"] == want_type and body["error"]["message"] == message


def test_openai_family_answers_pass_through_untouched():
    raw = b'{"id":"chatcmpl-1","object":"chat.completion","x_groq":{"id":"req_1"}}'
    assert openai_door(OPENAI).response(200, raw) == (200, raw)


# ---- streams ----------------------------------------------------------------------------------

ANTHROPIC_STREAM = [
    b'{"type":"message_start","message":{"id":"msg_01ABC","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1,"cache_read_input_tokens":2}}}',
    b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
    b'{"type": "ping"}',
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}',
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}',
    b'{"type":"content_block_stop","index":0}',
    b'{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}',
    b'{"type":"message_stop"}',
]  # fmt: skip


def test_anthropic_stream_becomes_chunks_with_the_usage_chunk_and_done():
    tr = openai_door(ANTHROPIC, stream=True, stream_options={"include_usage": True}).stream_translator()
    docs = chunks(tr.feed(ANTHROPIC_STREAM[:3]) + tr.feed(ANTHROPIC_STREAM[3:]))
    assert all(d == "[DONE]" or d["object"] == "chat.completion.chunk" for d in docs)
    assert docs[0]["id"] == "msg_01ABC" and docs[0]["model"] == "claude-x"
    assert deltas(docs)[:3] == [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}]
    assert docs[3]["choices"][0]["finish_reason"] == "stop"
    assert docs[4]["choices"] == [] and docs[4]["usage"] == {"prompt_tokens": 14, "completion_tokens": 6, "total_tokens": 20, "prompt_tokens_details": {"cached_tokens": 2}}
    assert docs[5] == "[DONE]" and len(docs) == 6
    assert tr.saw_terminator and tr.usage.output == 6


@given(st.lists(st.text(), min_size=1, max_size=5), st.sampled_from(["", '"index":1,', '"index":0,"x":[1e5,"\\u00e9"],']))
def test_text_deltas_translated_in_rust_are_the_bytes_the_python_translator_writes(texts, extra):
    events = [b'{"type":"message_start","message":{"id":"msg_1","model":"m"}}']
    events += [b'{"type":"content_block_delta",' + extra.encode() + b'"delta":{"type":"text_delta","text":' + orjson.dumps(t) + b"}}" for t in texts]
    events.append(b'{"type":"message_stop"}')
    fast = openai_door(ANTHROPIC, stream=True).stream_translator()
    slow = openai_door(ANTHROPIC, stream=True).stream_translator()
    slow.decoder._text_run = None  # every event decoded and translated in Python
    fast.encoder.created = slow.encoder.created
    assert b"".join(fast.feed(events)) == b"".join(slow.feed(events))
    # ... and the deltas did take the Rust path (a run covering every one of them)
    assert fast.encoder.anthropic_text_run([], events, 1) == 1 + len(texts)


def test_without_include_usage_there_is_no_usage_chunk():
    tr = openai_door(ANTHROPIC, stream=True).stream_translator()
    docs = chunks(tr.feed(ANTHROPIC_STREAM))
    assert [d for d in docs if d != "[DONE]" and not d["choices"]] == []
    assert docs[-1] == "[DONE]"


def test_anthropic_streamed_tool_use_becomes_tool_call_deltas():
    events = [
        b'{"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":5}}}',
        b'{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"city\\":"}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\\"Paris\\"}"}}',
        b'{"type":"content_block_stop","index":0}',
        b'{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}}',
        b'{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}',
        b'{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}',
        b'{"type":"message_stop"}',
    ]  # fmt: skip
    docs = chunks(openai_door(ANTHROPIC, stream=True).stream_translator().feed(events))
    d = deltas(docs)
    assert d[1] == {"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}
    assert d[2] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}
    assert d[3] == {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}
    assert d[4]["tool_calls"][0]["index"] == 1 and d[4]["tool_calls"][0]["id"] == "toolu_2"
    assert docs[6]["choices"][0]["finish_reason"] == "tool_calls"


def test_an_anthropic_mid_stream_error_becomes_an_openai_error_event_without_done():
    tr = openai_door(ANTHROPIC, stream=True).stream_translator()
    docs = chunks(tr.feed([*ANTHROPIC_STREAM[:4], b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}']))
    assert docs[-1] == {"error": {"message": "Overloaded", "type": "server_error", "param": None, "code": "overloaded_error"}}
    assert "[DONE]" not in docs


def test_a_broken_stream_ends_with_an_error_event():
    tr = openai_door(ANTHROPIC, stream=True).stream_translator()
    tr.feed(ANTHROPIC_STREAM[:4])
    assert tr.close() == []  # no terminator: the pipeline reports the break
    assert chunks(tr.fail(502, "the upstream stream failed"))[0]["error"]["message"] == "the upstream stream failed"


GEMINI_STREAM = [
    b'{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":1,"totalTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"r-1"}',
    b'{"candidates":[{"content":{"parts":[{"text":"lo!"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6},"modelVersion":"gemini-2.5-flash","responseId":"r-1"}',
]  # fmt: skip


def test_gemini_stream_ends_at_the_body_end_with_finish_usage_and_done():
    tr = openai_door(GEMINI, stream=True, stream_options={"include_usage": True}).stream_translator()
    docs = chunks(tr.feed(GEMINI_STREAM) + tr.close())
    assert deltas(docs)[:3] == [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo!"}]
    assert docs[3]["choices"][0]["finish_reason"] == "stop"
    assert docs[4]["usage"]["completion_tokens"] == 2 and docs[5] == "[DONE]"
    assert tr.saw_terminator


def test_gemini_streamed_function_call_is_one_tool_call_delta_pair():
    event = b'{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":1}}}],"role":"model"},"finishReason":"STOP"}]}'
    tr = openai_door(GEMINI, stream=True).stream_translator()
    docs = chunks(tr.feed([event]) + tr.close())
    d = deltas(docs)
    assert d[1]["tool_calls"][0]["function"] == {"name": "f", "arguments": ""}
    assert d[2]["tool_calls"][0]["function"] == {"arguments": '{"a":1}'}
    assert docs[3]["choices"][0]["finish_reason"] == "tool_calls"


def test_workers_ai_stream_becomes_chunks_with_usage():
    events = [b'{"response":"New","p":"abcd"}', b'{"response":" York","p":"ab"}',
              b'{"response":"","usage":{"prompt_tokens":16,"completion_tokens":20,"total_tokens":36}}', b"[DONE]"]  # fmt: skip
    tr = openai_door(WORKERS, stream=True, stream_options={"include_usage": True}).stream_translator()
    docs = chunks(tr.feed(events))
    assert deltas(docs)[:3] == [{"role": "assistant", "content": ""}, {"content": "New"}, {"content": " York"}]
    assert docs[3]["choices"][0]["finish_reason"] == "stop"
    assert docs[4]["usage"]["total_tokens"] == 36 and docs[5] == "[DONE]"


def test_workers_ai_openai_style_chunks_are_read_too():
    events = [b'{"choices":[{"index":0,"delta":{"content":"Hi"}}]}', b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
              b'{"response":"","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}', b"[DONE]"]  # fmt: skip
    docs = chunks(openai_door(WORKERS, stream=True, stream_options={"include_usage": True}).stream_translator().feed(events))
    assert deltas(docs)[:2] == [{"role": "assistant", "content": ""}, {"content": "Hi"}]
    assert docs[2]["choices"][0]["finish_reason"] == "stop" and docs[3]["usage"]["total_tokens"] == 2 and docs[4] == "[DONE]"


def test_openai_family_streams_pass_through():
    assert openai_door(OPENAI, stream=True).stream_translator() is None
