"""The Rust `LogRowEncoder` writes SQLite log rows as Python's `log_row` builds them: the same
values column for column (JSON columns equal once parsed), in marshal bytes the writer loads
with one `marshal.loads`; what it cannot write falls back to Python, never to a wrong row."""

from __future__ import annotations

import dataclasses
import json
import marshal
import time
from datetime import datetime, timezone
from http import HTTPStatus
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigw._codec import LogEntry, LogRowEncoder
from aigw.builtins.log_batcher import EncodedRows, Pending
from aigw.builtins.sqlite_logs import MAX_ERROR_CHARS, log_row
from aigw.types import Attempt, LogRecord

JSON_COLUMNS = {18, 24, 26, 30}  # metadata, attempts, custom_cost, session (0-based)
ATTEMPT_FIELDS = [f.name for f in dataclasses.fields(Attempt)]


def encoder() -> LogRowEncoder:
    return LogRowEncoder(LogRecord, Attempt, ATTEMPT_FIELDS, MAX_ERROR_CHARS)


def record(**fields) -> LogRecord:
    base = dict(log_id="01a24307-452a-75bc-99cd-baa0123b1633", created_at=1796420879.65, gateway="g", request_type="websocket")
    return LogRecord(**{**base, **fields})


def same_row(encoded: tuple, reference: tuple) -> None:
    assert len(encoded) == len(reference) == 31
    for i, (a, b) in enumerate(zip(encoded, reference)):
        if i in JSON_COLUMNS and a != "\x00":
            assert json.loads(a) == json.loads(b), f"column {i}"
        else:
            assert (type(a), a) == (type(b), b), f"column {i}"


def taken(enc: LogRowEncoder) -> tuple[bytes, int]:
    """Everything pending, as one payload and its row count."""
    [(payload, n)] = enc.take_all(1 << 30)
    return payload, n


def encoded_rows(*items: tuple[LogRecord, int | None, int | None]) -> tuple[list, list]:
    enc = encoder()
    for r, q, p in items:
        assert enc.add(r, q, p, r.request_body, r.response_body)
    payload, n = taken(enc)
    assert n == len(items) and len(enc) == 0
    return marshal.loads(payload)


def test_a_typical_record_encodes_to_log_rows_row_and_its_bodies():
    r = record(event_id="1", provider="openai", model="gpt-4o-mini", endpoint="chat/completions", status=200, success=True,
               step=0, duration_ms=2.46, ttfb_ms=2.26, tokens_in=9, tokens_out=9, request_content_type="application/json",
               response_content_type="application/json", request_body=b'{"a":1}', response_body=b'{"b":2}', cost=6.75e-06,
               attempts=[Attempt(0, 1, "openai", "gpt-4o-mini", 200, None, 2.33, time.time())])
    rows, bodies = encoded_rows((r, None, None))
    same_row(rows[0], log_row(Pending(r, None, None)))
    assert bodies == [(r.log_id, b'{"a":1}', b'{"b":2}')]


def test_nulls_are_the_sentinels_and_flags_are_integers():
    rows, bodies = encoded_rows((record(), None, None))
    same_row(rows[0], log_row(Pending(record(), None, None)))
    assert rows[0][4] == "\x00" and rows[0][10] == -(2**63 - 1)  # event_id, step
    assert rows[0][9] == 0 and bodies == []  # success


def test_the_error_is_cut_at_max_error_chars_characters_not_bytes():
    r = record(error="é" * (MAX_ERROR_CHARS + 10))
    rows, _ = encoded_rows((r, None, None))
    assert rows[0][19] == "é" * MAX_ERROR_CHARS


def test_sizes_of_bodies_not_kept_are_the_size_columns():
    r = record(response_content_type="audio/mpeg", response_body_size=123456)
    rows, bodies = encoded_rows((r, None, 123456))
    assert rows[0][22:24] == (-(2**63 - 1), 123456) and bodies == []


def test_take_all_cuts_chunks_of_at_most_limit_rows_each_with_its_bodies_rows():
    enc = encoder()
    records = [record(log_id=f"id-{i}", request_body=b"x" * i if i % 2 else None) for i in range(5)]
    for r in records:
        enc.add(r, None, None, r.request_body, None)
    assert enc.body_bytes == 1 + 3
    (first, n), (second, m) = enc.take_all(3)
    assert (n, m) == (3, 2)
    rows, bodies = marshal.loads(first)
    assert [row[0] for row in rows] == ["id-0", "id-1", "id-2"] and bodies == [("id-1", b"x", None)]
    rows, bodies = marshal.loads(second)
    assert [row[0] for row in rows] == ["id-3", "id-4"] and bodies == [("id-3", b"xxx", None)]
    assert len(enc) == 0 and enc.body_bytes == 0 and enc.take_all(3) == []


def test_the_encoder_takes_new_rows_after_take_all():
    enc = encoder()
    enc.add(record(log_id="old"), None, None)
    enc.take_all(500)
    enc.add(record(log_id="new", response_body=b"answer"), None, None, None, b"answer")
    (payload, n), = enc.take_all(500)
    rows, bodies = marshal.loads(payload)
    assert n == 1 and [row[0] for row in rows] == ["new"] and bodies == [("new", None, b"answer")]


def test_a_payload_is_a_read_only_bytes_like_object_of_its_marshal_bytes():
    enc = encoder()
    enc.add(record(), None, None)
    (payload, _), = enc.take_all(500)
    view = memoryview(payload)
    assert view.readonly and len(payload) == view.nbytes and bytes(payload) == view.tobytes()
    assert marshal.loads(bytes(payload)) == marshal.loads(payload)
    with pytest.raises(TypeError):
        view[0] = 0


def test_a_payload_keeps_its_bytes_while_later_batches_reuse_freed_buffers():
    enc = encoder()
    kept = []
    for batch in range(6):  # freed payloads' buffers are reused; the kept ones never are
        for i in range(3):
            enc.add(record(log_id=f"b{batch}-{i}", response_body=b"r" * (batch + 1)), None, None, None, b"r" * (batch + 1))
        (payload, _), = enc.take_all(500)
        if batch % 2 == 0:
            kept.append((batch, payload, bytes(payload)))
        del payload
    for batch, payload, copy in kept:
        rows, bodies = marshal.loads(payload)
        assert bytes(payload) == copy and [row[0] for row in rows] == [f"b{batch}-{i}" for i in range(3)]
        assert bodies[0] == (f"b{batch}-0", None, b"r" * (batch + 1))


def test_a_value_the_encoder_does_not_write_leaves_nothing_and_falls_back_to_python():
    r = record(session={"opened": datetime(2026, 12, 4, tzinfo=timezone.utc)}, response_body=b"x")  # orjson writes datetimes
    enc = encoder()
    assert enc.add(r, None, None, None, r.response_body) is False and len(enc) == 0 and enc.body_bytes == 0
    assert EncodedRows(enc, log_row).add(r, None, None, 1)
    rows, bodies = marshal.loads(taken(enc)[0])
    same_row(rows[0], log_row(Pending(r, None, None)))
    assert json.loads(rows[0][30]) == {"opened": "2026-12-04T00:00:00+00:00"} and bodies == [(r.log_id, None, b"x")]


def test_str_and_int_subclasses_are_stored_as_plain_values():
    class Name(str):
        pass

    r = record(provider=Name("openai"), status=HTTPStatus.OK)
    backlog = EncodedRows(encoder(), log_row)
    assert backlog.add(r, None, None, 0)
    rows, _ = marshal.loads(taken(backlog.encoder)[0])
    assert (type(rows[0][5]), rows[0][5], type(rows[0][8]), rows[0][8]) == (str, "openai", int, 200)


def test_a_subclass_of_the_record_and_its_attempts_encodes_as_the_record_does():
    class Subrecord(LogRecord):
        pass

    class Subattempt(Attempt):
        pass

    attempts = [Attempt(0, 1, "openai", "m", 200, None, 1.5, 2.0)]
    plain = record(provider="openai", status=200, attempts=attempts, metadata={"k": 1})
    sub = Subrecord(**{f.name: getattr(plain, f.name) for f in dataclasses.fields(LogRecord)})
    sub.attempts = [Subattempt(*(getattr(a, f) for f in ATTEMPT_FIELDS)) for a in attempts]
    assert encoded_rows((sub, None, None)) == encoded_rows((plain, None, None))


def test_a_stand_in_record_with_other_slots_encodes_as_the_record_does():
    # Another layout entirely: a slot read at LogRecord's offsets would read the wrong memory.
    attempts = [Attempt(0, 1, "openai", "m", 200, None, 1.5, 2.0)]
    plain = record(provider="openai", status=200, attempts=attempts, metadata={"k": 1})
    stand_in = SimpleNamespace(**{f.name: getattr(plain, f.name) for f in dataclasses.fields(LogRecord)})
    stand_in.attempts = [SimpleNamespace(**{f: getattr(a, f) for f in ATTEMPT_FIELDS}) for a in attempts]
    assert encoded_rows((stand_in, None, None)) == encoded_rows((plain, None, None))


def test_a_record_with_an_unset_field_raises_attribute_error_and_appends_nothing():
    r = record()
    del r.error
    enc = encoder()
    with pytest.raises(AttributeError):
        enc.add(r, None, None)
    assert len(enc) == 0


def test_a_record_python_cannot_encode_either_is_refused():
    r = record(metadata={"k": object()})
    assert EncodedRows(encoder(), log_row).add(r, None, None, 0) is False


def test_marshalled_fallback_rows_splice_between_encoded_rows():
    enc = encoder()
    a, b, c = record(log_id="a"), record(log_id="b", response_body=b"B"), record(log_id="c")
    enc.add(a, None, None)
    enc.add_marshalled(marshal.dumps(log_row(Pending(b, None, None)), 2), marshal.dumps(("b", None, b"B"), 2), 1)
    enc.add(c, None, None)
    rows, bodies = marshal.loads(taken(enc)[0])
    assert [row[0] for row in rows] == ["a", "b", "c"] and bodies == [("b", None, b"B")]


def test_add_marshalled_refuses_what_is_not_a_marshalled_tuple():
    with pytest.raises(ValueError):
        encoder().add_marshalled(marshal.dumps([1], 2))


text = st.text(max_size=40)
maybe_text = st.none() | text
maybe_int = st.none() | st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
maybe_float = st.none() | st.floats(allow_nan=False, allow_infinity=False)
json_scalar = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | text
attempts = st.lists(st.builds(Attempt, st.integers(0, 4), st.integers(1, 5), text, maybe_text, st.integers(0, 599), maybe_text,
                              st.floats(0, 1e6), st.none() | st.floats(0, 2e9)), max_size=3)


@st.composite
def records(draw):
    r = record(
        log_id=draw(text), created_at=draw(st.floats(0, 2e9)), gateway=draw(text), request_type=draw(text),
        event_id=draw(maybe_text), provider=draw(maybe_text), model=draw(maybe_text), endpoint=draw(maybe_text),
        status=draw(st.integers(0, 599)), success=draw(st.booleans()), step=draw(st.none() | st.integers(0, 10)),
        stream=draw(st.booleans()), cancelled=draw(st.booleans()), duration_ms=draw(st.floats(0, 1e7)),
        ttfb_ms=draw(maybe_float), tokens_in=draw(maybe_int), tokens_out=draw(maybe_int),
        metadata=draw(st.none() | st.dictionaries(text, json_scalar, max_size=5)), error=draw(st.none() | st.text(max_size=5000)),
        request_content_type=draw(maybe_text), response_content_type=draw(maybe_text),
        request_body=draw(st.none() | st.binary(max_size=64)), response_body=draw(st.none() | st.binary(max_size=64)),
        attempts=draw(attempts), cost=draw(maybe_float),
        custom_cost=draw(st.none() | st.tuples(st.floats(0, 1), st.floats(0, 1))), principal=draw(maybe_text),
        feedback=draw(st.none() | st.sampled_from([-1, 1])), score=draw(st.none() | st.integers(0, 100)),
        session=draw(st.none() | st.dictionaries(text, json_scalar | st.lists(json_scalar, max_size=3), max_size=6)),
    )
    return r, draw(maybe_int), draw(maybe_int)


@settings(max_examples=300, deadline=None)
@given(st.lists(records(), min_size=1, max_size=4))
def test_any_record_encodes_as_log_row_builds_it(items):
    rows, bodies = encoded_rows(*items)
    for (r, q, p), row in zip(items, rows):
        same_row(row, log_row(Pending(r, q, p)))
    assert bodies == [(r.log_id, r.request_body, r.response_body) for r, _, _ in items
                      if r.request_body is not None or r.response_body is not None]


# ---- submit: LogBatcher's fast path ---------------------------------------------------------

APPENDED, WAKE, FULL, ASK_PYTHON = 0, 1, 2, 3


def bounded(max_body_bytes=100, max_backlog=3, max_backlog_bytes=1000, batch_size=2) -> LogRowEncoder:
    enc = encoder()
    enc.set_bounds(max_body_bytes, max_backlog, max_backlog_bytes, batch_size)
    return enc


def test_submit_appends_the_row_add_would_and_asks_to_wake_on_the_first_and_a_full_batch():
    enc = bounded()
    r = record(request_body=b'{"a":1}', response_body=b'{"b":2}')
    assert [enc.submit(r), enc.submit(r), enc.submit(r)] == [WAKE, WAKE, APPENDED]
    assert enc.body_bytes == 3 * 14
    via_add = encoder()
    assert via_add.add(r, 7, 7, r.request_body, r.response_body)
    assert marshal.loads(enc.take_all(1)[0][0]) == marshal.loads(taken(via_add)[0])


def test_submit_refuses_a_row_over_the_backlog_and_appends_nothing():
    enc = bounded(max_backlog=1)
    assert enc.submit(record()) == WAKE
    assert enc.submit(record()) == FULL and len(enc) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"request_body": b"x" * 101},  # a body over max_body_bytes: Python keeps its size only
        {"response_body_size": 101},  # a body the pipeline did not keep, over the bound
        {"response_body": b"y" * 60, "request_body": b"z" * 60},  # within each bound, over the backlog's bytes
        {"metadata": {"k": object()}},  # a value only Python encodes (or refuses)
    ],
)
def test_submit_leaves_what_needs_a_decision_to_python(fields):
    enc = bounded(max_backlog_bytes=100)
    assert enc.submit(record(**fields)) == ASK_PYTHON
    assert len(enc) == 0 and enc.body_bytes == 0


def test_submit_without_bounds_asks_python():
    assert encoder().submit(record()) == ASK_PYTHON


# ---- LogEntry: LogBatcher's submit as one native call ---------------------------------------


class Calls:
    """The entry's two callbacks, recording what they were called with."""

    def __init__(self) -> None:
        self.wakes = 0
        self.slow: list[LogRecord] = []

    def wake(self) -> None:
        self.wakes += 1

    def refuse(self, r: LogRecord) -> bool:
        self.slow.append(r)
        return False


def test_the_entry_appends_counts_and_wakes_the_writer_as_submit_says():
    enc, calls = bounded(), Calls()
    entry = LogEntry(enc, calls.wake, calls.refuse)
    assert [entry(record()) for _ in range(3)] == [True, True, True]
    assert len(enc) == 3 and calls.wakes == 2 and calls.slow == []  # the first row, a full batch
    assert entry.take_accepted() == 3 and entry.take_accepted() == 0


def test_the_entry_hands_what_submit_does_not_append_to_the_slow_path_and_returns_its_answer():
    enc, calls = bounded(max_backlog=1), Calls()
    entry = LogEntry(enc, calls.wake, calls.refuse)
    first, full, odd = record(), record(), record(metadata={"k": object()})
    assert [entry(first), entry(full), entry(odd)] == [True, False, False]
    assert calls.slow == [full, odd] and entry.take_accepted() == 1


def test_the_entry_function_accepts_and_hands_off_as_calling_the_entry_does():
    enc, calls = bounded(max_backlog=1), Calls()
    submit = LogEntry(enc, calls.wake, calls.refuse).as_function()
    first, full = record(), record()
    assert [submit(first), submit(full)] == [True, False]
    assert calls.slow == [full] and calls.wakes == 1 and len(enc) == 1
    with pytest.raises(TypeError):
        submit()


def test_a_closed_entry_sends_every_record_to_the_slow_path():
    enc, calls = bounded(), Calls()
    entry = LogEntry(enc, calls.wake, calls.refuse)
    entry.close()
    r = record()
    assert entry(r) is False
    assert calls.slow == [r] and len(enc) == 0 and entry.take_accepted() == 0


def test_a_record_logged_while_the_encoder_is_busy_goes_to_the_slow_path():
    # The writer thread taking rows holds the encoder the same way; here a record whose
    # attribute read logs another record makes the overlap happen on one thread.
    enc, calls = bounded(max_backlog=10), Calls()
    entry = LogEntry(enc, calls.wake, calls.refuse)
    inner = record(log_id="inner")

    class LogsWhileRead(LogRecord):
        __slots__ = ()

        def __getattribute__(self, name):
            if name == "gateway":
                assert entry(inner) is False  # the encoder is mid-row: handed to Python
            return super().__getattribute__(name)

    outer = LogsWhileRead(**dataclasses.asdict(record(log_id="outer")))
    assert entry(outer) is True
    assert calls.slow == [inner] and [row[0] for row in marshal.loads(taken(enc)[0])[0]] == ["outer"]
