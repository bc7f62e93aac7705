"""Gateway authentication: the token store (hashed tokens in SQLite plus tokens from config)."""

from aigw.auth.token_store import (
    TOKEN_PREFIX,
    TokenInfo,
    TokenStore,
    TokenStoreError,
    ensure_first_token,
    generate_token,
    hash_token,
)

__all__ = [
    "TOKEN_PREFIX",
    "TokenInfo",
    "TokenStore",
    "TokenStoreError",
    "ensure_first_token",
    "generate_token",
    "hash_token",
]
