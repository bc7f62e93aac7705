"""The SQLite log store's writer process: the gateway's process builds rows, a child inserts them.

Inserting a log row costs SQLite ~10–13 µs of CPU (a B-tree insert per index, the bodies' row),
more than the rest of a logged request's bookkeeping together, and Python's sqlite3 holds the
GIL while it binds parameters: in the gateway's process that work competes with the event loop
for the interpreter. With `writer = "process"` (the default) rows are encoded in marshal format
when logged (`aigw._codec.LogRowEncoder`) and the logger's writer thread hands each batch to a
child process over a pipe; the child (`python -m aigw.builtins.sqlite_log_process`) owns the
database connection, stores each batch in one transaction and answers when it is committed.
The child inserts through `aigw._codec.SqliteLogStore`, Rust over its own SQLite, which reads
the batch without making a Python object per value: 3.8 µs per row against 9.3 through
`marshal.loads` and sqlite3's `executemany` (500-row batches, benches/micro/test_log_writer.py).
It migrates the store with Python's sqlite3 first and closes that connection before the Rust
one opens.

Promises kept from the in-process writer:
- `flush()` and `close()` return only after the child has committed (the writer thread waits
  for each batch's answer, so the LogBatcher's accounting is unchanged);
- a child that dies (killed, out of memory) is started again and the unanswered batch is sent
  again: rows are `INSERT OR IGNORE` on their UUIDv7 log_id, so a batch the dead child had
  already committed is not stored twice; a second failure in a row fails the batch (counted
  and logged by the LogBatcher, as a full disk is);
- the child never outlives the gateway: it exits when its stdin closes, which the kernel does
  when the gateway's process ends for any reason;
- the child starts with the first batch; if it cannot start at all (an embedding whose
  `sys.executable` is not a Python), the logger says so once and writes from its thread.

Wire format (both directions on pipes, length-prefixed): a request is a 4-byte big-endian
length and `marshal.dumps((rows, bodies))`; the answer is 4 bytes: how many rows of the batch
were already stored (duplicates). At start the child answers with `b"ok\\n"` once its store is
open and migrated, or writes the reason to stderr and exits 1.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from aigw._codec import LogPayload

log = logging.getLogger("aigw.logs")

_LEN = struct.Struct(">I")
READY = b"ok\n"
START_TIMEOUT = 30.0  # seconds for the child to open and migrate the store


class WriterProcessError(RuntimeError):
    """The writer process could not be started or stopped answering."""


class BatchNotStored(RuntimeError):
    """The child is alive but could not store the batch (a full disk, a locked file)."""


FAILED = 0xFFFF_FFFF  # the child's answer for a batch it could not store


class WriterProcess:
    """The gateway's side: one child process, used from the logger's writer thread only."""

    def __init__(self, path: Path, *, retention_days: float = 0, max_logs: int = 0) -> None:
        self.path = Path(path)
        self._options = {"path": str(self.path), "retention_days": retention_days, "max_logs": max_logs}
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # start/stop from the loop's helper threads vs the writer
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The child's process id, None when none is running."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the child and wait until its store is open. Blocking (call off the loop);
        raises WriterProcessError with the child's own words when it cannot open the store."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        # The child imports aigw from wherever this process did (a checkout on sys.path too).
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aigw.builtins.sqlite_log_process", json.dumps(self._options)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            raise WriterProcessError(f"cannot start the SQLite log writer process ({sys.executable}: {exc.strerror})") from None
        assert proc.stdout is not None and proc.stderr is not None
        ready = proc.stdout.read(len(READY))
        if ready != READY:
            proc.wait(START_TIMEOUT)
            reason = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
            raise WriterProcessError(
                f"the SQLite log writer process for {self.path} did not start: "
                + (reason[-1] if reason else f"exit status {proc.returncode}")
            )
        # From here the child's stderr (its warnings) is drained into our log by a thread.
        threading.Thread(target=_relay_stderr, args=(proc.stderr,), name="aigw-sqlite-writer-stderr", daemon=True).start()
        return proc

    def write(self, payload: bytes | LogPayload) -> int:
        """Store one batch, `marshal.dumps((rows, bodies))` (bytes-like), through the child; returns how many
        rows were already stored. Runs on the writer thread. A dead child is restarted once and
        the batch sent again."""
        if self._proc is None:
            self.start()  # first batch: started lazily, so a gateway that never logs spawns nothing
        try:
            return self._exchange(payload)
        except (OSError, EOFError, WriterProcessError) as first:
            log.warning("sqlite logger: the writer process failed (%s); starting it again", first)
            self._stop(kill=True)
            self.restarts += 1
            self.start()
            self._exchange(payload)
            return 0  # rows the dead child had stored come back as "duplicates": they are not

    def _exchange(self, payload: bytes | LogPayload) -> int:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise WriterProcessError("the writer process is not running")
        proc.stdin.write(_LEN.pack(len(payload)))
        proc.stdin.write(payload)
        proc.stdin.flush()
        answer = proc.stdout.read(_LEN.size)
        if len(answer) != _LEN.size:
            raise EOFError(f"the writer process exited (status {proc.poll()})")
        duplicates = _LEN.unpack(answer)[0]
        if duplicates == FAILED:
            raise BatchNotStored(f"the writer process could not store the batch in {self.path} (see its warning)")
        return duplicates

    def close(self) -> None:
        """Let the child finish and exit (it has answered every batch, so nothing is pending)."""
        self._stop(kill=False)

    def _stop(self, *, kill: bool) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if kill:
                proc.kill()
            elif proc.stdin is not None:
                proc.stdin.close()  # EOF: the child closes its database and exits
            proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass


def _relay_stderr(stream: IO[bytes]) -> None:
    for line in stream:
        text = line.decode("utf-8", "replace").rstrip()
        if text:
            log.warning("sqlite log writer: %s", text)
    stream.close()


# ---- the child ----------------------------------------------------------------------------------


def _read_exact(stream: IO[bytes], n: int) -> bytes | None:
    data = stream.read(n)
    if len(data) != n:
        return None
    return data


def main(argv: list[str]) -> int:
    """The child: open the store, then store batches from stdin until it closes."""
    from aigw._codec import SqliteLogStore
    from aigw.builtins.sqlite_log_schema import connect
    from aigw.builtins.sqlite_logs import LOG_COLUMNS, PRUNE_EVERY

    logging.basicConfig(stream=sys.stderr, format="%(message)s", level=logging.WARNING)
    options = json.loads(argv[1])
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        # Migrated with Python's sqlite3 (the one place migrations live), closed, then opened
        # by the Rust store: two copies of SQLite never hold the file open at once.
        connect(Path(options["path"]), create=True).close()
        store = SqliteLogStore(options["path"], LOG_COLUMNS)
    except Exception as exc:  # noqa: BLE001 - the parent reports it at start-up
        print(f"cannot open the log store: {exc}", file=sys.stderr)
        return 1
    retention_days, max_logs = options["retention_days"], options["max_logs"]
    last_prune = time.monotonic()
    stdout.write(READY)
    stdout.flush()
    while True:
        head = _read_exact(stdin, _LEN.size)
        if head is None:
            break
        payload = _read_exact(stdin, _LEN.unpack(head)[0])
        if payload is None:
            break
        try:
            answer = store.store(payload)
            if answer:
                print(f"sqlite logger: {answer} records had a log_id already stored; ignored", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - reported; the parent counts the batch as failed
            print(f"cannot store a batch: {exc}", file=sys.stderr)
            answer = FAILED
        stdout.write(_LEN.pack(answer))
        stdout.flush()
        if (retention_days or max_logs) and time.monotonic() - last_prune >= PRUNE_EVERY:
            last_prune = time.monotonic()
            older_than = time.time() - retention_days * 86400 if retention_days else None
            try:
                store.prune(older_than, max_logs or None)
            except Exception as exc:  # noqa: BLE001 - the batch is stored; retention tries again later
                print(f"retention pass failed: {exc}", file=sys.stderr)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
