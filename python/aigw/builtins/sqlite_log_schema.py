"""The SQLite log store's schema, its versioned migrations, and how connections are opened.

Layout: `logs` holds one small row per request (WITHOUT ROWID, clustered on the time-ordered
UUIDv7 `log_id`, so listings and cursors walk it in order); `log_bodies` holds the request and
response bodies apart, so filtering and listing never page through megabytes of payload.

The schema version is `PRAGMA user_version`. `MIGRATIONS[i]` takes a database from version i
to i+1; a new version appends a step and never edits an old one. A database from a newer aigw
is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from aigw.errors import ConfigError
from aigw.private_files import create_private_file, make_private_dir

SCHEMA_VERSION = 5

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1
    """
    CREATE TABLE logs (
        log_id                TEXT PRIMARY KEY NOT NULL,  -- UUIDv7, lowercase
        created_at            REAL NOT NULL,              -- unix seconds
        gateway               TEXT NOT NULL,
        request_type          TEXT NOT NULL,
        event_id              TEXT,
        provider              TEXT,
        model                 TEXT,
        endpoint              TEXT,
        status                INTEGER NOT NULL,
        success               INTEGER NOT NULL,           -- 0/1
        step                  INTEGER,
        cache_status          TEXT NOT NULL,              -- HIT/MISS
        stream                INTEGER NOT NULL,
        cancelled             INTEGER NOT NULL,
        duration_ms           REAL NOT NULL,
        ttfb_ms               REAL,
        tokens_in             INTEGER,
        tokens_out            INTEGER,
        metadata              TEXT,                       -- JSON object, <= 5 flat entries
        error                 TEXT,
        request_content_type  TEXT,
        response_content_type TEXT,
        request_body_size     INTEGER,  -- NULL: not collected, size without body: not kept
        response_body_size    INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE log_bodies (
        log_id        TEXT PRIMARY KEY NOT NULL,
        request_body  BLOB,
        response_body BLOB
    );
    -- Every index is paid on the request path (each row updates each b-tree, measured ~1 us
    -- per index per request). Listings walk log_id (the primary key, time-ordered) newest
    -- first and filter as they go, so gateway/provider/model/status need no index of their
    -- own. Time windows and eventId lookups do, and the partial indexes cost only the rows
    -- they hold.
    CREATE INDEX logs_created_at ON logs (created_at);
    CREATE INDEX logs_event_id ON logs (event_id) WHERE event_id IS NOT NULL;
    CREATE INDEX logs_failed ON logs (log_id) WHERE success = 0;
    CREATE INDEX logs_cache_hit ON logs (log_id) WHERE cache_status = 'HIT';
    """,
    # 1 -> 2: every upstream try of the request (retries, fallbacks), as a JSON array of
    # {step, attempt, provider, model, status, error, duration_ms}. NULL: none recorded
    # (cache hits, refused requests, rows written before version 2).
    """
    ALTER TABLE logs ADD COLUMN attempts TEXT
    """,
    # 2 -> 3 (issue 13): the estimated cost in USD (NULL: unknown), whether the client set the
    # prices (cf-aig-custom-cost: JSON [USD per token in, out], NULL: not set), the token's principal, and the evaluation the logs API
    # PATCHes (feedback +1/-1, score 0..100).
    """
    ALTER TABLE logs ADD COLUMN cost REAL;
    ALTER TABLE logs ADD COLUMN custom_cost TEXT;
    ALTER TABLE logs ADD COLUMN principal TEXT;
    ALTER TABLE logs ADD COLUMN feedback INTEGER;
    ALTER TABLE logs ADD COLUMN score INTEGER
    """,
    # 3 -> 4 (issue 10): a realtime session's own stats as a JSON object (frames and bytes each
    # way, close codes and reasons, who closed, resumptions). NULL: not a realtime session.
    """
    ALTER TABLE logs ADD COLUMN session TEXT
    """,
    # 4 -> 5 (issue 15): which bodies of the row are packed: bit 1 the request's, bit 2 the
    # response's. A packed body is its length (4 bytes, little-endian) then one LZ4 block
    # (rust/src/log_body.rs; `_codec.unpack_log_body` reads it). Bodies of 1 KiB and more are
    # packed when LZ4 shrinks them by at least an eighth: a streamed answer's SSE ~25x.
    """
    ALTER TABLE log_bodies ADD COLUMN body_encoding INTEGER NOT NULL DEFAULT 0
    """,
)
assert len(MIGRATIONS) == SCHEMA_VERSION

#: `log_bodies.body_encoding` bits (schema version 5): which of a row's bodies are packed
#: (rust/src/log_body.rs has the same two, REQUEST_PACKED and RESPONSE_PACKED).
REQUEST_PACKED, RESPONSE_PACKED = 1, 2

BUSY_TIMEOUT_MS = 5000  # other worker processes share the file
PAGE_SIZE = 16384  # bytes, for a store created from now on


def connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Open the log store at `path`, migrated to SCHEMA_VERSION, in WAL mode.

    With create=False a missing file raises FileNotFoundError instead of making an empty
    store. The connection is in autocommit mode (explicit BEGIN/COMMIT) and may be handed to
    another thread, used by one thread at a time. Raises ConfigError for a store written by
    a newer aigw.
    """
    path = Path(path)
    if create:
        make_private_dir(path.parent)
        create_private_file(path)  # logs hold prompts and answers: 0600 (and so are -wal, -shm)
    elif not path.is_file():
        raise FileNotFoundError(f"no log store at {path}")
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # Takes effect only on a store that has no page yet (a new file; an existing one
            # keeps its size): 16 KiB pages make the writer's row 15 % cheaper than SQLite's
            # default 4 KiB (fewer B-tree pages and WAL frames per batch; benches/README.md).
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a committed batch survives an aigw crash; only an OS crash or power
            # loss may lose the last batches. FULL would fsync every batch.
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, path)
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            # Workers starting together: opening a WAL database while another process closes
            # its last connection (checkpoint, WAL reset) can fail at once with "database is
            # locked", without SQLite's busy handler; try again for the busy timeout.
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
        except BaseException:
            conn.close()
            raise


def migrate(conn: sqlite3.Connection, path: Path | str = "") -> None:
    """Bring the database to SCHEMA_VERSION, one step per transaction. Safe to race."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"log store {path} has schema version {version}, newer than this aigw "
            f"understands ({SCHEMA_VERSION}); upgrade aigw or point it at another data_dir"
        )
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")  # one migrator at a time across processes
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                for statement in _statements(MIGRATIONS[version]):
                    conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    # executescript() would commit our transaction; run the statements one by one instead.
    # (Migration scripts therefore keep semicolons out of their comments.)
    return [s.strip() for s in script.split(";") if s.strip()]
