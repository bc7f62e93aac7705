"""`_codec.EventStreamDecoder`: AWS event stream through the binding, checked against
providers.md §5.3's reference encoder and botocore's own decoder."""

import random
import struct
import zlib

import pytest

from aigw._codec import EventStreamDecoder


def es_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """providers.md §5.3's minimal encoder (string headers)."""
    hb = b"".join(struct.pack("!B", len(k)) + k.encode() + b"\x07" + struct.pack("!H", len(v.encode())) + v.encode() for k, v in headers.items())
    prelude = struct.pack("!II", 16 + len(hb) + len(payload), len(hb))
    msg = prelude + struct.pack("!I", zlib.crc32(prelude)) + hb + payload
    return msg + struct.pack("!I", zlib.crc32(msg))


EVENT = {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
SAMPLE = es_frame(EVENT, b'{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"ab"}') + es_frame(
    {**EVENT, ":event-type": "metadata"}, b'{"usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7},"metrics":{"latencyMs":42}}'
)


def decode(pieces):
    d = EventStreamDecoder()
    out = [m for p in pieces for m in d.feed(p)]
    return out, d.finish()


def test_the_reference_sample_decodes():
    messages, truncated = decode([SAMPLE])
    assert [h[":event-type"] for h, _ in messages] == ["contentBlockDelta", "metadata"]
    assert messages[0] == (EVENT, b'{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"ab"}')
    assert truncated is False


@pytest.mark.parametrize("cut", range(len(SAMPLE) + 1))
def test_the_sample_split_at_every_byte_decodes_the_same(cut):
    assert decode([SAMPLE[:cut], SAMPLE[cut:]]) == decode([SAMPLE])


def test_a_corrupt_message_is_a_value_error_and_the_decoder_stays_failed():
    bad = bytearray(SAMPLE)
    bad[40] ^= 0xFF
    d = EventStreamDecoder()
    with pytest.raises(ValueError, match="CRC"):
        d.feed(bytes(bad))
    with pytest.raises(ValueError):
        d.feed(SAMPLE)


def test_a_message_over_the_limit_is_refused_at_its_prelude():
    d = EventStreamDecoder(max_message_size=64)
    with pytest.raises(ValueError, match="size limit"):
        d.feed(es_frame({"a": "b"}, b"x" * 100)[:12])


def test_a_truncated_stream_is_reported():
    assert decode([SAMPLE[:-1]])[1] is True


@pytest.mark.parametrize("seed", range(30))
def test_random_streams_decode_as_botocore_decodes_them(seed):
    eventstream = pytest.importorskip("botocore.eventstream")
    rng = random.Random(seed)
    stream = b"".join(
        es_frame({f"h{i}": "".join(rng.choice("abcé€") for _ in range(rng.randint(0, 9))) for i in range(rng.randint(0, 4))}, rng.randbytes(rng.randint(0, 300)))
        for _ in range(rng.randint(1, 6))
    )
    cuts = sorted(rng.sample(range(len(stream)), k=min(5, len(stream))))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    buffer = eventstream.EventStreamBuffer()
    theirs = []
    for piece in pieces:
        buffer.add_data(piece)
        theirs += [(dict(m.headers), m.payload) for m in buffer]
    assert decode(pieces) == (theirs, False)
