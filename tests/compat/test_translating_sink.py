"""The translating sink: what the pipeline hands a surface's sink arrives in the front door's
schema (recording inner sink; the pipeline's calls as it makes them)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from aigw.compat.sink import TranslatingSink
from aigw.compat.translation import Target, Translation
from aigw.errors import AigwError, InvalidProvider
from aigw.pipeline import Answer, RelayOutcome, relay_chunks
from aigw.types import Framing

ANTHROPIC = Target("anthropic", "anthropic", "claude", "v1/messages")
GEMINI = Target("google-ai-studio", "gemini", "gemini-2.5-flash", None)
ASK = {"model": "x", "stream": True, "stream_options": {"include_usage": True}, "messages": [{"role": "user", "content": "Hi"}]}


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list = []
        self.relayed: list[bytes] = []

    def deliver(self, answer, body):
        self.calls.append(("deliver", answer.status, answer.content_type, orjson.loads(body)))

    def fail(self, answer, error):
        self.calls.append(("fail", error))

    async def relay(self, answer, chunks, framing, provider, collect):
        self.calls.append(("relay", answer.content_type, framing, provider.stream_terminator))
        error = None
        try:
            async for chunk in chunks:
                self.relayed.append(chunk)
        except AigwError as err:
            error = err
        return RelayOutcome([], [], error=error)

    def end_stream(self, answer, usage, error):
        self.calls.append(("end", usage, error))


class PumpingSink(RecordingSink):
    """Relays as the gateway's sinks do: `relay_chunks`, which pumps the translated stream."""

    async def relay(self, answer, chunks, framing, provider, collect):
        self.calls.append(("relay", answer.content_type, framing, provider.stream_terminator))

        async def drained():
            pass

        error = None
        try:
            await relay_chunks(chunks, lambda chunk: self.relayed.append(chunk) or True, drained)
        except AigwError as err:
            error = err
        return RelayOutcome([], [], error=error)


#: The inner sink iterates the translated stream, or pumps it (the gateway's sinks).
both_ways = pytest.mark.parametrize("inner_sink", [RecordingSink, PumpingSink], ids=["iterated", "pumped"])


def answer(step=0, status=200, content_type="text/event-stream") -> Answer:
    return Answer("e", "l", step, status, content_type)


async def upstream(*parts: bytes, error: AigwError | None = None):
    for part in parts:
        yield part
    if error is not None:
        raise error


def sse(*events: bytes) -> bytes:
    return b"".join(b"data: " + e + b"\r\n\r\n" for e in events)


def test_the_answering_steps_translation_is_used_for_a_whole_answer():
    inner = RecordingSink()
    sink = TranslatingSink(inner, [Translation("openai", ASK, ANTHROPIC), Translation("openai", ASK, GEMINI)])
    body = b'{"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"STOP"}]}'
    sink.deliver(answer(step=1, content_type="application/json"), body)
    (kind, status, ctype, doc), = inner.calls
    assert (kind, status, ctype) == ("deliver", 200, "application/json")
    assert doc["object"] == "chat.completion" and doc["choices"][0]["message"]["content"] == "Hi"


def test_gateway_errors_are_answered_in_the_front_doors_error_shape():
    inner = RecordingSink()
    TranslatingSink(inner, [Translation("openai", ASK, ANTHROPIC)]).fail(answer(status=400), InvalidProvider("Invalid provider"))
    assert inner.calls == [("deliver", 400, "application/json", {"error": {"message": "Invalid provider", "type": "invalid_request_error", "param": None, "code": 2008}})]


@both_ways
def test_a_stream_is_relayed_translated_with_the_upstreams_usage_and_terminator(inner_sink):
    inner = inner_sink()
    sink = TranslatingSink(inner, [Translation("openai", ASK, GEMINI)])
    raw = sse(b'{"candidates":[{"content":{"parts":[{"text":"Hel"}]}}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":1}}',
              b'{"candidates":[{"content":{"parts":[{"text":"lo"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2}}')  # fmt: skip
    outcome = asyncio.run(sink.relay(answer(), upstream(raw[:37], raw[37:]), Framing.SSE, object(), False))
    assert inner.calls[0] == ("relay", "text/event-stream", Framing.SSE, b"[DONE]")
    text = b"".join(inner.relayed)
    assert text.endswith(b"data: [DONE]\n\n") and b'"content":"Hel"' in text and b'"content":"lo"' in text
    assert (outcome.usage.tokens_in, outcome.usage.tokens_out) == (4, 2) and outcome.saw_terminator


@both_ways
def test_a_broken_upstream_stream_gets_the_front_doors_error_event_then_fails(inner_sink):
    inner = inner_sink()
    sink = TranslatingSink(inner, [Translation("openai", ASK, ANTHROPIC)])
    start = sse(b'{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":1}}}')
    outcome = asyncio.run(sink.relay(answer(), upstream(start, error=AigwError("the upstream stream failed", status=502)), Framing.SSE, object(), False))
    assert outcome.error is not None and not outcome.saw_terminator
    assert inner.relayed[-1].startswith(b'data: {"error":{"message":"the upstream stream failed"')


@both_ways
def test_a_stream_that_ends_without_its_terminator_ends_with_an_error_event(inner_sink):
    inner = inner_sink()
    sink = TranslatingSink(inner, [Translation("openai", ASK, ANTHROPIC)])
    start = sse(b'{"type":"message_start","message":{"id":"msg_1","model":"claude"}}')
    outcome = asyncio.run(sink.relay(answer(), upstream(start), Framing.SSE, object(), False))
    assert not outcome.saw_terminator and b'"error"' in inner.relayed[-1] and b"[DONE]" not in b"".join(inner.relayed)


@both_ways
def test_a_malformed_upstream_event_gets_one_error_event_then_fails(inner_sink):
    inner = inner_sink()
    sink = TranslatingSink(inner, [Translation("openai", ASK, ANTHROPIC)])
    start = sse(b'{"type":"message_start","message":{"id":"msg_1","model":"claude"}}')
    outcome = asyncio.run(sink.relay(answer(), upstream(start, sse(b"{not json")), Framing.SSE, object(), False))
    assert outcome.error is not None
    assert sum(b'"error"' in chunk for chunk in inner.relayed) == 1 and all(inner.relayed)


def test_an_answer_rendered_by_the_front_door_keeps_every_field_but_status_type_and_headers():
    import dataclasses

    from aigw.compat.sink import answered_as

    # Every field set to a value of its own, so a field Answer gains and answered_as drops
    # (leaves at its default) fails here.
    answer = Answer(**{f.name: f"value of {f.name}" for f in dataclasses.fields(Answer)})
    assert answered_as(answer, 201, "text/event-stream") == dataclasses.replace(
        answer, status=201, content_type="text/event-stream", headers=()
    )


def anthropic_text_stream(*texts: str) -> list[bytes]:
    """An Anthropic Messages stream of `texts` as text deltas, one SSE event per item."""
    events = [b'{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":3,"output_tokens":1}}}',
              b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}']  # fmt: skip
    events += [b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%s}}' % orjson.dumps(t) for t in texts]
    events += [b'{"type":"content_block_stop","index":0}',
               b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}',
               b'{"type":"message_stop"}']  # fmt: skip
    return [sse(e) for e in events]


def relayed_pumped(parts: list[bytes], monkeypatch, native: bool) -> tuple[list[bytes], RelayOutcome]:
    """What PumpingSink relays for `parts` (each one read) through the native consumer or the Python."""
    from aigw.compat import sink as sink_module

    if not native:
        monkeypatch.setattr(sink_module, "_TRANSLATIONS", type("NoNative", (), {"make": staticmethod(lambda chunks, consume: None)}))
    inner = PumpingSink()
    outcome = asyncio.run(TranslatingSink(inner, [Translation("openai", ASK, ANTHROPIC)]).relay(answer(), upstream(*parts), Framing.SSE, object(), False))
    monkeypatch.undo()
    return inner.relayed, outcome


def same_second(chunks: list[bytes]) -> list[bytes]:
    import re

    return [re.sub(rb'"created":\d+', b'"created":0', c) for c in chunks]


@pytest.mark.parametrize("split", ["one event a read", "two events a read", "cut mid-event", "whole stream in one read"])
def test_an_anthropic_text_stream_pumped_natively_is_relayed_as_the_python_relays_it(split, monkeypatch):
    events = anthropic_text_stream("Hel", "lo", ' "w"', "orld ✓", "\\n")
    raw = b"".join(events)
    parts = {
        "one event a read": events,
        "two events a read": [b"".join(events[i : i + 2]) for i in range(0, len(events), 2)],
        "cut mid-event": [raw[i : i + 45] for i in range(0, len(raw), 45)],
        "whole stream in one read": [raw],
    }[split]
    native, native_outcome = relayed_pumped(parts, monkeypatch, native=True)
    python, python_outcome = relayed_pumped(parts, monkeypatch, native=False)
    assert same_second(native) == same_second(python)
    assert b'"content":"orld \xe2\x9c\x93"' in b"".join(native) and b"".join(native).endswith(b"data: [DONE]\n\n")
    assert native_outcome.saw_terminator and (native_outcome.usage.tokens_in, native_outcome.usage.tokens_out) == (3, 7)


def test_the_native_consumer_translates_a_read_of_text_deltas_without_the_python(monkeypatch):
    from aigw.compat.sink import TranslatedChunks

    handed_back = []
    relay_events = TranslatedChunks._relay_events
    monkeypatch.setattr(TranslatedChunks, "_relay_events", lambda self, events, consume: (handed_back.append(len(events)), relay_events(self, events, consume))[1])
    events = anthropic_text_stream("a", "b", "c", "d")
    inner = PumpingSink()
    asyncio.run(TranslatingSink(inner, [Translation("openai", ASK, ANTHROPIC)]).relay(answer(), upstream(*events), Framing.SSE, object(), False))
    # The start's two events (no chunk head yet) and the end's three came back to Python; the
    # four text deltas did not.
    assert handed_back == [1, 1, 1, 1, 1]
    assert b"".join(inner.relayed).count(b'"content":') == 5  # the role chunk's "" and four texts


def test_a_gemini_stream_gets_no_native_consumer():
    from aigw.compat.sink import _TRANSLATIONS, TranslatedChunks

    tr = Translation("openai", ASK, GEMINI).stream_translator()
    assert _TRANSLATIONS.make(TranslatedChunks(upstream(), tr), lambda chunk: True) is None
    tr = Translation("openai", ASK, ANTHROPIC).stream_translator()
    assert _TRANSLATIONS.make(TranslatedChunks(upstream(), tr), lambda chunk: True) is not None
