"""Universal WebSocket messages parse and serialize as the contract says (bytes in, bytes out)."""

import orjson
import pytest

from aigw.api.universal_messages import (
    Cancel,
    Create,
    MessageError,
    created,
    done,
    error_message,
    parse_client_message,
    stream_message,
)

CF_EXAMPLE = {
    "type": "universal.create",
    "request": {
        "eventId": "my-request",
        "provider": "workers-ai",
        "endpoint": "@cf/meta/llama-3.1-8b-instruct",
        "headers": {"Authorization": "Bearer WORKERS_AI_TOKEN", "Content-Type": "application/json"},
        "query": {"prompt": "tell me a joke"},
    },
}


def test_cloudflares_example_parses_as_one_step():
    msg = parse_client_message(orjson.dumps(CF_EXAMPLE))
    assert isinstance(msg, Create) and msg.event_id == "my-request"
    [step] = msg.steps
    assert (step.provider, step.endpoint, step.stream) == ("workers-ai", "@cf/meta/llama-3.1-8b-instruct", False)
    assert orjson.loads(step.body) == {"prompt": "tell me a joke"}


def test_an_array_of_steps_is_a_fallback_chain_with_the_event_id_on_the_first():
    msg = parse_client_message(
        orjson.dumps(
            {
                "type": "universal.create",
                "request": [
                    {"eventId": "e1", "provider": "openai", "endpoint": "chat/completions", "query": {"stream": True}, "config": {"maxAttempts": 2}},
                    {"provider": "anthropic", "endpoint": "v1/messages", "query": {}},
                ],
            }
        )
    )
    assert msg.event_id == "e1" and [s.provider for s in msg.steps] == ["openai", "anthropic"]
    assert msg.steps[0].stream and msg.steps[0].config == {"maxAttempts": 2}


def test_a_top_level_event_id_is_tolerated():
    msg = parse_client_message(b'{"type":"universal.create","eventId":"top","request":{"provider":"openai","endpoint":"x","query":{}}}')
    assert msg.event_id == "top"


def test_missing_event_id_is_left_for_the_gateway_to_assign():
    assert parse_client_message(b'{"type":"universal.create","request":{"provider":"openai","endpoint":"x"}}').event_id is None


def test_cancel_parses():
    assert parse_client_message(b'{"type":"universal.cancel","eventId":"e1"}') == Cancel("e1")


def test_invalid_json_is_an_untied_error():
    with pytest.raises(MessageError) as err:
        parse_client_message(b"{nope")
    assert err.value.event_id is None and not err.value.tied


def test_unknown_type_keeps_the_event_id():
    with pytest.raises(MessageError) as err:
        parse_client_message(b'{"type":"universal.frobnicate","request":{"eventId":"e9"}}')
    assert err.value.event_id == "e9" and "unknown message type" in err.value.message and not err.value.tied


def test_missing_provider_is_tied_to_its_event_id():
    with pytest.raises(MessageError) as err:
        parse_client_message(b'{"type":"universal.create","request":{"eventId":"e2","endpoint":"x"}}')
    assert err.value.tied and err.value.event_id == "e2" and "provider" in err.value.message


def test_gemini_stream_endpoint_counts_as_streaming():
    msg = parse_client_message(b'{"type":"universal.create","request":{"provider":"google-ai-studio","endpoint":"v1beta/models/g:streamGenerateContent?alt=sse","query":{}}}')
    assert msg.steps[0].stream


def test_created_splices_the_provider_body_unchanged():
    body = b'{"id":"chatcmpl-1","choices":[]}'
    out = created({"cacheStatus": "MISS", "eventId": "e1", "logId": "l", "step": "0", "contentType": "application/json"}, body)
    assert out.endswith(b'"response":' + body + b"}")
    assert orjson.loads(out)["type"] == "universal.created"


def test_a_non_json_body_is_relayed_as_a_string():
    assert orjson.loads(created({"eventId": "e"}, b"plain text"))["response"] == "plain text"


def test_stream_message_metadata_is_only_the_event_id():
    doc = orjson.loads(stream_message("e1", b'{"response":"would"}'))
    assert doc == {"type": "universal.stream", "metadata": {"eventId": "e1"}, "response": {"response": "would"}}


def test_done_repeats_the_metadata():
    meta = {"cacheStatus": "MISS", "eventId": "e1", "logId": "l", "step": "0", "contentType": "text/event-stream"}
    assert orjson.loads(done(meta)) == {"type": "universal.done", "metadata": meta}


def test_error_message_carries_code_reason_and_event_id():
    doc = orjson.loads(error_message(2010, "bad", "e3"))
    assert doc == {"type": "universal.error", "metadata": {"status": 400, "eventId": "e3"}, "error": {"code": 2010, "message": "bad"}}


def test_the_model_comes_from_the_body_or_the_endpoint():
    def model(endpoint, query):
        raw = {"type": "universal.create", "request": {"provider": "p", "endpoint": endpoint, "query": query}}
        return parse_client_message(orjson.dumps(raw)).steps[0].model

    assert model("chat/completions", {"model": "gpt-4o-mini"}) == "gpt-4o-mini"
    assert model("v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", {}) == "gemini-2.5-flash"
    assert model("@cf/meta/llama-3.1-8b-instruct", {"prompt": "x"}) == "@cf/meta/llama-3.1-8b-instruct"
    assert model("chat/completions", {}) is None


def test_a_body_with_invalid_utf8_is_relayed_as_a_string_not_spliced():
    out = created({"eventId": "e"}, b'{"text":"ab\xffcd"}')
    assert orjson.loads(out)["response"] == '{"text":"ab\ufffdcd"}'
    out.decode("utf-8")  # the text frame's payload stays valid UTF-8


# ---- nesting depth and eventId types (issue 7, item 5 and "also seen") ---------------------


def nested_create(levels: int, event_id: str = "deep") -> bytes:
    """A universal.create whose message nests exactly `levels` objects/arrays deep (the message
    is level 1, `request` level 2, `query` level 3, then lists)."""
    query = '{"a":' + "[" * (levels - 3) + "]" * (levels - 3) + "}"
    return (
        b'{"type":"universal.create","request":{"eventId":"%s","provider":"openai","endpoint":"chat/completions","query":%s}}'
        % (event_id.encode(), query.encode())
    )


def test_a_message_at_the_depth_limit_parses():
    from aigw.api.universal_messages import MAX_DEPTH

    msg = parse_client_message(nested_create(MAX_DEPTH))
    assert msg.steps[0].body.count(b"[") == MAX_DEPTH - 3


@pytest.mark.parametrize("levels", ["limit+1", 255, 1000])
def test_a_message_nested_deeper_than_the_limit_is_refused_for_its_event_id(levels):
    from aigw.api.universal_messages import MAX_DEPTH

    levels = MAX_DEPTH + 1 if levels == "limit+1" else levels
    with pytest.raises(MessageError) as err:
        parse_client_message(nested_create(levels))
    assert err.value.tied and err.value.event_id == "deep" and err.value.code == 2010
    assert f"deeper than {MAX_DEPTH} levels" in err.value.message


def test_depth_is_measured_without_python_recursion():
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(60)  # far below the depth being measured
    try:
        with pytest.raises(MessageError, match="deeper than"):
            parse_client_message(nested_create(1000))
    finally:
        sys.setrecursionlimit(limit)


def test_a_wide_message_with_many_brackets_but_little_depth_parses():
    messages = [{"role": "user", "content": [{"type": "text", "text": "[{"}]} for _ in range(500)]
    raw = {"type": "universal.create", "request": {"eventId": "wide", "provider": "openai", "endpoint": "x", "query": {"messages": messages}}}
    assert parse_client_message(orjson.dumps(raw)).event_id == "wide"


@pytest.mark.parametrize("event_id", [b"1", b"123456789012345678901234567890", b"1.5", b"true", b"[]", b"{}", b'""'])
def test_an_event_id_that_is_not_a_non_empty_string_is_refused(event_id):
    # Numbers are refused rather than turned into text: 123456789012345678901234567890 would
    # come back as "1.2345678901234568e+29", which the client could not match.
    payload = b'{"type":"universal.create","request":{"eventId":%s,"provider":"openai","endpoint":"x","query":{}}}' % event_id
    with pytest.raises(MessageError, match="eventId must be a non-empty string") as err:
        parse_client_message(payload)
    assert err.value.code == 2010 and err.value.event_id is None and not err.value.tied


def test_a_query_is_forwarded_as_the_bytes_the_client_sent():
    query = b'{ "model" : "gpt-4o",\n  "temperature": 1.0, "n": 10000000000000000000001, "messages": [{"role":"user","content":"caf\\u00e9"}] }'
    msg = parse_client_message(b'{"type":"universal.create","request":{"provider":"openai","endpoint":"chat/completions","query":' + query + b"}}")
    [step] = msg.steps
    assert step.body == query
    assert (step.model, step.stream) == ("gpt-4o", False)


def test_each_fallback_step_keeps_its_own_query_bytes():
    msg = parse_client_message(
        b'{"type":"universal.create","request":[{"provider":"openai","endpoint":"x","query":{"stream":true, "model":"a"}},'
        b'{"provider":"anthropic","endpoint":"y"},{"provider":"groq","endpoint":"z","query":{"model":"c"}}]}'
    )
    assert [s.body for s in msg.steps] == [b'{"stream":true, "model":"a"}', b"", b'{"model":"c"}']
    assert [(s.model, s.stream) for s in msg.steps] == [("a", True), (None, False), ("c", False)]


def test_the_last_of_a_repeated_stream_or_model_key_counts_as_when_decoded():
    msg = parse_client_message(b'{"type":"universal.create","request":{"provider":"openai","endpoint":"x","query":{"stream":true,"model":"a","stream":false,"model":"b"}}}')
    assert (msg.steps[0].stream, msg.steps[0].model) == (False, "b")


@pytest.mark.parametrize("query", ['{"n":1e400}', '{"t":"\\ud800"}', '{"a":[{"\\udc00":1}]}'])
def test_a_query_json_cannot_decode_is_refused_like_any_invalid_message(query):
    with pytest.raises(MessageError, match="not valid JSON"):
        parse_client_message(('{"type":"universal.create","request":{"eventId":"e","provider":"openai","endpoint":"x","query":' + query + "}}").encode())
