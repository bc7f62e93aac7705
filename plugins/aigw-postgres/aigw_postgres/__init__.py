"""aigw-postgres: request logs and auth tokens in PostgreSQL, shared by every gateway process
and machine.

Registers the logger (and log store) `postgres` and the auth backend `postgres`; choose them
explicitly::

    [logs]
    stores = ["postgres"]
    [auth]
    backends = ["postgres"]
    [plugins.postgres]
    dsn = "env:AIGW_POSTGRES_DSN"

`aigw logs` then reads PostgreSQL, and `aigw tokens` manages the tokens there. Writer and
reader: aigw_postgres.logger; queries: aigw_postgres.query; tokens: aigw_postgres.tokens;
schemas and migrations: aigw_postgres.schema; the shared config section: aigw_postgres.section.
"""

from __future__ import annotations

from aigw import hookimpl
from aigw_postgres.logger import PostgresLogger
from aigw_postgres.tokens import PostgresTokenAuth, PostgresTokenStore

__all__ = ["PostgresLogger", "PostgresTokenAuth", "PostgresTokenStore"]


@hookimpl
def register_loggers(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `postgres` logger and log store."""
    register("postgres", PostgresLogger.from_context)


@hookimpl
def register_auth_backends(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `postgres` auth backend (tokens shared through PostgreSQL)."""
    register("postgres", PostgresTokenAuth.from_context)
