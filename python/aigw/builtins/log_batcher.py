"""Moves LogRecords from the event loop to one writer thread, in batches, with a bounded backlog.

The loop side (`submit`) takes a lock, appends, and at most notifies a condition: it never
blocks on I/O and never awaits. (With an encoded backlog the common record takes no lock: see
`EncodedRows`.) One daemon thread waits for records, gathers for up to
`flush_interval` seconds or until `batch_size` records are pending, and hands them to the
sink's `write_batch` in chunks of at most `batch_size`. `close()` drains every accepted record
before it returns, so a graceful shutdown loses nothing.

Overload policy (documented for users in the logger modules):
- a body larger than `max_body_bytes` is never kept (its size is, so the log says it existed);
- when the bodies waiting in the backlog pass `max_backlog_bytes`, new records are still kept
  but without their bodies (counted in `bodies_dropped`);
- when `max_backlog` records are waiting, new records are dropped (counted in `dropped`).
Both drops log a warning: the first at once, then a summary at most every 10 seconds; so do
write errors (a full disk, a locked file), whose records are counted in `failed` and lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import marshal
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from aigw.types import LogRecord

if TYPE_CHECKING:
    from aigw._codec import LogPayload
    from aigw.builtins.plugin_config import SectionReader

log = logging.getLogger("aigw.logs")

MIB = 1024 * 1024
DEFAULT_BATCH_SIZE = 500
DEFAULT_FLUSH_INTERVAL = 0.05  # seconds
DEFAULT_MAX_BACKLOG = 100_000  # records
DEFAULT_MAX_BACKLOG_BYTES = 256 * MIB  # bodies held while waiting for the writer
DEFAULT_MAX_BODY_BYTES = 10 * MIB  # per body, like Cloudflare's 10 MB per log
_WARN_EVERY = 10.0  # seconds between overload warnings
#: `LogRowEncoder.submit`'s answers below "the backlog is full": appended, appended and wake.
_SUBMIT_WAKE, _SUBMIT_FULL = 1, 2


class Pending(NamedTuple):
    """A record waiting for the writer, with the original size of each collected body.

    A size is None when that body was not collected; a size with a None body means the body
    was collected but not kept (too large, or the backlog was full of bodies).
    """

    record: LogRecord
    request_body_size: int | None
    response_body_size: int | None


class PendingRecords:
    """The default backlog: the records themselves (a logger's `write_batch` gets a list of
    Pending, at most batch_size long)."""

    __slots__ = ("items", "body_bytes")

    def __init__(self) -> None:
        self.items: list[Pending] = []
        self.body_bytes = 0

    def __len__(self) -> int:
        return len(self.items)

    def add(self, record: LogRecord, request_body_size: int | None, response_body_size: int | None, body_bytes: int) -> bool:
        """Keep `record` (its bodies are the ones to store); True (a record is always kept)."""
        self.items.append(Pending(record, request_body_size, response_body_size))
        self.body_bytes += body_bytes
        return True

    def take(self, limit: int) -> list[tuple[list[Pending], int]]:
        """Everything pending, as (chunk, records in it) of at most `limit` records."""
        items, self.items, self.body_bytes = self.items, [], 0
        chunks = [items[i : i + limit] for i in range(0, len(items), limit)]
        return [(chunk, len(chunk)) for chunk in chunks]


class EncodedRows:
    """A backlog of rows already encoded at `submit` (SQLite's, by the Rust `LogRowEncoder`):
    the record is dropped at once, so a waiting row costs bytes, not Python objects. Its
    `write_batch` gets one `marshal.dumps((rows, bodies))` payload per chunk (a bytes-like
    `LogPayload` whose buffer the encoder reuses once it is freed).

    `fallback_row(pending)` builds the row in Python for a record the encoder refuses (a value
    of a type it does not write); an exception from it means the record cannot be stored.

    LogBatcher drives this backlog's `encoder` itself: its `submit` is a native `LogEntry`
    (the encoder's bounds, the row, the count and the writer's wake-up in one call, without
    the batcher's lock: the append is atomic under the GIL), and the Python `submit` it calls
    back for anything else uses the native add, then `add_in_python` for a refused record."""

    __slots__ = ("encoder", "fallback_row")

    def __init__(self, encoder, fallback_row: Callable[[Pending], tuple]) -> None:  # type: ignore[no-untyped-def]
        self.encoder = encoder
        self.fallback_row = fallback_row

    def __len__(self) -> int:
        return len(self.encoder)

    def add(self, record: LogRecord, request_body_size: int | None, response_body_size: int | None, body_bytes: int) -> bool:
        """Encode `record`'s row (and bodies row); False when it cannot be stored at all."""
        req, resp = record.request_body, record.response_body
        if self.encoder.add(record, request_body_size, response_body_size, req, resp):
            return True
        return self.add_in_python(record, request_body_size, response_body_size, body_bytes)

    def add_in_python(self, record: LogRecord, request_body_size: int | None, response_body_size: int | None, body_bytes: int) -> bool:
        """`add` for a record the encoder refused: its row built by `fallback_row`."""
        req, resp = record.request_body, record.response_body
        try:
            row = marshal.dumps(tuple(map(_plain, self.fallback_row(Pending(record, request_body_size, response_body_size)))), 2)
            bodies = None
            if req is not None or resp is not None:
                bodies = marshal.dumps((record.log_id, None if req is None else bytes(req), None if resp is None else bytes(resp)), 2)
        except Exception:
            log.exception("cannot store log %r", getattr(record, "log_id", None))
            return False
        self.encoder.add_marshalled(row, bodies, body_bytes)
        return True

    def take(self, limit: int) -> list[tuple[LogPayload, int]]:
        """Everything pending, as (payload, rows in it) of at most `limit` rows."""
        return self.encoder.take_all(limit)


def _plain(value: Any) -> Any:
    """A row value as the base type marshal writes (a str or int subclass, an IntEnum, as its
    str or int); other values as they are (marshal refuses what it cannot write)."""
    if value is None or type(value) in (str, int, float, bytes):
        return value
    for base in (str, int, float, bytes):
        if isinstance(value, base):
            return base(value)
    return value


def _weak_callbacks(batcher: LogBatcher) -> tuple[Callable[[], None], Callable[[LogRecord], bool]]:
    """`LogEntry`'s (wake, slow) for `batcher`, holding it by a weak reference."""
    ref = weakref.ref(batcher)

    def wake() -> None:
        live = ref()
        if live is not None:
            live._wake_writer()

    def slow(record: LogRecord) -> bool:
        live = ref()
        return live is not None and LogBatcher.submit(live, record)

    return wake, slow


@dataclass(slots=True)
class BatcherStats:
    """Counters since start. accepted = written + failed + waiting; dropped were never accepted."""

    accepted: int = 0
    written: int = 0
    failed: int = 0  # accepted but lost to a write error
    dropped: int = 0  # refused: backlog full, or logged after close
    bodies_dropped: int = 0  # kept without bodies because the backlog held too many bytes
    batches: int = 0  # successful write_batch calls (one transaction each for SQLite)


class LogBatcher:
    """The loop-to-thread hand-off shared by the built-in loggers.

    `write_batch(chunk)` runs on the writer thread only and returns how many of the chunk's
    records it could not store (bad records it skipped). An exception it raises is logged, the
    whole chunk counted as failed, and the thread carries on. A chunk is what `backlog` makes of
    the records: a list of Pending (`PendingRecords`, the default) or an encoded payload
    (`EncodedRows`).
    """

    def __init__(
        self,
        name: str,
        write_batch: Callable[[Any], int],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        max_backlog_bytes: int = DEFAULT_MAX_BACKLOG_BYTES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        backlog: PendingRecords | EncodedRows | None = None,
    ) -> None:
        if batch_size < 1 or max_backlog < 1 or flush_interval < 0:
            raise ValueError("batch_size and max_backlog must be >= 1, flush_interval >= 0")
        self.name = name
        self._write_batch = write_batch
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_backlog = max_backlog
        self._max_backlog_bytes = max_backlog_bytes
        self._max_body_bytes = max_body_bytes

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the writer waits on this
        self._progress = threading.Condition(self._lock)  # flush() waiters wait on this
        self._pending = backlog if backlog is not None else PendingRecords()
        # An encoded backlog is driven through its Rust encoder directly (its count, body
        # bytes and add are native calls: no Python frame per logged record).
        self._encoder = backlog.encoder if isinstance(backlog, EncodedRows) else None
        self._entry = None
        if self._encoder is not None:  # its `submit` applies the same bounds natively
            self._encoder.set_bounds(max_body_bytes, max_backlog, max_backlog_bytes, batch_size)
            # `submit` becomes one native call for the common record (no Python frame, no
            # lock: the append is atomic under the GIL); it calls back to wake the writer and
            # hands every other case to the Python `submit` below. The callbacks hold the
            # batcher weakly: the native entry is invisible to the garbage collector, so a
            # strong reference back would keep a dropped logger alive for good.
            from aigw._codec import LogEntry

            self._entry = LogEntry(self._encoder, *_weak_callbacks(self))
            self.submit = self._entry.as_function()  # type: ignore[method-assign]
        self._flush_requested = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._done = 0  # accepted records the writer has finished with (written or failed)
        self._stats = BatcherStats()

        self._dropped_since_warning = 0
        self._bodies_dropped_since_warning = 0
        self._last_warning = -_WARN_EVERY
        self._failed_since_report = 0  # writer thread only
        self._last_failure_report = -_WARN_EVERY

    # ---- loop side -----------------------------------------------------------------------

    @property
    def stats(self) -> BatcherStats:
        """Counters since start (`BatcherStats`), including records the native entry took."""
        if self._entry is not None:
            with self._lock:
                self._count_native_accepts()
        return self._stats

    def _count_native_accepts(self) -> None:
        # With the lock held: what the native entry accepted joins `accepted`.
        if self._entry is not None:
            self._stats.accepted += self._entry.take_accepted()

    def _wake_writer(self) -> None:
        """Wake the writer (the native entry's callback: a first pending row, a full batch)."""
        with self._lock:
            self._wake.notify()

    def submit(self, record: LogRecord) -> bool:
        """Queue `record` for the writer; False when it was dropped. Never blocks on I/O.

        The record is owned by the logger from here on: the caller must not change it. With an
        encoded backlog this is the native `LogEntry`, which calls back here for anything but
        the common case.
        """
        encoder = self._encoder
        if encoder is not None:
            # The common case in one native call: bounds checked, row encoded, and whether to
            # wake the writer. Anything else (a full backlog, a body over a bound, a record
            # only Python encodes, a closed batcher) takes the path below.
            with self._lock:
                if not self._closed:
                    done = encoder.submit(record)
                    if done < _SUBMIT_FULL:
                        self._stats.accepted += 1
                        if done == _SUBMIT_WAKE:
                            self._wake.notify()
                        return True
        req, resp = record.request_body, record.response_body
        req_size = record.request_body_size if req is None else len(req)
        resp_size = record.response_body_size if resp is None else len(resp)
        limit = self._max_body_bytes
        if (req_size or 0) > limit or (resp_size or 0) > limit:
            record = dataclasses.replace(
                record,
                request_body=None if (req_size or 0) > limit else req,
                response_body=None if (resp_size or 0) > limit else resp,
            )
        body_bytes = len(record.request_body or b"") + len(record.response_body or b"")
        pending = self._pending
        with self._lock:
            n = len(pending) if encoder is None else len(encoder)
            if self._closed or n >= self._max_backlog:
                self._stats.dropped += 1
                self._dropped_since_warning += 1
                self._maybe_warn()
                return False
            if body_bytes and (pending.body_bytes if encoder is None else encoder.body_bytes) + body_bytes > self._max_backlog_bytes:
                record = dataclasses.replace(record, request_body=None, response_body=None)
                body_bytes = 0
                self._stats.bodies_dropped += 1
                self._bodies_dropped_since_warning += 1
                self._maybe_warn()
            self._stats.accepted += 1
            # The common case: encoded in one native call.
            stored = encoder is not None and encoder.add(record, req_size, resp_size, record.request_body, record.response_body)
            if not stored:
                stored = (pending.add if encoder is None else pending.add_in_python)(record, req_size, resp_size, body_bytes)
            if not stored:
                self._stats.failed += 1  # accepted and lost at once: it cannot be stored
                self._done += 1
                return True
            n += 1
            if n == 1 or n == self._batch_size:
                self._wake.notify()
        return True

    def _maybe_warn(self) -> None:
        # Called with the lock held, only on the overload path.
        now = time.monotonic()
        if now - self._last_warning < _WARN_EVERY:
            return
        self._last_warning = now
        log.warning(
            "%s logger overloaded: %d records dropped (backlog full or logger closed) and "
            "%d stored without bodies (backlog over %d bytes) since the last warning",
            self.name,
            self._dropped_since_warning,
            self._bodies_dropped_since_warning,
            self._max_backlog_bytes,
        )
        self._dropped_since_warning = 0
        self._bodies_dropped_since_warning = 0

    @property
    def backlog(self) -> int:
        """How many accepted records are waiting for the writer."""
        with self._lock:
            return len(self._pending)

    def start(self) -> None:
        """Start the writer thread (records submitted before are written first)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name=f"aigw-{self.name}-logs", daemon=True)
        self._thread.start()

    async def flush(self) -> None:
        """Return once every record accepted before the call is written (or failed)."""
        with self._lock:
            if self._thread is None:
                raise RuntimeError(f"{self.name} logger is not started")
            self._count_native_accepts()
            target = self._stats.accepted
            self._flush_requested = True
            self._wake.notify()
        await asyncio.to_thread(self._wait_done, target)

    def _wait_done(self, target: int) -> None:
        with self._lock:
            while self._done < target and self._thread is not None and self._thread.is_alive():
                self._progress.wait(1.0)

    async def close(self) -> None:
        """Refuse new records, write every accepted one, stop the thread. Idempotent."""
        with self._lock:
            self._closed = True
            if self._entry is not None:
                self._entry.close()
            self._wake.notify()
            thread = self._thread
        if thread is None:
            if not self._pending:
                return
            self.start()  # records logged but never started: write them now
            thread = self._thread
        assert thread is not None
        await asyncio.to_thread(thread.join)

    # ---- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while True:
                    pending = self._backlog_now()
                    if pending is None:  # the loop's entry is mid-append: look again shortly
                        self._wake.wait(self._flush_interval or 0.001)
                        continue
                    if pending or self._closed or self._flush_requested:
                        break
                    self._wake.wait()
                if not self._closed and not self._flush_requested and pending < self._batch_size:
                    self._wake.wait(self._flush_interval)  # gather a batch
                try:
                    chunks = self._pending.take(self._batch_size)
                except RuntimeError:  # as above: the rows stay pending, taken on the next turn
                    continue
                self._flush_requested = False
                closing = self._closed
            for chunk, count in chunks:
                self._write_chunk(chunk, count)
            if closing and not chunks:
                with self._lock:
                    self._progress.notify_all()
                return

    def _backlog_now(self) -> int | None:
        """How many rows wait (under the lock), or None while the encoder is borrowed by the
        loop's native entry: it appends without the lock, and a record whose attribute runs
        Python code (a property, a subclass) may let this thread run meanwhile."""
        try:
            return len(self._pending)
        except RuntimeError:  # pyo3's "Already mutably borrowed"
            return None

    def _write_chunk(self, chunk: list[Pending] | LogPayload, count: int) -> None:
        try:
            failed = self._write_batch(chunk)  # type: ignore[arg-type]
            ok = True
        except Exception:  # the writer must outlive a bad batch or a full disk
            failed, ok = count, False
            self._failed_since_report += failed
            now = time.monotonic()
            if now - self._last_failure_report >= _WARN_EVERY:  # a full disk fails every batch
                log.exception("%s logger failed to write %d records", self.name, self._failed_since_report)
                self._last_failure_report = now
                self._failed_since_report = 0
        with self._lock:
            self._stats.written += count - failed
            self._stats.failed += failed
            self._stats.batches += ok
            self._done += count
            self._progress.notify_all()


def split_rows(
    batch: list[Pending], make_row: Callable[[Pending], tuple], logger: str
) -> tuple[list[tuple], list[tuple], int]:
    """A batch as a store writes it: (one row per record by `make_row`, (log_id, request body,
    response body) for each record that has a body, how many records `make_row` refused).
    A refused record is logged and skipped alone; the others are still written."""
    rows, bodies, bad = [], [], 0
    for item in batch:
        try:
            rows.append(make_row(item))
        except Exception:
            bad += 1
            log.exception("%s logger: cannot store log %r", logger, getattr(item.record, "log_id", None))
            continue
        r = item.record
        if r.request_body is not None or r.response_body is not None:
            bodies.append((r.log_id, r.request_body, r.response_body))
    return rows, bodies, bad


# ---- config ----------------------------------------------------------------------------------

BATCHER_CONFIG_KEYS = frozenset(
    {"batch_size", "flush_interval_ms", "max_backlog", "max_backlog_bytes", "max_body_bytes"}
)


def batcher_options(section: SectionReader, *, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, float]:
    """LogBatcher keyword arguments from a logger's config section (defaults above; a logger
    may give its own default `batch_size`)."""
    return {
        "batch_size": section.number("batch_size", batch_size, minimum=1, integer=True),
        "flush_interval": section.number("flush_interval_ms", DEFAULT_FLUSH_INTERVAL * 1000) / 1000,
        "max_backlog": section.number("max_backlog", DEFAULT_MAX_BACKLOG, minimum=1, integer=True),
        "max_backlog_bytes": section.number(
            "max_backlog_bytes", DEFAULT_MAX_BACKLOG_BYTES, integer=True
        ),
        "max_body_bytes": section.number("max_body_bytes", DEFAULT_MAX_BODY_BYTES, integer=True),
    }
