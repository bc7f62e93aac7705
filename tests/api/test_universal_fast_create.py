"""`fast_create` (the usual universal.create read whole in Rust) gives exactly what
`parse_client_message` gives for the messages it reads, and leaves every other message (every
mistake included) to it."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigw.api.universal_messages import MAX_DEPTH, Create, MessageError, fast_create, parse_client_message

texts = st.one_of(st.sampled_from(["openai", "", "/chat/completions", "a\u00e9\U0001f600"]), st.text(max_size=6))
values = st.one_of(st.none(), st.integers(-9, 9), st.booleans(), texts, st.lists(st.integers(-9, 9), max_size=2), st.dictionaries(texts, st.integers(-9, 9), max_size=2))
valid_ids = st.sampled_from(["e1", "x" * 256, "\u00e9" * 256, "\U0001f600"])
query_objects = st.fixed_dictionaries(
    {}, optional={"model": st.one_of(texts, st.integers(-9, 9)), "stream": st.one_of(st.booleans(), texts), "messages": st.lists(st.dictionaries(texts, texts, max_size=2), max_size=2)}
)


@st.composite
def valid_steps(draw):
    step = {
        "provider": draw(st.sampled_from(["openai", "workers-ai", "\u00e9x"])),
        "endpoint": draw(st.sampled_from(["chat/completions", "/chat/completions", "//v1/x", "@cf/meta/llama", "models/g:streamGenerateContent", "",
                                           "v1beta/models/gemini-2.5-flash:generateContent", "models//x/models/y?z", "models/:a", "@hf/x:streamGenerateContent"])),
        "query": draw(query_objects),
    }
    optional = {
        "headers": st.one_of(st.none(), st.dictionaries(st.sampled_from(["Authorization", "x-a", "Content-Type", "\u00e9"]), texts, max_size=3)),
        "eventId": st.one_of(st.none(), valid_ids),
        "authorization": st.none(),
        "config": st.none(),
        "extra": values,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            step[key] = draw(strategy)
    return step


#: One change each that the Python parser refuses or treats in a way the fast path leaves to it.
MUTATIONS = {
    "type": lambda doc, d: doc.update(type=d(st.sampled_from(["universal.cancel", "other", 3]))),
    "no request": lambda doc, d: doc.pop("request"),
    "request": lambda doc, d: doc.update(request=d(st.sampled_from([[], 3, "x", [3]]))),
    "top eventId": lambda doc, d: doc.update(eventId=d(st.sampled_from(["", "x" * 257, 7]))),
    "step": lambda doc, d: first(doc).update(d(st.sampled_from([
        {"provider": ""}, {"provider": 3}, {"endpoint": 3}, {"headers": {"a": 1}}, {"headers": [1]}, {"headers": "h"},
        {"query": None}, {"query": [1]}, {"query": "q"}, {"eventId": ""}, {"eventId": "x" * 257}, {"eventId": 7},
        {"authorization": "Bearer k"}, {"config": {"maxAttempts": 2}}, {"config": 3},
    ]))),
    "step without": lambda doc, d: first(doc).pop(d(st.sampled_from(["provider", "endpoint", "query"]))),
}


def first(doc: dict) -> dict:
    request = doc["request"]
    return request[0] if isinstance(request, list) else request


@st.composite
def messages(draw):
    """A message the fast path reads, or one changed by one of MUTATIONS."""
    request = draw(st.one_of(valid_steps(), st.lists(valid_steps(), min_size=1, max_size=3)))
    doc = {"type": "universal.create", "request": request}
    if draw(st.booleans()):
        doc["eventId"] = draw(st.one_of(st.none(), valid_ids))
    if draw(st.booleans()):
        doc["extra"] = draw(values)
    if draw(st.booleans()):
        MUTATIONS[draw(st.sampled_from(sorted(MUTATIONS)))](doc, draw)
    return orjson.dumps(doc)


def agrees(payload: bytes) -> bool:
    """Whether fast_create agrees with parse_client_message on `payload`; True when it read it."""
    fast = fast_create(payload)
    try:
        slow = parse_client_message(payload)
    except MessageError:
        slow = None
    if fast is None:
        return False
    assert isinstance(slow, Create), payload
    assert fast == (slow.event_id, [s.step_request() for s in slow.steps]), payload
    return True


@settings(max_examples=1500, deadline=None)
@given(messages())
def test_what_fast_create_reads_parse_client_message_reads_the_same(payload):
    agrees(payload)


def test_the_usual_messages_take_the_fast_path():
    usual = {"provider": "openai", "endpoint": "/chat/completions", "headers": {"x-a": "1"}, "query": {"model": "m", "stream": True}}
    for doc in (
        {"type": "universal.create", "request": {**usual, "eventId": "e1"}},
        {"type": "universal.create", "eventId": "top", "request": [usual, {**usual, "provider": "anthropic"}]},
        {"type": "universal.create", "request": {**usual, "endpoint": "models/gemini-2.0:streamGenerateContent", "query": {}}},
    ):
        assert agrees(orjson.dumps(doc))


def test_repeated_keys_and_escapes_are_left_to_the_python_parser_or_read_alike():
    for raw in (
        b'{"type":"universal.create","request":{"provider":"a","provider":"b","endpoint":"x","query":{}}}',
        b'{"type":"universal.create","request":{"provider":"a","endpoint":"x","query":{},"headers":{"k":"1","k":"2"}}}',
        b'{"type":"universal.create","eventId":"a","eventId":"b","request":{"provider":"a","endpoint":"x","query":{}}}',
        b'{"type":"universal.create","x":"\\ud800","request":{"provider":"a","endpoint":"x","query":{}}}',
    ):
        assert fast_create(raw) is None
    escaped = b'{"typ\\u0065":"universal.create","request":{"provid\\u0065r":"\\u00e9","endpoint":"x","query":{"mod\\u0065l":"m"}}}'
    assert agrees(escaped)


@pytest.mark.parametrize("where", ["message", "step", "query"])
@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
def test_nesting_up_to_the_limit_is_read_alike_and_past_it_is_refused(where, depth):
    # The message is level 1, its request object 2, a query 3: lists fill the levels left.
    def lists(levels: int) -> list:
        value: list = []
        for _ in range(levels - 1):
            value = [value]
        return value

    step = {"provider": "openai", "endpoint": "chat/completions", "query": {}}
    doc = {"type": "universal.create", "request": step}
    if where == "message":
        doc["x"] = lists(depth - 1)
    elif where == "step":
        step["x"] = lists(depth - 2)
    else:
        step["query"] = {"x": lists(depth - 3)}
    raw = orjson.dumps(doc)
    if depth <= MAX_DEPTH:
        assert agrees(raw)
    else:
        assert fast_create(raw) is None
        with pytest.raises(MessageError):
            parse_client_message(raw)
