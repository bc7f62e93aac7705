"""A translating sink: wraps any surface's `Sink` (HTTP or WebSocket) so that the pipeline's
upstream answers reach the client in the front door's schema.

The pipeline hands the sink what the answering step's provider sent; this wrapper knows the
`Translation` of every step (a /compat request may be a fallback chain across providers, e.g.
a dynamic route), picks the answering one by `answer.step`, translates, and forwards to the
inner sink. Streams are parsed with the Rust SSE decoder (or the format's own reader: Bedrock's
AWS event stream), translated event by event
(`StreamTranslator.feed`), and handed on as SSE bytes in the front door's format. A stream that
breaks gets the front door's in-stream error event before the inner sink sees the failure.
"""

from __future__ import annotations

import dataclasses
from typing import Any, AsyncIterator, Sequence

from aigw._codec import SseDecoder
from aigw.compat.ir import ProviderError
from aigw.compat.translation import StreamTranslator, Translation
from aigw.errors import AigwError
from aigw.pipeline import StreamFailed
from aigw.types import Framing, Usage

_JSON = "application/json"
_SSE = "text/event-stream"


class FrontDoorStream:
    """What the inner sink is told about a translated stream (it stands where the provider
    would: the terminator and usage of the front door's events)."""

    usage_events = (0, 0)

    def __init__(self, front: str) -> None:
        self.name = "compat"
        self.stream_terminator = b"[DONE]" if front == "openai" else None

    def usage_from_events(self, first: Sequence[bytes], last: Sequence[bytes]) -> Usage | None:
        """Usage is taken from the translator, not from the events (see TranslatingSink)."""
        return None


class Untranslated:
    """The "translation" of a step that is not a /compat step (a plain provider step beside a
    compat one in a Universal request): its answer passes through as it came."""

    passthrough = True
    front = "native"

    def stream_translator(self) -> None:
        """Nothing to translate."""
        return None


UNTRANSLATED = Untranslated()


class TranslatingSink:
    """A Sink that translates each answer with the answering step's `Translation`.

    `own_errors`: when True (the HTTP doors), the gateway's own errors are answered in the front
    door's error shape as a whole answer; when False (a Universal WebSocket step), they go to
    the inner sink unchanged so that the client sees the surface's usual error."""

    def __init__(self, inner: Any, translations: Sequence[Translation], own_errors: bool = True) -> None:
        self.inner = inner
        self.translations = translations
        self.own_errors = own_errors
        self.translator: StreamTranslator | None = None

    def _translation(self, answer: Any) -> Translation:
        step = getattr(answer, "step", 0) or 0
        return self.translations[min(step, len(self.translations) - 1)]

    def deliver(self, answer: Any, body: bytes) -> None:
        """A whole upstream answer (or cache hit), translated; errors in the front door's shape."""
        tr = self._translation(answer)
        if tr.passthrough:
            self.inner.deliver(answer, body)
            return
        status, out = tr.response(answer.status, body)
        self.inner.deliver(dataclasses.replace(answer, status=status, content_type=_JSON, headers=()), out)

    def fail(self, answer: Any, error: AigwError) -> None:
        """The gateway's own error: in the front door's error shape, or as the surface's."""
        if not self.own_errors:
            self.inner.fail(answer, error)
            return
        tr = self._translation(answer)
        status, body = tr.error(ProviderError(error.status, error.message, None, error.code, getattr(error, "param", None)))
        self.inner.deliver(dataclasses.replace(answer, status=status, content_type=_JSON, headers=()), body)

    async def relay(self, answer: Any, chunks: AsyncIterator[bytes], framing: Framing, provider: Any, collect: bool) -> Any:
        """Relay the stream translated; the outcome's usage and terminator are the upstream's."""
        tr = self._translation(answer).stream_translator()
        if tr is None:
            return await self.inner.relay(answer, chunks, framing, provider, collect)
        self.translator = tr
        front = FrontDoorStream(self._translation(answer).front)
        outer = dataclasses.replace(answer, content_type=_SSE, headers=())
        outcome = await self.inner.relay(outer, translate_stream(chunks, tr), Framing.SSE, front, collect)
        usage = tr.usage
        outcome.usage = Usage(usage.input, usage.output) if usage is not None else None
        outcome.saw_terminator = tr.saw_terminator
        return outcome

    def end_stream(self, answer: Any, usage: Usage | None, error: AigwError | None) -> None:
        """End the stream (the front door's error event, if any, was already relayed)."""
        self.inner.end_stream(dataclasses.replace(answer, content_type=_SSE, headers=()) if self.translator else answer, usage, error)


class SsePayloads:
    """SSE bytes → the data payloads of the events they completed (the Rust decoder)."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = SseDecoder()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of each event `chunk` completed. ValueError on a malformed stream."""
        return [data for _, data, _ in self._decoder.feed(chunk)]

    def finish(self) -> bool:
        """True when a partial event was left (the stream was cut)."""
        return self._decoder.finish()


async def translate_stream(chunks: AsyncIterator[bytes], tr: StreamTranslator) -> AsyncIterator[bytes]:
    """Upstream SSE bytes → the front door's SSE bytes, one output chunk per upstream read that
    completed at least one event. When the upstream breaks (its iteration raises) or ends
    without its terminator, the front door's error event is yielded first, then the failure
    is raised / the stream ends, so the pipeline still records a broken stream."""
    decoder = tr.reader() if tr.reader is not None else SsePayloads()
    try:
        async for chunk in chunks:
            try:
                events = decoder.feed(chunk)
            except ValueError as exc:
                yield b"".join(tr.fail(502, f"the upstream stream is malformed: {exc}"))
                raise StreamFailed(str(exc)) from None
            if events:
                try:
                    out = tr.feed(events)
                except (ValueError, TypeError, KeyError, AttributeError):
                    yield b"".join(tr.fail(502, "the upstream sent an event that is not valid JSON"))
                    raise StreamFailed("an upstream event is not valid JSON") from None
                if out:
                    yield b"".join(out)
    except AigwError as err:
        yield b"".join(tr.fail(err.status, err.message))
        raise
    out = tr.close()
    if decoder.finish() or not tr.saw_terminator:
        out += tr.fail(502, "the upstream stream ended before its end")
    if out:
        yield b"".join(out)

