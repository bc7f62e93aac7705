"""Stubs for the Rust extension ``aigw._codec`` (rust/src/python.rs).

Bytes are Rust's, meaning is Python's: every byte-level format on the hot path is parsed and
serialized here. Functions never panic on input; malformed input raises or yields an error event.
"""

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Set as AbstractSet
from typing import Any, Final, Sequence, TypeVar

__version__: str

# ---- WebSocket (RFC 6455 / RFC 7692) -------------------------------------------------------

TEXT: Final[int]  # 0x1
BINARY: Final[int]  # 0x2
CLOSE: Final[int]  # 0x8
PING: Final[int]  # 0x9
PONG: Final[int]  # 0xA
FAIL: Final[int]  # 0x100: not an opcode; the codec failed the connection (see WsCodec)
RELAYED: Final[int]  # 0x200: not an opcode; a message WsCodec.relay_buffered relayed and reports

class DeflateParams:
    """Negotiated permessage-deflate parameters (RFC 7692 §7)."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int  # 8..15 (8 is treated as 9 when compressing)
    client_max_window_bits: int

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
        client_max_window_bits: int = 15,
    ) -> None:
        """Parameters as agreed (a client builds them from the server's response).
        Raises ValueError for window bits outside 8..15. Compared by value."""

def negotiate_deflate(
    offers: str,
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int = 15,
    client_max_window_bits: int = 15,
) -> tuple[str, DeflateParams] | None:
    """Server side: pick the first acceptable permessage-deflate offer from the
    ``Sec-WebSocket-Extensions`` header value(s) ``offers``. Returns the response extension
    header value and the agreed parameters, or None when no offer is acceptable.
    Raises ValueError on a malformed offer."""

class WsCodec:
    """One WebSocket connection's framing: an incremental parser over a codec-owned read
    buffer plus an output queue. Sans-I/O: nothing here touches a socket.

    Events returned by ``buffer_updated`` / ``receive_data`` are tuples:
      (TEXT, payload: bytes)   complete message, fragments assembled, inflated, UTF-8 checked
      (BINARY, payload: bytes) complete message
      (PING, payload: bytes)   a pong was already queued when auto_pong is on
      (PONG, payload: bytes)
      (CLOSE, code: int, reason: str)  the peer's close frame (code 1005 when it had no body);
                                       nothing is queued in reply: the caller decides
      (FAIL, code: int, reason: str)   protocol violation: a close frame with `code`
                                       (1002, 1007, 1009) has been queued, further input is
                                       ignored, and the caller should flush and close. That
                                       close frame stays last in the queue: replies sent to
                                       the events before the failure go out ahead of it.
    Events before a failure are delivered first, in order.

    The read buffer has a fixed size (``read_buffer_size``, clamped to 1 KiB..64 MiB): frames
    larger than it stream through it into the message being assembled. It is held only while
    input is in progress: once everything received is consumed (no partial frame, no
    fragmented message pending) the codec lets it go, so an idle connection holds none. Data messages
    are compressed when ``deflate`` is given (each direction uses its negotiated parameters).
    Client mask keys come from a fast non-cryptographic RNG seeded from the OS (RFC 6455 §5.3).
    """

    def __init__(
        self,
        *,
        client: bool = False,
        max_message_size: int = 16 * 1024 * 1024,
        max_frame_size: int | None = None,
        auto_pong: bool = True,
        deflate: DeflateParams | None = None,
        read_buffer_size: int = 64 * 1024,
    ) -> None: ...
    # -- input --
    def get_buffer(self, sizehint: int) -> memoryview:
        """A writable view of the free tail of the read buffer (asyncio BufferedProtocol).
        `sizehint` is ignored. The view keeps the buffer's memory alive (not the codec); it is
        valid until the next buffer_updated/receive_data call (which may move unconsumed bytes
        to the front, or release the buffer: bytes written into a stale view are never
        parsed, and a later buffer_updated for them raises ValueError)."""
    def buffer_updated(self, nbytes: int) -> list[tuple]:
        """`nbytes` were written into the last view from get_buffer: parse them.
        Raises ValueError if `nbytes` exceeds that view's length."""
    def relay_buffered(self, nbytes: int, peer: WsCodec, report: bytes | None = None) -> list[tuple]:
        """Like ``buffer_updated``, but every complete TEXT/BINARY message is queued on
        `peer`'s output (framed for its role: masked when it is a client, compressed when it
        negotiated deflate; text was UTF-8 checked here) instead of returned: no Python object
        per message. Returns the other events, plus ``(RELAYED, opcode, payload)`` for each
        relayed message whose payload contains `report` (b"" reports every one), in wire
        order. The caller checks that `peer` may send (its connection is open) and flushes it.
        ``relayed_messages`` / ``relayed_bytes`` count what this codec relayed."""
    @property
    def relayed_messages(self) -> int:
        """Data messages ``relay_buffered`` has queued on peers."""
    @property
    def relayed_bytes(self) -> int:
        """Payload bytes of those messages."""
    def receive_data(self, data: bytes | bytearray | memoryview) -> list[tuple]:
        """Copy `data` into the read buffer and parse it (tests, non-buffered transports)."""
    # -- output (appended to the output queue; nothing is written anywhere) --
    def send_text(self, data: bytes | str) -> None:
        """Queue one text message; bytes must already be valid UTF-8 (not re-checked)."""
    def send_binary(self, data: bytes | bytearray | memoryview) -> None: ...
    def send_ping(self, data: bytes = b"") -> None:
        """Queue a ping; ValueError if `data` is over 125 bytes (any bytes-like accepted)."""
    def send_pong(self, data: bytes = b"") -> None:
        """Queue a pong; ValueError if `data` is over 125 bytes (any bytes-like accepted)."""
    def send_close(self, code: int | None = 1000, reason: str = "") -> None:
        """Queue a close frame (code None: an empty close body). ValueError for a code that
        may not be sent (1005, 1006, 1015, <1000, 1016-2999, >4999) or a reason over 123
        UTF-8 bytes."""
    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        """Queue one raw frame (fragmentation, tests). No compression, no checks
        (opcode 0..15; any bytes-like payload)."""
    def data_to_send(self) -> bytes:
        """Drain and return everything queued (b"" when empty)."""
    def data_to_send_vectored(self) -> bytes | list[bytes]:
        """Drain everything queued: bytes for one ``transport.write``, or, when large messages
        were queued by reference, a list of bytes in wire order for one
        ``transport.writelines``. Server side without compression, ``send_text``/``send_binary``
        of an exact ``bytes`` of at least 64 KiB queue only the frame header and keep a
        reference to the object, which appears in the list itself (not copied). Sends that
        cannot go by reference (client, deflate, bytearray/memoryview, str) are copied as
        always; ``data_to_send`` joins everything into one bytes."""
    @property
    def output_size(self) -> int:
        """Bytes queued and not yet drained."""
    @property
    def buffered_input(self) -> int:
        """Bytes received but not yet consumed (a partial frame header or control frame)."""
    @property
    def closed(self) -> bool:
        """True once a peer CLOSE or a FAIL was reported; further input is ignored."""

# ---- HTTP/1.1 heads (RFC 9112) ---------------------------------------------------------------

class HttpParseError(ValueError):
    """A malformed or oversized head. args: (status: int, message: str); status is the HTTP
    status a server should answer with (400, 414, 431, 505); response-head errors carry 502
    (what the gateway answers when an upstream sends a broken head)."""

def parse_request_head(
    data: bytes | bytearray | memoryview,
    max_size: int = 16384,
    max_headers: int = 100,
    *,
    max_target: int = 8192,
    start_hint: int = 0,
    index: bool = False,
) -> tuple[Any, ...] | None:
    """Parse one request head at the start of `data`.
    Returns (method, target, minor_version, headers, consumed) where header names are
    lowercased bytes and values are bytes with surrounding whitespace removed, or None when
    the head is incomplete (and within max_size). Raises HttpParseError. With `index`, a sixth
    item: {name: [value, ...]} as text (ISO-8859-1), names in the order first seen.

    Strict RFC 9112: CRLF only (bare LF or CR: 400), no obs-fold, no whitespace before a colon,
    token method/names, no CTLs but HTAB in values; HTTP/1.x only (other majors: 505); leading
    empty lines skipped; target over max_target: 414; head over max_size or more than
    max_headers fields: 431. `start_hint`: when calling again on a grown buffer, pass the
    length it had at the last call that returned None, so the search for the end of the head
    resumes there instead of rescanning (a wrong hint may hide the end: pass 0 if unsure)."""

def parse_response_head(
    data: bytes | bytearray | memoryview,
    max_size: int = 65536,
    max_headers: int = 200,
    *,
    start_hint: int = 0,
    framing: bool = False,
) -> tuple[Any, ...] | None:
    """Parse one response head: (status, reason, minor_version, headers, consumed) or None.
    Same rules as requests except that a bare LF line end is accepted (RFC 9112 §2.2 MAY) and
    errors carry status 502. The reason phrase is decoded as latin-1 and may be empty. With
    `framing`, a sixth item: (first Content-Length, whether a later Content-Length differs,
    Transfer-Encoding values joined with ",", Connection values joined with ",", the last
    Content-Encoding, the last Keep-Alive, each None when absent; and the first Content-Type
    as latin-1 text, "" when absent)."""

def take_whole_response(
    data: bytes | bytearray | memoryview,
    max_size: int,
    start_hint: int,
    decode: bool,
    make: Callable[..., Any],
    headers_type: Callable[[list[tuple[bytes, bytes]]], Any],
    limit: Any,
    max_body: Any,
) -> tuple[Any, ...] | None:
    """The upstream client's usual answer in one call. Parses the head at the start of `data`
    as `parse_response_head(data, max_size, start_hint=start_hint, framing=True)` and, when the
    answer came whole with its head (a final status with a body, one plain Content-Length
    matched exactly by the bytes after the head, no Transfer-Encoding, no Content-Encoding when
    `decode`), returns `(make(status, reason, minor, headers_type(fields), content_type, [body]
    or [], len(body), limit, max_body), reusable, keep_alive)`: `reusable` is HTTP/1.1 without
    `Connection: close`, `keep_alive` the last Keep-Alive value (None when absent). Returns None
    when the head is not all here, and parse_response_head's six-item tuple for any other
    answer (frame it from the sixth item). Raises HttpParseError."""

# ---- HTTP/1.1 bodies and upstream stream framings --------------------------------------------

class ChunkedDecoder:
    """Incremental chunked transfer-coding decoder (RFC 9112 §7.1); input may be split at any
    byte. Extensions are ignored and trailers skipped (each bounded); every CRLF is checked.
    Malformed framing raises ValueError, and the decoder keeps raising afterwards."""

    def __init__(self, max_chunk_size: int = 1 << 40) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Decode one read; return the body bytes it carried (b"" when none). When the whole
        read is chunk data the same bytes object is returned (no copy)."""
    @property
    def done(self) -> bool:
        """The last chunk and the trailer section have been read."""
    @property
    def unused_data(self) -> bytes:
        """Bytes fed after the end of the body (the start of the next message), accumulated."""

class SseDecoder:
    """WHATWG server-sent events decoder (providers.md §13): CRLF/LF/CR line ends, BOM at
    offset 0 dropped once, comments skipped, one space after the colon stripped, data lines
    joined with LF, `id` containing NUL ignored, `retry` digits only, blank line dispatches and
    an event without data dispatches nothing. Chunking-invariant. An event (or pending line)
    over max_event_size raises ValueError, and the decoder keeps raising afterwards."""

    def __init__(self, max_event_size: int = 8 << 20) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[str | None, bytes, str | None]]:
        """Decode one read; return the events it completed as (event_type, data, id) where
        event_type is None for the default "message" and id is the last event id seen (it
        persists across events) or None."""
    def feed_data(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Decode one read as `feed` does; return only the data of each event it completed."""
    def finish(self) -> bool:
        """End of stream: discard any unterminated event or line and return True when there
        was one (the stream was truncated)."""
    @property
    def retry(self) -> int | None:
        """The last valid `retry:` value in milliseconds."""
    @property
    def last_event_id(self) -> str | None: ...

class NdjsonDecoder:
    """Newline-delimited JSON line splitter: LF or CRLF, empty lines skipped. A line over
    max_line_size raises ValueError, and the decoder keeps raising afterwards."""

    def __init__(self, max_line_size: int = 8 << 20) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Decode one read; return its complete non-empty lines without terminators."""
    def finish(self) -> bytes | None:
        """End of stream: the final unterminated line, or None when there is none."""

class EventStreamDecoder:
    """AWS event-stream decoder (`application/vnd.amazon.eventstream`, Bedrock's streams):
    prelude and message CRC32s checked, typed headers, split-invariant. Header values are bool,
    int (int8..int64, timestamps in ms), bytes (byte arrays, UUIDs) or str. A CRC mismatch,
    inconsistent lengths, headers over 128 KiB, a message over max_message_size (refused at its
    prelude) or a malformed header raises ValueError, and the decoder keeps raising afterwards."""

    def __init__(self, max_message_size: int = 16 * 1024 * 1024 + 128 * 1024 + 16) -> None: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[dict[str, bool | int | bytes | str], bytes]]:
        """Decode one read; return the messages it completed as (headers, payload)."""
    def finish(self) -> bool:
        """End of stream: True when a partial message was left over (the stream was truncated)."""

# ---- byte kernels for benches and diagnostics (not a hot-path API) ----------------------------

def apply_mask_in_place(buf: bytearray, key: bytes) -> None:
    """XOR `buf` in place with the 4-byte `key` (RFC 6455 §5.3; its own inverse) using the
    codec's masking kernel. ValueError unless `key` is 4 bytes."""

def validate_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8 (the codec's validator: ASCII fast path, then simdutf8)."""

def mask_kernel() -> str:
    """The masking kernel runtime dispatch picked: "avx2", "sse2" or "u64"."""


# ---- Universal API stream relay --------------------------------------------------------------

def serialize_response_head(
    status: int, reason: str, headers: Iterable[tuple[str, str]], content_length: int | None = None, chunked: bool = False, close: bool = False
) -> bytes:
    """The bytes of an HTTP/1.1 response head (ISO-8859-1): the status line, each header but
    content-length / transfer-encoding (and connection when `close`), then the framing
    headers from the keywords. ValueError for a CR or LF in a header, or a character past
    U+00FF (rust/src/http.rs)."""

def take_whole_request(
    buf: bytearray,
    max_size: int,
    max_headers: int,
    start_hint: int,
    max_body: int,
    make: Callable[..., Any],
    headers_type: Callable[[list[tuple[bytes, bytes]], dict[str, list[str]]], Any],
    client: Any,
    tls: bool,
    unquote: Callable[[str], str],
) -> Any:
    """The server reader's usual request in one call. Parses the head at the start of `buf` as
    `parse_request_head(buf, max_size, max_headers, start_hint=start_hint, index=True)` and,
    when its body is all here and plainly framed (no Transfer-Encoding; no Content-Length, or
    equal plain ones of at most `max_body`), removes the request's bytes from `buf` and returns
    `make(method, target, path, query, http_version, headers_type(fields, index), client, body,
    tls, [], keep_alive)`: path the target before any "?" (through `unquote` when it holds a
    "%"), query after it, keep_alive the server's rule (HTTP/1.1 unless a Connection token is
    close; 1.0 on keep-alive). Returns None when the head is not all here, and parse_request_head's
    six-item tuple (nothing removed) when the body is not whole. Raises HttpParseError."""

def whole_response(status: int, reason: str, headers: Iterable[tuple[str, str]], body: bytes, close: bool) -> bytes:
    """A whole response in one bytes object: the head `serialize_response_head` writes for
    `content_length=len(body)` (and `close`), then `body`. Errors as it."""

def relayed_headers(raw: Iterable[tuple[bytes | str, bytes | str]]) -> tuple[list[tuple[str, str]], bool]:
    """An upstream response's fields minus the hop's own (connection, keep-alive,
    transfer-encoding, te, trailer, upgrade, proxy-*, content-length, content-encoding) and any
    cf-aig-*, as str pairs (ISO-8859-1), and whether a content-type is among them."""

def create_reader(max_depth: int, max_event_id: int, step: Callable[..., Any]) -> Callable[[bytes], tuple[str | None, list[Any]] | None]:
    """A builtin `fast_create(payload)` (one argument: no keyword parsing, no Python frame):
    the usual `universal.create` read in one pass, `(eventId or None, [step(provider, endpoint,
    headers, query bytes as sent, stream, model, None), ...])`, or None for anything else (the
    Python parser's). Containers past `max_depth` levels or an eventId past `max_event_id`
    characters are left to Python."""

def cut_queries(payload: bytes, max_depth: int) -> tuple[bytes, list[tuple[bytes, bool, str | None] | None]] | None:
    """A Universal client message with each step's `query` object cut out (rust/src/universal.rs):
    (the message with those queries replaced by null, one slot per step: the query's bytes as
    sent, its top-level "stream" is true, its top-level "model" string). None when nothing was
    cut, a query would nest the message past `max_depth` levels or holds what a JSON decoder
    refuses (lone surrogate, overflowing number), or the message is unusual (not an object,
    repeated request/query keys, invalid JSON): decode the message as it is."""

_D = TypeVar("_D", bound=dict)
_T = TypeVar("_T")

def gateway_token(raw: object) -> str | None:
    """The gateway token an HTTP request presents (`raw`: `Headers.raw`), as
    `bearer_token(headers.get("cf-aig-authorization"))` reads it. None when it presents none,
    and also when an item before it is not a pair of bytes or its value holds a byte other
    than visible ASCII, space and tab (the Python then decides)."""

def split_client_fields(raw: object, hop: AbstractSet[str], cls: type[_D]) -> tuple[_D, _D] | None:
    """An HTTP request's headers (`raw`: the parser's list of `(name, value)` bytes pairs,
    `Headers.raw`) as (provider headers, `cf-aig-*` options), text, each name with its last
    value in the order first seen, both new `cls` instances: `cf-aig-authorization` in neither,
    `traceparent` in both; names in `hop`, starting `proxy-` or named by the first `connection`
    value dropped. None unless `raw` is a list of bytes pairs, every name a lowercase token and
    every value a field value without surrounding spaces (what `validation.header_fields`
    keeps as is)."""

def has_field(raw: object, name: bytes) -> bool | None:
    """Whether `raw` (a list of `(name, value)` bytes pairs) has a field named `name`, byte for
    byte. None when `raw` is not a list of bytes pairs."""

def index_fields(raw: object) -> dict[str, list[str]] | None:
    """`Headers`' name index of `raw` (a list of `(name, value)` bytes pairs): each name with
    its values in order, both decoded as latin-1, in the order first seen. None when `raw` is
    not a list of bytes pairs."""

def request_message(
    method: str, target: bytes, host: bytes, fields: Iterable[tuple[str | bytes, str | bytes]], body: bytes | bytearray | memoryview | None = None
) -> bytes | None:
    """The upstream client's whole request: `{method} {target} HTTP/1.1`, Host, each field but
    Host / Content-Length / Transfer-Encoding / Connection (any case), Content-Length and the
    body (`Content-Length: 0` for a POST, PUT or PATCH without one), as the Python head builder
    writes it; None for anything unusual (a field that is not a (str | bytes, str | bytes)
    tuple, a method that is not a token, CR or LF anywhere, a character above U+00FF)."""

def any_name_starts(headers: dict[str, Any], prefix: str) -> bool:
    """Whether any key of `headers` starts with `prefix` (TypeError for a key that is not a str)."""

def forwardable_headers(
    headers: dict[str, str], excluded: AbstractSet[str], auth: tuple[str, str] | None = None, default_type: bool = False
) -> list[tuple[str, str]]:
    """The (name, value) pairs of `headers` whose name is not in `excluded` and does not start
    `cf-aig-` or `proxy-`, in order; with `auth`, every field of its name replaced by it,
    appended; with `default_type`, `content-type: application/json` appended when none is
    forwarded. TypeError for a name that is not a str."""

def stream_and_model(endpoint: str, query: str, content_type: str, body: bytes | bytearray | memoryview) -> tuple[bool, str | None]:
    """A pass-through request's (stream asked, model or None): the body's top-level "stream" /
    "model" when it is a JSON object mentioning either and `content_type` contains "json";
    a stream also for `:streamGenerateContent`, `alt=sse` and `-stream` / `/stream` paths; the
    model else the endpoint's (`models/{m}`, or a `@cf/` / `@hf/` model id)."""

def lone_model(body: bytes) -> tuple[bool, str, int, int] | None:
    """`(stream, model, start, end)` of a request body that is one JSON object a decoder
    accepts whose only top-level "model" is a string (`body[start:end]` its literal, quotes
    included) and none of whose top-level keys is spelled with escapes; None for any other
    body. "stream" is whether the last top-level "stream" is true."""

def splice(body: bytes, start: int, end: int, insert: bytes) -> bytes:
    """`body[:start] + insert + body[end:]`, made in one allocation. ValueError unless
    `0 <= start <= end <= len(body)`."""

def body_fields(body: bytes) -> tuple[bool, str | None] | None:
    """(top-level "stream" is true, top-level "model" string) of a body that is one JSON object
    a decoder accepts; None for any other body. Nothing is decoded into Python objects."""

def anthropic_text_chunks(events: list[bytes], start: int, head: bytes, tail: bytes) -> tuple[bytes, int]:
    """For the run of Anthropic text-delta events from `events[start]`: one OpenAI chunk per
    event (`head`, `{"content":`, the text's JSON literal as sent, `tail`), joined, and the index
    of the first event that is not a text delta (or that a JSON decoder refuses): the caller
    translates that one itself (rust/src/compat.rs)."""

def created_message(
    cache_status: str,
    event_id: str,
    log_id: str,
    step: int,
    content_type: str,
    status: int,
    usage: tuple[int | None, int | None] | None,
    body: bytes,
) -> bytes:
    """The `universal.created` message for a whole answer: the bytes
    `created(universal_metadata(answer), body)` makes (metadata in that key order, the step as
    a string, usage as tokensIn/tokensOut when not None; `body` verbatim when it is JSON in
    valid UTF-8, else a JSON string with U+FFFD for invalid UTF-8; the very object
    `openai_usage` / `anthropic_usage` last read to its end is known to be JSON and not walked
    again). Counts past 64 bits raise OverflowError (the caller writes those in Python)."""

def is_json(data: bytes) -> bool:
    """Whether `data` is exactly one JSON document in valid UTF-8 (surrounding whitespace
    allowed): the test the relay uses before splicing data verbatim."""

class StreamRelay:
    """One streamed request's relay: upstream SSE, NDJSON or AWS event-stream reads become
    `{"type":"universal.stream","metadata":{"eventId":...},"response":<data>}` text messages
    queued on a WsCodec, with no Python object per event. Data that is one JSON document is
    spliced verbatim, anything else as a JSON string. A data payload equal to `terminator`
    (whitespace-trimmed) ends the stream and is not relayed.

    framing "eventstream" (`application/vnd.amazon.eventstream`, Bedrock): both CRC32s checked,
    each message relayed as aigw relays Bedrock's events: an invoke `chunk` as the model event
    its base64 `bytes` carry (invalid base64 is an error), any other event as
    `{"<:event-type>": payload}`, a message without an event type as its payload. An
    `exception` / `error` message raises ValueError("upstream <:exception-type>" /
    "upstream error <:error-code>"), never quoting the payload. `saw_terminator` is always
    True (an event stream ends with its last message); `max_event_size` (default AWS's limit,
    16 MiB + 128 KiB + 16) bounds one message, refused at its prelude.

    Fed without a `ws` (None), the relay only reads: events are counted and the first/last
    payloads kept (the HTTP route's tap beside bytes it passes through unchanged)."""

    def __init__(
        self,
        event_id: str,
        framing: str = "sse",  # "sse" | "ndjson" | "eventstream"
        *,
        terminator: bytes | None = None,
        keep_first: int = 1,
        keep_last: int = 2,
        max_event_size: int | None = None,  # None: 8 MiB (sse, ndjson), AWS's limit (eventstream)
        collect: bool = False,
        collect_limit: int = 10 << 20,
    ) -> None: ...
    def feed(self, chunk: bytes, ws: WsCodec | None = None) -> int:
        """Relay one network read into `ws`'s output (None: read only); the number of events
        it completed. Events completed before an error in the same read are relayed. ValueError
        on a malformed or oversized event or an event-stream exception; the relay then keeps
        raising."""
    def finish(self, ws: WsCodec | None = None) -> bool:
        """The upstream ended: True when an SSE event or an event-stream message was cut off
        (truncated stream)."""
    @property
    def first(self) -> list[bytes]: ...
    @property
    def last(self) -> list[bytes]: ...
    @property
    def events(self) -> int: ...
    @property
    def saw_terminator(self) -> bool: ...
    @property
    def collected(self) -> bytes: ...

# ---- logs (rust/src/logid.rs, rust/src/python/logrow.rs) ---------------------------------------

def new_log_id() -> str:
    """A fresh lowercase UUIDv7 (RFC 9562); ids from one process sort in creation order, also
    within one millisecond. Thread-safe."""

class LogRowEncoder:
    """SQLite log rows (aigw.builtins.sqlite_logs.log_row's, column for column) encoded when a
    record is logged, as marshal bytes a writer process loads with one `marshal.loads`."""

    def __init__(self, record_type: type, attempt_type: type, attempt_fields: list[str], max_error_chars: int) -> None: ...
    def add(
        self,
        record: object,
        request_body_size: int | None,
        response_body_size: int | None,
        request_body: bytes | None = None,
        response_body: bytes | None = None,
    ) -> bool:
        """Append the record's row (and its bodies row when a body is given); False, with
        nothing appended, when a value needs the Python encoder."""
    def set_bounds(self, max_body_bytes: int, max_backlog: int, max_backlog_bytes: int, batch_size: int) -> None:
        """The bounds `submit` applies (LogBatcher's settings)."""
    def submit(self, record: object) -> int:
        """LogBatcher's common case in one call: 0 appended, 1 appended and the writer should
        wake (the first pending row or a full batch), 2 not appended (max_backlog rows wait),
        3 not appended (a body over a bound, a value only Python encodes, no bounds set: the
        batcher decides in Python)."""
    def add_marshalled(self, row: bytes, bodies: bytes | None = None, body_bytes: int = 0) -> None:
        """Append a row (and bodies row) from `marshal.dumps(tuple, 2)`."""
    def take_all(self, limit: int) -> list[tuple[LogPayload, int]]:
        """Every pending row as `[(payload of marshal.dumps((rows, bodies)), rows in it), ...]`,
        at most `limit` rows each, oldest first; nothing is pending after (each byte copied
        once, into a buffer reused once its payload is freed)."""
    @property
    def body_bytes(self) -> int: ...
    def __len__(self) -> int: ...

class LogPayload:
    """One batch of encoded log rows: a read-only bytes-like object (`len()`, buffer protocol;
    `bytes(payload)` copies it) whose memory the encoder reuses once it is freed."""

    def __len__(self) -> int: ...
    def __buffer__(self, flags: int) -> memoryview: ...

class LogEntry:
    """LogBatcher's `submit` for an encoded backlog as one native call: the common record is
    appended to `encoder` and counted, `wake()` called when the writer should wake; anything
    else is `slow(record)`, whose answer is returned (True when accepted here)."""

    def __init__(self, encoder: LogRowEncoder, wake: Callable[[], object], slow: Callable[[object], bool]) -> None: ...
    def __call__(self, record: object) -> bool: ...
    def as_function(self) -> Callable[[object], bool]:
        """A builtin function doing what calling the entry does, without an argument tuple."""
    def close(self) -> None:
        """Send every later record to `slow`."""
    def take_accepted(self) -> int:
        """Records accepted here since the last call."""

class SlotsMaker:
    """Builds instances of one `__slots__` class from its fields given positionally, in field
    order, writing each field's slot directly (`aigw.slots_maker.maker` builds one for a
    dataclass). `fields`: (name, kind, value) per field; kind 0 required, 1 `value` is the
    default, 2 `value` is a default factory."""

    def __init__(self, cls: type, fields: list[tuple[str, int, object]]) -> None: ...
    def __call__(self, *args: object) -> Any: ...
    def as_function(self) -> Callable[..., Any]:
        """A builtin function doing what calling the maker does, without an argument tuple."""

class UpstreamExchange:
    """The upstream client's usual exchange in native code (aigw.upstream.client;
    rust/src/python/upstream_exchange.rs, upstream_body.rs): the same steps as the Python
    methods, which handle every other case. `client`, `pool`, `connection`, `response`:
    UpstreamClient, _Pool, Connection, UpstreamResponse (the slots it uses are checked:
    ValueError); `make_response`, `headers_type`: what `take_whole_response` is given;
    `make_streamed`: the maker of a response whose body follows; `on_first_byte`, `on_total`:
    the deadline callbacks."""

    def __init__(
        self,
        client: type,
        pool: type,
        connection: type,
        response: type,
        make_response: Callable[..., Any],
        make_streamed: Callable[..., Any],
        headers_type: Callable[..., Any],
        on_first_byte: Callable[[Any], None],
        on_total: Callable[[Any], None],
    ) -> None: ...
    def receiver(self, connection: Any) -> Callable[[bytes], None]:
        """`connection`'s data_received: a whole answer for the waiting request taken
        natively, the usual streamed head's body started, a pushed body's reads fed to its
        `on_data` and its end parking the connection; anything else left to
        `connection._received` (holds it weakly)."""
    def send_function(self) -> Callable[[Any, Any, bytes, bool, float, float, bool], tuple[Any, Any] | None]:
        """`send(pool, owner, data, is_head, first_byte_timeout, total_deadline, decode)`: an
        idle live connection taken for `owner` and the request written, `(connection,
        waiter)`; None, with nothing changed, when the case is not the usual one."""

class WholeAnswer:
    """The pipeline's usual answer (whole, JSON, from the gateway's own upstream client) read,
    logged and delivered in one native call, as `_Run._whole_answer` and `_deliver` do
    (aigw.pipeline; rust/src/python/whole_answer.rs). `classes`: (_Run, StepPlan, Overrides,
    UpstreamResponse, Attempt, GatewayRequest, LogRecord), their slots checked (ValueError);
    `media_types`, `framings`, `textual`: the pipeline's memos; `json`: Framing.JSON."""

    def __init__(
        self,
        classes: tuple[type, type, type, type, type, type, type],
        media_types: dict[Any, Any],
        framings: dict[Any, Any],
        textual: dict[Any, Any],
        json: object,
        make_answer: Callable[..., Any],
        make_usage: Callable[..., Any],
    ) -> None: ...
    def function(self) -> Callable[[Any, Any, Any, Any], bool]:
        """`deliver(run, plan, response, attempt)`: True when the usual whole answer was
        delivered; False, with nothing changed, for any other answer."""
    def deliver_natively(self, deliverer: HttpWholeDeliver | WsWholeDeliver) -> bool:
        """The usual answer to a sink of exactly `deliverer`'s sink class written by it (no
        Answer made for an HttpWholeDeliver); False when that class has one already (the first
        stays). TypeError for another kind of object."""

class HttpWholeDeliver:
    """`HttpSink.deliver` then `ResponseWriter.send_whole` and the connection's write for the
    usual whole answer, in native code called by `WholeAnswer` (aigw.api.http_sink;
    rust/src/python/http_whole.rs). `classes`: (the sink class, ResponseWriter, HttpConnection),
    their slots checked (ValueError); `reasons`: status → reason phrase; `new`, `ended`: the
    writer's states."""

    def __init__(self, classes: tuple[type, type, type], reasons: dict[int, str], new: object, ended: object) -> None: ...

class WsWholeDeliver:
    """`WebSocketSink.deliver` then `WebSocket.send_text` for the usual whole answer, in native
    code called by `WholeAnswer` (aigw.api.universal_ws; rust/src/python/ws_whole.rs).
    `classes`: (WebSocketSink, the server's WebSocket, WebSocketConnection), their slots
    checked (ValueError); `open`: the protocol's OPEN state."""

    def __init__(self, classes: tuple[type, type, type], open: object) -> None: ...

class WsReceive:
    """Each server WebSocket's `buffer_updated` and scheduled write in native code (aigw.server.websocket;
    rust/src/python/ws_receive.rs): the read parsed, each data message to `on_message`, each
    other event to the protocol, the batch's output written; a relay's read, a failing
    `on_message` and an unusual write go to the connection's Python. `classes`: (WebSocket,
    WebSocketConnection), their slots checked (ValueError); `open`, `closed`: the protocol's
    OPEN and CLOSED."""

    def __init__(self, classes: tuple[type, type], open: object, closed: object) -> None: ...
    def receivers(self, ws: Any) -> tuple[Callable[[int], None], Callable[[], None]] | None:
        """(`buffer_updated`, `_write_out`) for `ws` (held weakly): its read, and the write a
        tick's sends schedule (`_flush`'s work); None unless `ws` is exactly the WebSocket
        class."""

class ChunkPushes:
    """`UpstreamChunks._on_data` in native code (aigw.upstream_chunks;
    rust/src/python/chunk_push.rs). `chunks`: the UpstreamChunks class, its slots checked
    (ValueError)."""

    def __init__(self, chunks: type) -> None: ...
    def make(self, chunks: object) -> Callable[[bytes], None] | None:
        """`on_data(piece)` for `chunks` (counted, handed to its pump's consumer, a failure or
        a full consumer passed to `_consume_failed` / `_consumer_full`), or None when `chunks`
        is not exactly an UpstreamChunks."""

class HttpStreamConsumers:
    """`HttpSink.relay`'s `consume` and the connection's scheduled flush in native code
    (aigw.api.http_sink; rust/src/python/http_stream.rs). `classes`: (ResponseWriter,
    HttpConnection), their slots checked (ValueError); `states`: the writer's (STARTED,
    ENDED); `join_limit`: the connection's JOIN_LIMIT."""

    def __init__(self, classes: tuple[type, type], states: tuple[int, int], join_limit: int) -> None: ...
    def make(self, response: object, collected: list[bytes] | None, tap: Callable[[bytes], None] | None) -> Callable[[bytes], bool] | None:
        """`consume(chunk) -> bool`: the chunk written to `response` (ResponseWriter.write,
        natively in its usual case), appended to `collected` and handed to `tap`; whether the
        client can take more. None unless `response` is exactly a ResponseWriter on an
        HttpConnection."""

class TranslatedPushes:
    """A /compat translated stream's usual read in native code (aigw.compat.sink;
    rust/src/python/translated_push.rs): an Anthropic stream's text deltas answered as OpenAI
    chunks. `classes`: (TranslatedChunks, SsePayloads, StreamTranslator, Anthropic's
    StreamDecoder, OpenAI's ChunkEncoder), their slots checked (ValueError); `tail`: what
    follows a text delta's content in its chunk."""

    def __init__(self, classes: tuple[type, type, type, type, type], tail: bytes) -> None: ...
    def make(self, chunks: object, consume: Callable[[bytes], bool]) -> Callable[[bytes], bool] | None:
        """`translated(chunk) -> bool` for `chunks` handing its bytes to `consume` (every read
        that is not all text deltas handed back to `chunks._relay_events`, a malformed one to
        `_relay_malformed`), or None unless every object is exactly its class."""

class WsStreamConsumers:
    """The Universal WebSocket sink's `consume` of a pushed stream's reads in native code
    (aigw.api.universal_ws; rust/src/python/ws_stream.rs). `classes`: (the server's
    WebSocket, WebSocketConnection), their slots checked (ValueError); `open`: the protocol's
    OPEN state; `closed`: the ConnectionClosed class."""

    def __init__(self, classes: tuple[type, type], open: object, closed: type[BaseException]) -> None: ...
    def make(self, relay: StreamRelay, ws: object) -> Callable[[bytes], bool] | None:
        """`consume(chunk) -> bool` for `relay` writing to `ws` (raises ConnectionClosed once
        the connection has left OPEN; False while the client is behind), or None when `ws` is
        not the server's own WebSocket with its own codec."""

class UsualPlan:
    """`plan_steps` for the usual request in one native call (aigw.pipeline;
    rust/src/python/usual_plan.rs). `classes`: (Runtime, GatewayPolicy, GatewayRequest,
    StepRequest, Overrides, SettingsKeyStore), their slots checked (ValueError); the rest the
    pipeline's and validation's memos and the Call and StepPlan makers."""

    def __init__(
        self,
        classes: tuple[type, type, type, type, type, type],
        passed_endpoints: set[str],
        checked_headers: type,
        no_options_caching: dict[Any, Any],
        overrides_memo: dict[Any, Any],
        prefers_alias: dict[Any, Any],
        make_call: Callable[..., Any],
        make_plan: Callable[..., Any],
    ) -> None: ...
    def function(self) -> Callable[[Any, Any, Any, Any], list[Any] | None]:
        """`plan(rt, gw, req, headers)`: the StepPlans `plan_steps` would make when every
        step is the usual one; None (nothing changed) otherwise."""

class UsualRun:
    """`run`'s set-up for a request that names no option, in one native call (aigw.pipeline;
    rust/src/python/usual_run.rs). `classes`: (GatewayPolicy, GatewayRequest, StepRequest,
    LogRecord), their slots checked (ValueError); the rest the pipeline's memos, clocks and
    makers."""

    def __init__(
        self,
        classes: tuple[type, type, type, type],
        checked_headers: type,
        media_types: dict[Any, Any],
        textual: dict[Any, Any],
        monotonic: Callable[[], float],
        wall_time: Callable[[], float],
        new_log_id: Callable[[], str],
        make_record: Callable[..., Any],
        new_run: Callable[..., Any],
        usual_main: UsualMain,
    ) -> None: ...
    def function(self) -> Callable[[Any, Any, Any, Any], Any]:
        """`start(rt, gw, req, sink)`: the request's awaitable as `run` returns it for the
        usual request (`usual_main.start`'s); None (nothing changed) otherwise."""

class UsualStart:
    """`UniversalSession._start`'s usual case and `_ran` for a request that ended with its
    record, natively (aigw.api.universal_ws; rust/src/python/usual_start.rs): the request
    runs as a `UsualDrive` when it can, else as a Task. `session`, `step`, `policy`,
    `websocket`: UniversalSession, StepRequest, GatewayPolicy, the server's WebSocket (slots
    checked: ValueError); `globals`: universal_ws's module globals (`run`, `_Task`, `_DRIVE`)."""

    def __init__(
        self,
        session: type,
        step: type,
        policy: type,
        globals: dict[str, Any],
        make_request: Callable[..., Any],
        new_log_id: Callable[[], str],
        make_sink: Callable[..., Any],
        pipeline_run: Callable[..., Any],
        usual_run: Callable[..., Any],
        websocket: type,
    ) -> None: ...
    def function(self) -> Callable[[Any, Any, str, list[Any]], bool]:
        """`start(session, ws, event_id, steps)`: True when the request was started as
        `_start` starts it; False (nothing changed) otherwise."""
    def message_function(self, session: Any, fast_create: Callable[[bytes], Any]) -> Callable[[Any, int, bytes], None]:
        """`on_message(ws, opcode, payload)` for `session`: a text message `fast_create`
        reads started natively (`function`'s start, while universal_ws's `_usual_start` is
        that function), any other message the session's `handle_message`, a usual create
        whose start declines or fails its `_start_read`."""

class UsualMain:
    """`_Run.main`, `_run_step` and `UpstreamClient.request` for the usual request as one
    native awaitable (aigw.pipeline; rust/src/python/usual_main.rs). `classes`: (_Run,
    Runtime, GatewayPolicy, GatewayRequest, LogRecord, StepPlan, Call, UpstreamRequest,
    UpstreamClient, Attempt, CachePolicy, RetryPolicy, Overrides), their slots checked
    (ValueError); `parts`: the native pieces it runs."""

    def __init__(
        self,
        classes: tuple[type, ...],
        parts: tuple[UsualPlan, UpstreamExchange, WholeAnswer, UsualBuild],
        make_attempt: Callable[..., Any],
        monotonic: Callable[[], float],
        wall_time: Callable[[], float],
        keep_request_body: Callable[[Any, bytes], None],
        make_sent: Callable[..., Any],
    ) -> None: ...
    def start(self, run: Any, log_options: Any, collect: bool, started: float, stream: bool) -> Awaitable[Any]:
        """`run.main(log_options, collect, started)`'s awaitable: a UsualRequest when the
        request may be the usual one, else that coroutine itself."""

class UsualBuild:
    """`HttpProvider.build_request` for the usual call in one native call (aigw.providers;
    rust/src/python/usual_build.rs): a provider class that keeps it and `url_for`, an endpoint
    checked and a URL joined before, no query, dict or CheckedHeaders headers. `call`: the Call
    class, its slots checked (ValueError)."""

    def __init__(
        self,
        call: type,
        build_request: Callable[..., Any],
        passed: set[str],
        excluded: AbstractSet[str],
        checked_headers: type,
        joined: dict[Any, str],
        make_upstream: Callable[..., Any],
    ) -> None: ...
    def build(self, provider: Any, call: Any, key: str | None) -> Any | None:
        """The UpstreamRequest `provider.build_request(call, key)` returns, or None, having
        changed nothing, for any other call."""

class UsualDoor:
    """`GatewayApp._dispatch` → `HttpDoors.provider` → `_answer` for the usual provider-route
    request in native code, `CompatDoors._handle` → `_answer` for the usual /compat
    pass-through, and `_dispatch`'s handler call for another built-in route to a gateway
    entered without an await (aigw.gateway; rust/src/python/usual_door.rs, usual_compat.rs).
    `classes`: (Request, Headers, Router, RouteMatch, Route, FrontDoor, GatewayContext,
    HttpDoors), `compat_classes`: (CompatDoors, Passthrough), their slots checked (ValueError)."""

    def __init__(
        self,
        classes: tuple[type, type, type, type, type, type, type, type],
        dispatch: Callable[..., Any],
        hop: AbstractSet[str],
        checked_headers: type,
        new_log_id: Callable[[], str],
        make_step: Callable[..., Any],
        make_request: Callable[..., Any],
        streamed_response: Callable[[Any], Any],
        globals: dict[str, Any],
        pipeline_run: Callable[..., Any],
        usual_run: Callable[..., Any],
        compat_classes: tuple[type, type],
        compat_globals: dict[str, Any],
        make_context: Callable[..., Any],
    ) -> None: ...
    def function(
        self, app: Any, router: Any, front_door: Any, doors: Any, route: Any, compat: Any, compat_routes: Sequence[tuple[Any, str]],
    ) -> Callable[[Any], Any]:
        """`app`'s `http(request)`: the usual request's StreamedResponse, or
        `app._dispatch(request)`'s coroutine (handed the route when the door found it).
        `compat_routes`: the /compat chat routes, each with its front door ("openai", "anthropic")."""

class HttpReceive:
    """A client connection's `get_buffer` and `buffer_updated` in native code (aigw.server.http;
    rust/src/python/http_receive.rs): the usual request, whole while the connection is between
    requests, taken and handed to the connection's task, or its drive started (`drives`, on a
    connection with `_drives`); anything else to `_process`. `classes`: (HttpConnection,
    RequestReader), their slots checked (ValueError)."""

    def __init__(
        self,
        classes: tuple[type, type],
        head: object,
        make_request: Callable[..., Any],
        make_headers: Callable[..., Any],
        unquote: Callable[[str], str],
        drives: HttpDrives | None = None,
    ) -> None: ...
    def receivers(self, connection: Any, scratch: Any) -> tuple[Callable[[int], Any], Callable[[int], None]]:
        """(get_buffer, buffer_updated) for `connection`, reading into `scratch`; they hold it
        weakly. TypeError for an object not exactly of the connection class."""

class HttpDrives:
    """What starts the drive of a usual HTTP request (aigw.server.http; rust/src/python/
    http_drive.rs): `serve` the HttpServe whose steps `_serve` uses, `streamed_response` the
    StreamedResponse class, `connection` HttpConnection (its slots checked: ValueError)."""

    def __init__(self, serve: HttpServe, streamed_response: type, connection: type) -> None: ...

class HttpDrive:
    """A usual HTTP request answered without an asyncio Task, the connection's `_task` while it
    runs (made by HttpReceive's `buffer_updated`, never from Python). Hands the request to a
    Task running `_serve` when it needs Python's coroutine."""

    def cancel(self, msg: Any = None) -> bool:
        """As `Task.cancel`: False once the drive is over (ended or handed over); otherwise
        CancelledError is thrown in where the request waits, or it ends before its first step."""
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...

class HttpServe:
    """`HttpConnection._serve`'s usual steps around a request in native code (aigw.server.http;
    rust/src/python/http_serve.rs). `classes`: (HttpConnection, Request, Headers,
    ResponseWriter, RequestReader, ServerSettings), their slots checked (ValueError); `ended`:
    the writer's ENDED state; `head`: the reader's state waiting for a head; `make_writer`: the
    writer maker `response_writer` calls."""

    def __init__(self, classes: tuple[type, type, type, type, type, type], ended: object, head: object, make_writer: Callable[..., Any]) -> None: ...
    def functions(self) -> tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]:
        """(begin, between): `begin(conn, request)`, the writer of a request with no Upgrade
        field (else None); `between(conn, writer)`, the future for the next request after a
        completed response with nothing buffered, the connection made idle (True and no future
        for a connection with drives; else None, nothing changed)."""

class UsualRequest(Coroutine[Any, Any, Any]):
    """One usual request's run: an awaitable an asyncio Task may run as its coroutine
    (`send`, `throw`, `close`); it returns the request's log record."""

    def __await__(self) -> Generator[Any, None, Any]: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any: ...
    def close(self) -> None: ...

class UsualDrive:
    """A usual Universal WebSocket request run without an asyncio Task, made by `UsualStart`
    when `universal_ws._DRIVE` is true (rust/src/python/usual_drive.rs): what the session's
    `inflight` holds for it until it ends or hands itself over to a Task, which then takes its
    place there. Answers the session as that Task would."""

    def cancel(self, msg: Any = None) -> bool:
        """As `Task.cancel`: False once the request has ended; otherwise CancelledError is
        thrown in where it waits (at its next wait when it runs now)."""
    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def exception(self) -> BaseException | None: ...
    def result(self) -> Any:
        """The request's log record, once it has ended with one."""
    def ended(self) -> asyncio.Future[None]:
        """Completes once the request has ended or been handed over to its Task."""

class MetricSeries:
    """The Prometheus counts of one label set (aigw.observe.metrics; rust/src/metrics.rs)."""

    labels: tuple[str, ...]
    requests: int
    cost: float
    retries: int
    fallbacks: int
    rate_limited: int
    #: (bucket counts, not cumulative, +Inf last; sum) of each histogram.
    duration: tuple[list[int], float]
    ttft: tuple[list[int], float]
    tokens_in: tuple[list[int], float]
    tokens_out: tuple[list[int], float]

    def __init__(self, labels: tuple[str, ...], duration_bounds: Sequence[float], ttft_bounds: Sequence[float], token_bounds: Sequence[float]) -> None: ...
    def observe(self, record: Any) -> None:
        """Count one finished request from its LogRecord (see GatewayMetrics.observe)."""

class RecordObservers:
    """The request path's two observers, reading LogRecords (instances of `record_type`)
    straight from their slots; any other object through getattr."""

    def __init__(self, record_type: type) -> None: ...
    def cost(self, record: Any, found: dict[tuple, Any], price: Callable[[str | None, str | None], Any]) -> Any:
        """aigw.observe.costs.cost_of(record, table), with the table's memo `found` ((provider,
        model) → Price or None) read first and `price(provider, model)` called on a miss; the
        same value for any record (Python's own arithmetic)."""
    def cost_observer(self, found: dict[tuple, Any], price: Callable[[str | None, str | None], Any]) -> Callable[[Any], None]:
        """A builtin `observe(record)` setting `record.cost = self.cost(record, found, price)`
        (CostMeter's observe, without a Python frame)."""
    def series_observer(self, series: dict[tuple, Any], new_series: Callable[[], Callable[[tuple], Any] | None]) -> Callable[[Any], None]:
        """A builtin `observe(record)` counting `record` in `series[key]`, key being its
        (gateway, request_type, provider, model, status, success, cache_status); a missing
        series is made by the method `new_series()` returns (a `weakref.WeakMethod`:
        ReferenceError once its object is gone). GatewayMetrics.observe, in one call."""

def pack_log_body(body: bytes) -> bytes | None:
    """`body` as the SQLite log store keeps a packed body (its length as 4 bytes little-endian,
    then one LZ4 block), or None when it is stored as it is (under 1 KiB, or LZ4 does not
    shrink it by an eighth)."""

def unpack_log_body(stored: bytes) -> bytes:
    """The body a packed one holds; ValueError when it is truncated or corrupt."""

class SqliteLogStore:
    """The SQLite log writer process's connection (its own SQLite, linked into this module):
    made only in that process, after the store is migrated; never in the gateway's."""

    def __init__(self, path: str | os.PathLike[str], columns: str) -> None:
        """Open the migrated store at `path` (WAL, synchronous NORMAL) to insert rows of the
        `logs` columns named, comma-separated; RuntimeError when it cannot."""
    def store(self, payload: bytes) -> int:
        """Store `marshal.dumps((rows, bodies))` in one transaction; how many rows had a log_id
        already stored. RuntimeError (nothing stored) for a malformed batch or SQLite's error."""
    def prune(self, older_than: float | None = None, keep_newest: int | None = None) -> int:
        """Delete logs created before `older_than` and all but the newest `keep_newest`."""
    def close(self) -> None:
        """Close the connection (idempotent)."""

def openai_usage(body: bytes) -> tuple[int | None, int | None] | None:
    """(tokens in, tokens out) of a whole OpenAI-shaped JSON answer, or None when it reports no
    usage or is not a JSON object; nothing else of the answer is decoded (rust/src/usage.rs)."""

def anthropic_usage(body: bytes) -> tuple[int | None, int | None] | None:
    """(tokens in, tokens out) of a whole Anthropic Messages answer: tokens in are the input,
    cache creation and cache read tokens present, summed; None as for `openai_usage`."""
