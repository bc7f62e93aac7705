"""The built-in `jsonl` logger: one JSON object per line, to a file or to stderr, off the loop.

Same discipline as the SQLite logger (log_batcher.py): `log()` only queues; one writer thread
writes each batch with a single write and flush; `close()` writes everything accepted first.

Config (`PluginContext.config`, every key optional):
    path     "-" or "stderr" for standard error, else a file opened for appending, relative to
             the data dir (default `<data_dir>/logs.jsonl`). Appending suits logrotate's
             `copytruncate`.
    bodies   "omit" (default): no bodies, only `request_body_size`/`response_body_size`;
             "base64": also `request_body_base64`/`response_body_base64` (null when not kept).
    batch_size, flush_interval_ms, max_backlog, max_backlog_bytes, max_body_bytes: as for the
             sqlite logger.

Each line is aigw.logrecords.record_to_dict(record): the LogRecord fields by name, created_at
in unix seconds, metadata as an object.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import BinaryIO

import orjson

from aigw import hookimpl
from aigw.builtins.log_batcher import (
    BATCHER_CONFIG_KEYS,
    BatcherStats,
    LogBatcher,
    Pending,
    batcher_options,
)
from aigw.builtins.plugin_config import SectionReader
from aigw.logrecords import BodyMode, record_to_dict
from aigw.private_files import make_private_dir
from aigw.types import LogRecord, PluginContext

log = logging.getLogger("aigw.logs")

LOGS_JSONL = "logs.jsonl"
STDERR = "stderr"


class JsonlLogger:
    """A Logger (interfaces.Logger) appending JSON lines; see the module docstring."""

    name = "jsonl"

    def __init__(self, path: Path | str, *, bodies: BodyMode = "omit", **batcher_options: float) -> None:
        if bodies not in ("omit", "base64"):
            raise ValueError(f"bodies must be 'omit' or 'base64', got {bodies!r}")
        self.path: Path | None = None if str(path) in ("-", STDERR) else Path(path)
        self.bodies: BodyMode = bodies
        self._file: BinaryIO | None = None
        self._batcher = LogBatcher(self.name, self._write_batch, **batcher_options)  # type: ignore[arg-type]

    @classmethod
    def from_context(cls, ctx: PluginContext) -> JsonlLogger:
        """The factory the plugin registers: reads ctx.config (keys in the module docstring)."""
        section = SectionReader(ctx.name, ctx.config, {"path", "bodies"} | BATCHER_CONFIG_KEYS)
        raw = section.string("path", LOGS_JSONL) or LOGS_JSONL
        path: Path | str = raw if raw in ("-", STDERR) else Path(ctx.data_dir) / raw
        bodies = section.string("bodies", "omit", choices=("omit", "base64"))
        return cls(path, bodies=bodies, **batcher_options(section))  # type: ignore[arg-type]

    @property
    def stats(self) -> BatcherStats:
        """Counters: accepted, written, failed, dropped, bodies_dropped, batches."""
        return self._batcher.stats

    async def start(self) -> None:
        """Open the file for appending (off the loop), then start the writer thread."""
        if self.path is not None and self._file is None:
            self._file = await asyncio.to_thread(self._open)
        self._batcher.start()

    def _open(self) -> BinaryIO:
        assert self.path is not None
        make_private_dir(self.path.parent)
        return open(self.path, "ab", opener=lambda path, flags: os.open(path, flags, 0o600))

    def log(self, record: LogRecord) -> None:
        """Queue `record` (ownership passes to the logger). Never blocks."""
        self._batcher.submit(record)

    async def flush(self) -> None:
        """Return once every record logged before the call is written and flushed."""
        await self._batcher.flush()

    async def close(self) -> None:
        """Write every record accepted so far, stop the writer, close the file."""
        if self.path is not None and self._file is None and self._batcher.backlog:
            self._file = await asyncio.to_thread(self._open)
        await self._batcher.close()
        if self._file is not None:
            f, self._file = self._file, None
            await asyncio.to_thread(f.close)

    # ---- writer thread ---------------------------------------------------------------------

    def _write_batch(self, batch: list[Pending]) -> int:
        lines, bad = [], 0
        for item in batch:
            try:
                d = record_to_dict(
                    item.record,
                    bodies=self.bodies,
                    request_body_size=item.request_body_size,
                    response_body_size=item.response_body_size,
                )
                lines.append(orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE))
            except Exception:
                bad += 1
                log.exception("jsonl logger: cannot serialize log %r", getattr(item.record, "log_id", None))
        data = b"".join(lines)
        if self.path is None:
            _write_stderr(data)
        else:
            if self._file is None:
                raise RuntimeError("jsonl logger is not started")
            self._file.write(data)
            self._file.flush()
        return bad


def _write_stderr(data: bytes) -> None:
    # Looked up per batch: tests and embedding apps replace sys.stderr.
    stream = sys.stderr
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        buffer.write(data)
        buffer.flush()
    else:
        stream.write(data.decode("utf-8"))
        stream.flush()


@hookimpl
def register_loggers(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `jsonl` logger (JSON lines to a file or stderr)."""
    register("jsonl", JsonlLogger.from_context)
