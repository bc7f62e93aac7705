"""ChunkedDecoder, SseDecoder and NdjsonDecoder through the Python binding: bytes in, events out."""

import random

import pytest

from aigw._codec import ChunkedDecoder, NdjsonDecoder, SseDecoder


def feed_all(decoder, data: bytes, sizes):
    out = []
    i = 0
    for n in sizes:
        out.append(decoder.feed(data[i : i + n]))
        i += n
    out.append(decoder.feed(data[i:]))
    return out


def test_chunked_body_whole_or_byte_by_byte():
    wire = b"4\r\nWiki\r\n7;ext=1\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    for sizes in ([], [1] * len(wire)):
        d = ChunkedDecoder()
        assert b"".join(feed_all(d, wire, sizes)) == b"Wikipedia in \r\nchunks."
        assert d.done and d.unused_data == b"NEXT"


def test_chunked_returns_the_input_object_when_it_is_all_data():
    d = ChunkedDecoder()
    d.feed(b"10\r\n")
    piece = bytes(range(16))
    assert d.feed(piece) is piece


def test_chunked_malformed_framing_raises_and_keeps_raising():
    d = ChunkedDecoder()
    with pytest.raises(ValueError):
        d.feed(b"5\r\nhelloXX")
    with pytest.raises(ValueError):
        d.feed(b"\r\n")


def test_chunk_size_limit():
    with pytest.raises(ValueError):
        ChunkedDecoder(max_chunk_size=100).feed(b"65\r\n")


STREAM = ": ping\n\nevent: delta\nid: 1\nretry: 250\ndata: {\"t\":\"€😀\"}\ndata: second\n\nevent: nodata\n\ndata\n\n"
EXPECTED = [("delta", '{"t":"€😀"}\nsecond'.encode(), "1"), (None, b"", "1")]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_sse_same_events_for_one_read_bytes_and_random_reads(eol):
    data = ("\ufeff" + STREAM.replace("\n", eol)).encode()
    rng = random.Random(7)
    for sizes in ([], [1] * len(data), [rng.randint(1, 9) for _ in range(len(data) // 5)]):
        d = SseDecoder()
        events = [e for batch in feed_all(d, data, sizes) for e in batch]
        assert events == EXPECTED
        assert d.retry == 250 and d.last_event_id == "1"
        assert d.finish() is False


def test_sse_feed_data_gives_the_same_events_data_alone():
    data = STREAM.encode()
    d = SseDecoder()
    assert d.feed_data(data[:30]) + d.feed_data(data[30:]) == [data for _, data, _ in EXPECTED]
    assert d.retry == 250 and d.finish() is False


def test_sse_finish_reports_a_truncated_event():
    d = SseDecoder()
    assert d.feed(b"data: a\n\ndata: b") == [(None, b"a", None)]
    assert d.finish() is True


def test_sse_event_size_limit():
    with pytest.raises(ValueError):
        SseDecoder(max_event_size=8).feed(b"data: 0123456789\n")


def test_ndjson_lines_crlf_blank_lines_and_final_line():
    d = NdjsonDecoder()
    assert d.feed(b'{"a":1}\r\n\n{"b"') == [b'{"a":1}']
    assert d.feed(b":2}\n{\"c\":3}") == [b'{"b":2}']
    assert d.finish() == b'{"c":3}'


def test_ndjson_line_limit():
    with pytest.raises(ValueError):
        NdjsonDecoder(max_line_size=4).feed(b"123456")
