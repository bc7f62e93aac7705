"""`ResponseWriter.send_whole` (the usual answer, written with its body in one native call)
puts on the wire what `start(..., content_length=len(body))` then `end(body)` put there, and
leaves the writer in the same state, whatever the status, method, version and headers."""

from __future__ import annotations

import itertools

import pytest

from aigw.protocol.http11 import serialize_response_head, whole_response
from aigw.server.http_response import ResponseWriter


class RecordingChannel:
    """A ResponseChannel that keeps what reaches the transport, in order."""

    lost = False
    write_paused = False
    hard_limit = 1 << 30

    def __init__(self, keep_alive: bool = True) -> None:
        self.wire: list[bytes] = []
        self.queued: list[bytes] = []
        self.keep_alive = keep_alive

    def queue(self, data: bytes, soon: bool = True) -> None:
        self.queued.append(bytes(data))

    def flush(self) -> None:
        self.wire.extend(self.queued)
        self.queued.clear()

    def send(self, data: bytes) -> None:
        self.queue(data, False)
        self.flush()

    def unsent(self) -> int:
        return sum(map(len, self.queued))

    async def wait_writable(self) -> None:
        return None

    def end_abnormally(self) -> None:
        self.flush()
        self.wire.append(b"<closed>")

    def may_keep_alive(self) -> bool:
        return self.keep_alive


HEADERS = [
    [],
    [("content-type", "application/json"), ("cf-aig-log-id", "0190")],
    [("Content-Length", "999"), ("Transfer-Encoding", "chunked"), ("Connection", "keep-alive"), ("x-a", "é")],
]
CASES = list(
    itertools.product(
        (200, 201, 204, 304, 404, 500, 999),
        ("GET", "HEAD", "POST"),
        ("1.0", "1.1"),
        (False, True),  # the request's keep-alive
        (False, True),  # the connection may keep alive
        (b"", b'{"ok":true}', b"x" * 70000),
        range(len(HEADERS)),
    )
)


def _state(writer: ResponseWriter) -> dict:
    return {name: getattr(writer, name) for name in ResponseWriter.__slots__ if name != "_channel"}


@pytest.mark.parametrize("status, method, version, keep_alive, may_keep_alive, body, headers", CASES)
def test_send_whole_writes_what_start_then_end_write(status, method, version, keep_alive, may_keep_alive, body, headers):
    whole_channel, parts_channel = RecordingChannel(may_keep_alive), RecordingChannel(may_keep_alive)
    whole = ResponseWriter(whole_channel, method=method, http_version=version, keep_alive=keep_alive)  # type: ignore[arg-type]
    parts = ResponseWriter(parts_channel, method=method, http_version=version, keep_alive=keep_alive)  # type: ignore[arg-type]
    whole.send_whole(status, HEADERS[headers], body)
    parts.start(status, HEADERS[headers], content_length=len(body))
    parts.end(body)
    assert b"".join(whole_channel.wire) == b"".join(parts_channel.wire)
    assert not whole_channel.queued
    assert (whole.status, whole.started, whole.finished, whole.completed) == (parts.status, parts.started, parts.finished, parts.completed)
    if method != "HEAD" and status not in (204, 304):  # send_whole counts a dropped body as sent
        assert _state(whole) == _state(parts)


def test_send_whole_goes_after_bytes_already_queued():
    channel = RecordingChannel()
    channel.queue(b"earlier")
    writer = ResponseWriter(channel, method="GET", http_version="1.1", keep_alive=True)  # type: ignore[arg-type]
    writer.send_whole(200, [], b"body")
    assert channel.wire[0] == b"earlier"
    assert b"".join(channel.wire[1:]).endswith(b"\r\n\r\nbody")


def test_a_bad_header_leaves_the_response_unstarted():
    writer = ResponseWriter(RecordingChannel(), method="GET", http_version="1.1", keep_alive=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        writer.send_whole(200, [("x-a", "one\r\ntwo")], b"body")
    assert not writer.started


@pytest.mark.parametrize("close", [False, True])
def test_whole_response_is_the_head_then_the_body(close):
    headers = [("content-type", "text/plain"), ("content-length", "1"), ("connection", "keep-alive")]
    body = b"hello"
    assert whole_response(200, headers, body, close=close) == serialize_response_head(
        200, headers, content_length=len(body), close=close
    ) + body
