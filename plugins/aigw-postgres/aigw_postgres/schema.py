"""The PostgreSQL schemas of aigw-postgres (the log store, the auth tokens) and their
versioned migrations.

Same fields as the SQLite store (aigw.builtins.sqlite_log_schema): `aigw_logs` holds one small
row per request, `aigw_log_bodies` the bodies apart. `log_id` (UUIDv7) is compared in the "C"
collation, so that its order is time order whatever the database's locale (keyset paging
relies on it). Tables are prefixed `aigw_` because the database is often shared.

The version lives in `aigw_schema` (one row per component: "logs", "tokens"). `MIGRATIONS[i]`
(`TOKEN_MIGRATIONS[i]`) takes the schema from version i to i+1; a new version appends a step and never edits an old one. Migrating takes
a transaction-scoped advisory lock, so gateways starting together migrate once. A database
from a newer plugin is refused rather than misread.
"""

from __future__ import annotations

from typing import Any

from aigw.errors import ConfigError

COMPONENT = "logs"
SCHEMA_VERSION = 3
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
    # 2 -> 3: the SQLite store's versions 3 and 4 (issues 13 and 10): the estimated cost in USD
    # (NULL: unknown), the client's prices (cf-aig-custom-cost: [USD per token in, out], NULL:
    # not set), the token's principal, the evaluation the logs API PATCHes (feedback +1/-1,
    # score 0..100), and a realtime session's stats (NULL: not a realtime session).
    """
    ALTER TABLE aigw_logs
        ADD COLUMN cost double precision,
        ADD COLUMN custom_cost jsonb,
        ADD COLUMN principal text,
        ADD COLUMN feedback integer,
        ADD COLUMN score integer,
        ADD COLUMN session jsonb;
    """,
)
assert len(MIGRATIONS) == SCHEMA_VERSION

TOKENS_COMPONENT = "tokens"
TOKEN_MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: the columns of the SQLite token table (aigw.auth.token_store), and one counter
    # that every change bumps in its own transaction: the row lock orders the changes, so a
    # process that has read version n has seen every change up to n (a sequence would not:
    # its values can commit out of order).
    """
    CREATE TABLE aigw_auth_tokens (
        id          text COLLATE "C" PRIMARY KEY,  -- first 12 hex digits of sha256, safe to display
        sha256      bytea NOT NULL UNIQUE,
        name        text NOT NULL DEFAULT '',
        gateway     text,                          -- NULL: valid on every gateway
        created_at  double precision NOT NULL,     -- unix seconds
        last_used   double precision,
        revoked_at  double precision
    );
    CREATE TABLE aigw_auth_tokens_version (
        one     boolean PRIMARY KEY DEFAULT true CHECK (one),
        version bigint NOT NULL
    );
    INSERT INTO aigw_auth_tokens_version (one, version) VALUES (true, 0);
    """,
)
TOKENS_SCHEMA_VERSION = len(TOKEN_MIGRATIONS)


async def migrate(conn: Any, component: str = COMPONENT) -> int:
    """Bring `component`'s schema ("logs" or "tokens") to its latest version (one transaction,
    under the advisory lock); returns the version found before. Raises ConfigError for a schema
    newer than this plugin."""
    migrations = MIGRATIONS if component == COMPONENT else TOKEN_MIGRATIONS
    latest = len(migrations)
    what = "log store" if component == COMPONENT else "token store"
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS aigw_schema (component text PRIMARY KEY, version integer NOT NULL)")
        found = await conn.fetchval("SELECT version FROM aigw_schema WHERE component = $1", component) or 0
        if found > latest:
            raise ConfigError(
                f"the PostgreSQL {what} has schema version {found}, newer than this aigw-postgres "
                f"understands ({latest}); upgrade the plugin"
            )
        for version in range(found, latest):
            await conn.execute(migrations[version])
        if found < latest:
            await conn.execute(
                "INSERT INTO aigw_schema (component, version) VALUES ($1, $2) "
                "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
                component,
                latest,
            )
    return found
