"""RESP, the Redis wire protocol, without I/O: commands to bytes, and where Redis is.

Replies are parsed by hiredis's C `Reader` (fed bytes, gives complete replies); this module
builds requests (RESP2 arrays of bulk strings) and reads a connection URL. Nothing here
touches a socket, so it is tested bytes-in/bytes-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit


class RedisError(Exception):
    """Any failure talking to Redis (never carries the URL's password)."""


class RedisReplyError(RedisError):
    """Redis answered with an error reply (`-ERR ...`, `-NOSCRIPT ...`, `-WRONGPASS ...`)."""


class RedisConnectionError(RedisError):
    """The connection could not be opened or was lost with commands outstanding."""


def _bulk(value: bytes | str | int | float) -> bytes:
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        data = repr(value).encode()
    else:
        raise TypeError(f"a Redis argument must be bytes, str, int or float, not {type(value).__name__}")
    return b"$%d\r\n%b\r\n" % (len(data), data)


def pack_command(*args: bytes | str | int | float) -> bytes:
    """One command as Redis reads it: an array of bulk strings (`*2\\r\\n$3\\r\\nGET\\r\\n...`)."""
    if not args:
        raise ValueError("a Redis command needs at least its name")
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where Redis is and how to log in, from a `redis://`, `rediss://` or `unix://` URL."""

    host: str | None = "127.0.0.1"
    port: int = 6379
    path: str | None = None  # a unix socket instead of host:port
    tls: bool = False
    db: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def where(self) -> str:
        """host:port or the socket path: safe to log (no credentials)."""
        return self.path if self.path else f"{self.host}:{self.port}"

    def login_commands(self) -> list[tuple[str, ...]]:
        """What to send first on a new connection: AUTH, then SELECT when db != 0."""
        commands: list[tuple[str, ...]] = []
        if self.password is not None:
            commands.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            commands.append(("SELECT", str(self.db)))
        return commands


def parse_url(url: str) -> RedisAddress:
    """`redis://[[user]:password@]host[:port][/db]`, `rediss://…` (TLS), or
    `unix://[[user]:password@]/path?db=N`. Raises ValueError (without the password) when the
    URL is not one of these."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    try:
        if parts.scheme == "unix":
            if not parts.path:
                raise ValueError("a unix:// URL needs the socket's path")
            db = int(query.get("db", ["0"])[0])
            return RedisAddress(host=None, path=parts.path, db=db, username=username, password=password)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError("the URL must start with redis://, rediss:// or unix://")
        path = parts.path.strip("/")
        db = int(path) if path else int(query.get("db", ["0"])[0])
        return RedisAddress(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            tls=parts.scheme == "rediss",
            db=db,
            username=username,
            password=password,
        )
    except ValueError as exc:
        if "URL" in str(exc) or "unix" in str(exc):
            raise
        raise ValueError("the Redis URL has a bad port or database number") from None
