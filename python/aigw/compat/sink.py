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

from typing import Any, AsyncIterator, Sequence

from aigw import _codec
from aigw._codec import SseDecoder
from aigw.compat import anthropic_format, openai_format
from aigw.compat.ir import gateway_error
from aigw.compat.translation import StreamTranslator, Translation
from aigw.errors import AigwError
from aigw.pipeline import Answer, StreamFailed, make_answer, relay_chunks
from aigw.types import Framing, Usage

_JSON = "application/json"
_SSE = "text/event-stream"


def answered_as(answer: Answer, status: int, content_type: str) -> Answer:
    """`answer` as the front door renders it: `status` and `content_type` set, the upstream's
    header fields dropped; every other field as it was. (`dataclasses.replace` did the same in
    ~240 bytecodes, twice per translated stream; tests hold this to it.)"""
    return make_answer(answer.event_id, answer.log_id, answer.step, status, content_type, answer.cache_status, answer.usage, ())


class FrontDoorStream:
    """What the inner sink is told about a translated stream (it stands where the provider
    would: the terminator and usage of the front door's events)."""

    usage_events = (0, 0)
    #: The sink need not read these events for usage or the terminator: the translator knows both.
    reads_events = False

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
        self.inner.deliver(answered_as(answer, status, _JSON), out)

    def fail(self, answer: Any, error: AigwError) -> None:
        """The gateway's own error: in the front door's error shape, or as the surface's."""
        if not self.own_errors:
            self.inner.fail(answer, error)
            return
        tr = self._translation(answer)
        status, body = tr.error(gateway_error(error))
        self.inner.deliver(answered_as(answer, status, _JSON), body)

    async def relay(self, answer: Any, chunks: AsyncIterator[bytes], framing: Framing, provider: Any, collect: bool) -> Any:
        """Relay the stream translated; the outcome's usage and terminator are the upstream's."""
        tr = self._translation(answer).stream_translator()
        if tr is None:
            return await self.inner.relay(answer, chunks, framing, provider, collect)
        self.translator = tr
        front = FrontDoorStream(self._translation(answer).front)
        outer = answered_as(answer, answer.status, _SSE)
        outcome = await self.inner.relay(outer, TranslatedChunks(chunks, tr), Framing.SSE, front, collect)
        usage = tr.usage
        outcome.usage = Usage(usage.input, usage.output) if usage is not None else None
        outcome.saw_terminator = tr.saw_terminator
        return outcome

    def end_stream(self, answer: Any, usage: Usage | None, error: AigwError | None) -> None:
        """End the stream (the front door's error event, if any, was already relayed)."""
        self.inner.end_stream(answered_as(answer, answer.status, _SSE) if self.translator else answer, usage, error)


class SsePayloads:
    """SSE bytes → the data payloads of the events they completed (the Rust decoder)."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = SseDecoder()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of each event `chunk` completed. ValueError on a malformed stream."""
        return self._decoder.feed_data(chunk)

    def finish(self) -> bool:
        """True when a partial event was left (the stream was cut)."""
        return self._decoder.finish()


class TranslatedChunks:
    """Upstream SSE bytes → the front door's SSE bytes, one output chunk per upstream read that
    completed at least one event. When the upstream breaks (its chunks raise) or ends without
    its terminator, the front door's error event comes first, then the failure is raised / the
    stream ends, so the pipeline still records a broken stream.

    Pumped by a sink's `relay_chunks` (each upstream read translated inside the upstream
    connection's data_received: no task wakes per chunk), or iterated."""

    __slots__ = ("chunks", "tr", "decoder")

    def __init__(self, chunks: AsyncIterator[bytes], tr: StreamTranslator) -> None:
        self.chunks = chunks
        self.tr = tr
        self.decoder = tr.reader() if tr.reader is not None else SsePayloads()

    def _translate(self, chunk: bytes) -> tuple[bytes | None, AigwError | None]:
        """The front door's bytes for one upstream chunk, and the failure that ends the
        stream after them (a malformed stream, an event that is not JSON)."""
        try:
            events = self.decoder.feed(chunk)
        except ValueError as exc:
            return self._malformed(exc)
        return self._translate_events(events)

    def _malformed(self, exc: ValueError) -> tuple[bytes, AigwError]:
        """The front door's error event and the failure for a read the decoder refused."""
        return b"".join(self.tr.fail(502, f"the upstream stream is malformed: {exc}")), StreamFailed(str(exc))

    def _translate_events(self, events: list[bytes]) -> tuple[bytes | None, AigwError | None]:
        """`_translate` for the event payloads one read completed."""
        if not events:
            return None, None
        tr = self.tr
        try:
            out = tr.feed(events)
        except (ValueError, TypeError, KeyError, AttributeError):
            return b"".join(tr.fail(502, "the upstream sent an event that is not valid JSON")), StreamFailed("an upstream event is not valid JSON")
        return (b"".join(out) if out else None), None

    # What the native consumer (_TRANSLATIONS, rust/src/python/translated_push.rs) hands back
    # for the reads it does not translate itself: `translated`'s rest, after the decoding.

    def _relay_events(self, events: list[bytes], consume: Any) -> bool:
        """`translated` for a read whose events are decoded: translated, handed to `consume`."""
        out, failure = self._translate_events(events)
        writable = consume(out) if out else True
        if failure is not None:
            raise failure
        return writable

    def _relay_malformed(self, exc: ValueError, consume: Any) -> bool:
        """`translated` for a read the decoder refused: the error event, then the failure."""
        out, failure = self._malformed(exc)
        consume(out)
        raise failure

    def _broken(self, err: AigwError) -> bytes:
        """The front door's error event for an upstream that broke or went silent."""
        return b"".join(self.tr.fail(err.status, err.message))

    def _end(self) -> bytes:
        """The front door's last bytes: its end, or an error event when the upstream's stream
        was cut or lacked its terminator."""
        tr = self.tr
        out = tr.close()
        if self.decoder.finish() or not tr.saw_terminator:
            out += tr.fail(502, "the upstream stream ended before its end")
        return b"".join(out)

    async def pump(self, consume: Any, drained: Any) -> None:
        """Hand the translated stream to `consume` (see `relay_chunks`)."""

        def translated(chunk: bytes) -> bool:
            out, failure = self._translate(chunk)
            writable = consume(out) if out else True
            if failure is not None:
                raise failure
            return writable

        try:
            await relay_chunks(self.chunks, _TRANSLATIONS.make(self, consume) or translated, drained)
        except AigwError as err:
            out = self._broken(err)
            if out:  # nothing when the error event was already sent
                consume(out)
            raise
        out = self._end()
        if out and not consume(out):
            await drained()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.chunks:
                out, failure = self._translate(chunk)
                if out:
                    yield out
                if failure is not None:
                    raise failure
        except AigwError as err:
            out = self._broken(err)
            if out:  # nothing when the error event was already sent
                yield out
            raise
        out = self._end()
        if out:
            yield out


#: The usual read of an Anthropic stream answered as OpenAI chunks, in native code
#: (rust/src/python/translated_push.rs): `make(chunks, consume)` gives `TranslatedChunks.pump`'s
#: consumer for exactly these classes, None otherwise.
_TRANSLATIONS = _codec.TranslatedPushes(
    (TranslatedChunks, SsePayloads, StreamTranslator, anthropic_format.StreamDecoder, openai_format.ChunkEncoder),
    openai_format._TEXT_TAIL,
)
