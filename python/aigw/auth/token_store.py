"""Gateway auth tokens: stored hashed in the data directory's SQLite, verified from memory.

Tokens are `aigw_` + 43 url-safe characters (32 random bytes from `secrets`). The database keeps
only their SHA-256 and a display id (the first 12 hex digits of that hash), never the token.

Why a plain SHA-256 and not a slow KDF (bcrypt, scrypt, argon2): slow hashing protects
low-entropy secrets such as passwords, whose space an attacker holding the hashes can search.
A 256-bit random token cannot be searched at any hash speed, so a fast hash loses nothing and
keeps verification at about a microsecond per request. Tokens given in configuration are
user-chosen and may be weak, which is why they are never written to the database: they live in
memory only (and the store warns about short ones).

Verification (`verify`) touches no I/O: the active tokens are held in a dict keyed by display
id, and the presented token's hash is compared with `hmac.compare_digest`. The id lookup that
precedes it only reveals timing about a hash prefix, which says nothing about any token.
SQLite is used synchronously but only for tiny statements: at open, on create/revoke (CLI),
and in `sync()`, which writes batched `last_used` times and reloads when another process
changed the database; a server runs `sync()` off the event loop (`run_sync`) every few seconds,
so a token revoked with `aigw tokens revoke` stops working within that interval.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aigw.private_files import create_private_file, make_private_dir
from aigw.secret import Secret

if TYPE_CHECKING:
    from aigw.config import Settings

__all__ = [
    "TOKEN_PREFIX",
    "TokenInfo",
    "TokenStore",
    "TokenStoreError",
    "ensure_first_token",
    "generate_token",
    "hash_token",
]

log = logging.getLogger("aigw.auth")

TOKEN_PREFIX = "aigw_"
#: Presented tokens longer than this are rejected before hashing.
MAX_TOKEN_LENGTH = 512
#: Config tokens shorter than this get a start-up warning.
WEAK_TOKEN_LENGTH = 16
_ID_BYTES = 6  # 12 hex digits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_tokens (
    id          TEXT PRIMARY KEY,          -- first 12 hex digits of sha256, safe to display
    sha256      BLOB NOT NULL UNIQUE,
    name        TEXT NOT NULL DEFAULT '',
    gateway     TEXT,                      -- NULL: valid on every gateway
    created_at  REAL NOT NULL,             -- unix seconds
    last_used   REAL,
    revoked_at  REAL
) STRICT
"""


class TokenStoreError(Exception):
    """A token operation that cannot be done (unknown id, token from configuration ...)."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What is known about a token, without the token. Safe to log and display."""

    #: First 12 hex digits of the token's SHA-256.
    id: str
    name: str
    #: The only gateway it opens; None = every gateway.
    gateway: str | None
    #: "db" (created with `aigw tokens create`) or "config" (config file / environment).
    source: Literal["db", "config"]
    #: Unix seconds; None for config tokens.
    created_at: float | None = None
    last_used: float | None = None
    revoked: bool = False

    def opens(self, gateway: str | None) -> bool:
        """Whether this token is valid for `gateway` (None: only unscoped tokens qualify)."""
        return self.gateway is None or self.gateway == gateway


def generate_token() -> str:
    """A new token: `aigw_` + 32 random bytes, url-safe base64."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    """SHA-256 of the token's UTF-8 bytes (see the module docstring for why not a slow KDF)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _id_of(digest: bytes) -> str:
    return digest[:_ID_BYTES].hex()


class TokenStore:
    """Auth tokens from the database and from configuration, verified in memory."""

    def __init__(self, db_path: Path, config_tokens: Iterable[tuple[Secret, str | None, str]] = ()) -> None:
        """Open (creating if needed) the database at `db_path` and load the active tokens.

        `config_tokens` are (secret, gateway or None, label) triples kept in memory only; the
        label (e.g. "env:BENCH_TOKEN") becomes their name.
        """
        db_path = Path(db_path)
        make_private_dir(db_path.parent)
        create_private_file(db_path)  # SQLite gives its -wal and -shm files the same mode
        self.db_path = db_path
        self._lock = threading.Lock()
        self._closed = False
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None, timeout=5.0)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._data_version = self._db.execute("PRAGMA data_version").fetchone()[0]
        self._config: dict[str, tuple[bytes, TokenInfo]] = {}
        for secret, gateway, label in config_tokens:
            digest = hash_token(secret.reveal())
            self._config[_id_of(digest)] = (digest, TokenInfo(_id_of(digest), label, gateway, "config"))
            if len(secret.reveal()) < WEAK_TOKEN_LENGTH:
                log.warning("auth token %s is shorter than %d characters; use a long random one", label, WEAK_TOKEN_LENGTH)
        # id -> (sha256, info) of every active token; replaced whole, never mutated in place,
        # so `verify` on the event loop always sees a consistent snapshot.
        self._active: dict[str, tuple[bytes, TokenInfo]] = {}
        # id -> last successful verification, flushed to the database by `sync`.
        self._used: dict[str, float] = {}
        # ids that left the active set since the last `take_revoked` (revoked, or deleted).
        self._revoked: set[str] = set()
        self._reload()

    @classmethod
    def for_settings(cls, settings: Settings) -> TokenStore:
        """The store of `settings.db_path`, with `settings.tokens` (every gateway) and each
        gateway's `tokens` (that gateway only)."""
        config: list[tuple[Secret, str | None, str]] = [
            (secret, None, f"config:tokens[{i}] ({secret.source})") for i, secret in enumerate(settings.tokens)
        ]
        for name, gateway in settings.gateways.items():
            config += [
                (secret, name, f"config:gateways.{name}.tokens[{i}] ({secret.source})")
                for i, secret in enumerate(gateway.tokens)
            ]
        return cls(settings.db_path, config)

    # ---- per request ----------------------------------------------------------------------

    def verify(self, token: str, gateway: str | None = None) -> TokenInfo | None:
        """The token's info if it is active and opens `gateway`, else None. No I/O.

        With `gateway=None` only tokens valid on every gateway are accepted. Comparison of the
        hashes is constant-time."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = hash_token(token)
        entry = self._active.get(_id_of(digest))
        if entry is None or not hmac.compare_digest(entry[0], digest):
            return None
        info = entry[1]
        if not info.opens(gateway):
            return None
        if info.source == "db":
            self._used[info.id] = time.time()
        return info

    # ---- management (CLI, admin) ------------------------------------------------------------

    def create(self, name: str = "", gateway: str | None = None) -> tuple[str, TokenInfo]:
        """Create, store (hashed) and activate a token. Returns (token, info); the token is not
        kept anywhere, so the caller must show it now."""
        for _ in range(8):  # an id collision (48 bits) is astronomically rare; retry anyway
            token = generate_token()
            digest = hash_token(token)
            info = TokenInfo(_id_of(digest), name, gateway, "db", created_at=time.time())
            try:
                with self._lock:
                    self._db.execute(
                        "INSERT INTO auth_tokens (id, sha256, name, gateway, created_at) VALUES (?, ?, ?, ?, ?)",
                        (info.id, digest, name, gateway, info.created_at),
                    )
            except sqlite3.IntegrityError:
                continue
            self._reload()
            return token, info
        raise TokenStoreError("could not allocate a unique token id")  # pragma: no cover

    def list(self) -> list[TokenInfo]:
        """Every database token (revoked ones included, oldest first), then config tokens."""
        self.sync()
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, gateway, created_at, last_used, revoked_at FROM auth_tokens ORDER BY created_at, id"
            ).fetchall()
        db = [TokenInfo(r[0], r[1], r[2], "db", r[3], r[4], r[5] is not None) for r in rows]
        return db + [info for _, info in self._config.values()]

    def revoke(self, id_or_token: str) -> TokenInfo:
        """Revoke a database token given its id or the token itself; returns its updated info.

        Raises TokenStoreError for an unknown id, an already revoked token, or a token that
        comes from configuration (remove it there)."""
        is_id = re.fullmatch(r"[0-9a-f]{%d}" % (2 * _ID_BYTES), id_or_token) is not None
        token_id = id_or_token if is_id else _id_of(hash_token(id_or_token))
        if token_id in self._config:
            raise TokenStoreError(f"token {token_id} comes from configuration ({self._config[token_id][1].name}); remove it there")
        now = time.time()
        with self._lock:
            row = self._db.execute("SELECT revoked_at FROM auth_tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise TokenStoreError(f"no token with id {token_id}")
            if row[0] is not None:
                raise TokenStoreError(f"token {token_id} is already revoked")
            self._db.execute("UPDATE auth_tokens SET revoked_at = ? WHERE id = ?", (now, token_id))
        self._reload()
        return next(info for info in self.list() if info.id == token_id)

    def has_token_for(self, gateway: str) -> bool:
        """Whether some active token (database or config) opens `gateway`."""
        return any(info.opens(gateway) for _, info in self._active.values())

    # ---- keeping memory and database in step ------------------------------------------------

    def sync(self) -> bool:
        """Write pending `last_used` times; reload if another connection changed the database.

        Blocking but small: call it from a thread (`run_sync` does). Returns whether it reloaded."""
        used, self._used = self._used, {}
        with self._lock:
            if used:
                self._db.executemany(
                    "UPDATE auth_tokens SET last_used = max(coalesce(last_used, 0), ?) WHERE id = ?",
                    [(t, i) for i, t in used.items()],
                )
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            changed = version != self._data_version
            self._data_version = version
        if changed:
            self._reload()
        return changed

    async def run_sync(self, interval: float = 5.0) -> None:
        """Run `sync` in a worker thread every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.sync)
            except sqlite3.Error:
                log.exception("auth token sync failed; keeping the tokens already loaded")

    def close(self) -> None:
        """Flush `last_used` and close the database. Closing twice is harmless."""
        if self._closed:
            return
        self.sync()
        with self._lock:
            self._db.close()
            self._closed = True

    def _reload(self) -> None:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, sha256, name, gateway, created_at, last_used FROM auth_tokens WHERE revoked_at IS NULL"
            ).fetchall()
        active = {r[0]: (r[1], TokenInfo(r[0], r[2], r[3], "db", r[4], r[5])) for r in rows}
        active.update(self._config)
        gone = self._active.keys() - active.keys()
        self._active = active
        if gone:
            with self._lock:
                self._revoked |= gone

    def take_revoked(self) -> set[str]:
        """Ids of tokens that stopped being valid (revoked here or by another process and
        picked up by `sync`) since the last call; the caller ends their open connections."""
        with self._lock:
            gone, self._revoked = self._revoked, set()
        return gone


def ensure_first_token(settings: Settings, store: TokenStore) -> str | None:
    """On first start: when some gateway requires authentication and no active token opens it,
    create one valid on every gateway and return it (the caller prints it, once). Else None."""
    needy = [name for name, gw in settings.gateways.items() if gw.authentication and not store.has_token_for(name)]
    if not needy:
        return None
    token, info = store.create(name="first token")
    log.info("created auth token %s because gateway(s) %s require authentication and had none", info.id, ", ".join(needy))
    return token
