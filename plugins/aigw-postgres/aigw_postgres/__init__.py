"""aigw-postgres: request logs in PostgreSQL, shared by every gateway process and machine.

Registers the logger (and log store) `postgres`; choose it explicitly::

    [logs]
    stores = ["postgres"]
    [plugins.postgres]
    dsn = "env:AIGW_POSTGRES_DSN"

`aigw logs` then reads PostgreSQL. Writer and reader: aigw_postgres.logger; schema and
migrations: aigw_postgres.schema; queries: aigw_postgres.query.
"""

from __future__ import annotations

from aigw import hookimpl
from aigw_postgres.logger import PostgresLogger

__all__ = ["PostgresLogger"]


@hookimpl
def register_loggers(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `postgres` logger and log store."""
    register("postgres", PostgresLogger.from_context)
