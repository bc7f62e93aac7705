"""The PostgreSQL log store's schema and its versioned migrations.

Same fields as the SQLite store (aigw.builtins.sqlite_log_schema): `aigw_logs` holds one small
row per request, `aigw_log_bodies` the bodies apart. `log_id` (UUIDv7) is compared in the "C"
collation, so that its order is time order whatever the database's locale (keyset paging
relies on it). Tables are prefixed `aigw_` because the database is often shared.

The version lives in `aigw_schema` (one row per component). `MIGRATIONS[i]` takes the schema
from version i to i+1; a new version appends a step and never edits an old one. Migrating takes
a transaction-scoped advisory lock, so gateways starting together migrate once. A database
from a newer plugin is refused rather than misread.
"""

from __future__ import annotations

from typing import Any

from aigw.errors import ConfigError

COMPONENT = "logs"
SCHEMA_VERSION = 2
_LOCK = 0x61696777  # "aigw": pg_advisory_xact_lock key for migrations

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1
    """
    CREATE TABLE aigw_logs (
        log_id                text COLLATE "C" PRIMARY KEY,   -- UUIDv7, lowercase
        created_at            double precision NOT NULL,      -- unix seconds
        gateway               text NOT NULL,
        request_type          text NOT NULL,
        event_id              text,
        provider              text,
        model                 text,
        endpoint              text,
        status                integer NOT NULL,
        success               boolean NOT NULL,
        step                  integer,
        cache_status          text NOT NULL,
        stream                boolean NOT NULL,
        cancelled             boolean NOT NULL,
        duration_ms           double precision NOT NULL,
        ttfb_ms               double precision,
        tokens_in             bigint,
        tokens_out            bigint,
        metadata              jsonb,
        error                 text,
        request_content_type  text,
        response_content_type text,
        request_body_size     bigint,   -- NULL: not collected; a size without body: not kept
        response_body_size    bigint
    );
    CREATE TABLE aigw_log_bodies (
        log_id        text COLLATE "C" PRIMARY KEY,
        request_body  bytea,
        response_body bytea
    );
    CREATE INDEX aigw_logs_created_at ON aigw_logs (created_at);
    CREATE INDEX aigw_logs_event_id ON aigw_logs (event_id) WHERE event_id IS NOT NULL;
    CREATE INDEX aigw_logs_failed ON aigw_logs (log_id) WHERE NOT success;
    CREATE INDEX aigw_logs_cache_hit ON aigw_logs (log_id) WHERE cache_status = 'HIT';
    """,
    # 1 -> 2: every upstream try of the request (retries, fallbacks), as a JSON array of
    # {step, attempt, provider, model, status, error, duration_ms}, as the SQLite store's
    # version 2. NULL: none recorded (cache hits, refused requests, rows written before 2).
    """
    ALTER TABLE aigw_logs ADD COLUMN attempts jsonb;
    """,
)
assert len(MIGRATIONS) == SCHEMA_VERSION


async def migrate(conn: Any) -> int:
    """Bring the schema to SCHEMA_VERSION (one transaction, under the advisory lock); returns
    the version found before. Raises ConfigError for a schema newer than this plugin."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS aigw_schema (component text PRIMARY KEY, version integer NOT NULL)")
        found = await conn.fetchval("SELECT version FROM aigw_schema WHERE component = $1", COMPONENT) or 0
        if found > SCHEMA_VERSION:
            raise ConfigError(
                f"the PostgreSQL log store has schema version {found}, newer than this aigw-postgres "
                f"understands ({SCHEMA_VERSION}); upgrade the plugin"
            )
        for version in range(found, SCHEMA_VERSION):
            await conn.execute(MIGRATIONS[version])
        if found < SCHEMA_VERSION:
            await conn.execute(
                "INSERT INTO aigw_schema (component, version) VALUES ($1, $2) "
                "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
                COMPONENT,
                SCHEMA_VERSION,
            )
    return found
