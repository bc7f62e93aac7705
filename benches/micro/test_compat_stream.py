"""Stream translation cost per chunk: Anthropic Messages events → OpenAI `chat.completion.chunk`
SSE lines (the /compat hot loop), and OpenAI chunks → Anthropic events (the Messages front
door). Target (issue 9): ≤ 5 µs per translated Anthropic → OpenAI chunk.

Each call feeds one network read's worth of events (64 text deltas) to a translator that has
already seen `message_start`, as the relay does. ``report.py`` reads ``frames`` per call.
"""

from __future__ import annotations

import pytest

from aigw.compat.translation import Target, Translation

BATCH = 64
ANTHROPIC_DELTA = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token"}}'
OPENAI_DELTA = b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}'


def _translator(front: str, target: Target, first: list[bytes]):
    tr = Translation(front, {"model": "x", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}, target).stream_translator()
    tr.feed(first)
    return tr


@pytest.mark.benchmark(group="compat-stream")
def test_anthropic_to_openai_chunks(benchmark):
    tr = _translator("openai", Target("anthropic", "anthropic", "claude", "v1/messages"), [
        b'{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":3}}}',
        b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
    ])  # fmt: skip
    batch = [ANTHROPIC_DELTA] * BATCH
    benchmark.extra_info.update(frames=BATCH, payload_bytes=len(ANTHROPIC_DELTA) * BATCH, impl="aigw", op="anthropic→openai", size="1 delta")
    out = benchmark(tr.feed, batch)
    assert b"".join(out).count(b"data: ") == BATCH  # a run of text deltas comes as one piece


@pytest.mark.benchmark(group="compat-stream")
def test_openai_to_anthropic_events(benchmark):
    tr = _translator("anthropic", Target("openai", "openai", "gpt-4o-mini", "chat/completions"), [OPENAI_DELTA])
    batch = [OPENAI_DELTA] * BATCH
    benchmark.extra_info.update(frames=BATCH, payload_bytes=len(OPENAI_DELTA) * BATCH, impl="aigw", op="openai→anthropic", size="1 delta")
    out = benchmark(tr.feed, batch)
    assert len(out) == BATCH
