"""Secrets in configuration: `env:NAME`, `file:PATH` or a literal, and a value that never prints.

A `Secret` keeps where its value came from (safe to show: `env:OPENAI_API_KEY`) apart from the
value itself (never shown). `repr`, `str` and `format` show only the source, so a Secret inside a
dataclass, a log line or an exception message cannot leak. Code that needs the value calls
`reveal()`, which makes every place that handles the plaintext greppable.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Secret", "SecretSpecError", "UnsetSecret", "resolve_secret"]

_HIDDEN = "********"


class Secret:
    """A secret string. Shows its source (`env:NAME`, `file:PATH`, `literal`), never its value."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "literal") -> None:
        self._value = value
        #: Where the value came from: "env:NAME", "file:PATH" or "literal". Safe to display.
        self.source = source

    def reveal(self) -> str:
        """Return the plaintext. Call it only where the value is sent or hashed."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    def __str__(self) -> str:
        return _HIDDEN

    def __format__(self, spec: str) -> str:
        return _HIDDEN

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)  # consistent with __eq__, which compares values


@dataclass(frozen=True, slots=True)
class UnsetSecret:
    """A `env:NAME` reference whose variable is unset or empty: the setting has no value."""

    source: str


class SecretSpecError(ValueError):
    """A `file:` secret that cannot be read, or an empty `env:`/`file:` reference."""


def resolve_secret(
    spec: str, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> Secret | UnsetSecret:
    """Resolve a secret reference.

    `env:NAME` reads the environment (unset or empty gives `UnsetSecret`, so the caller can warn
    and carry on); `file:PATH` reads the file (relative to `base_dir`) and strips surrounding
    whitespace, raising `SecretSpecError` when it cannot; anything else is the secret itself.
    Error messages name the reference, never a value.
    """
    env = os.environ if environ is None else environ
    if spec.startswith("env:"):
        name = spec[4:]
        if not name:
            raise SecretSpecError('"env:" needs a variable name, e.g. "env:OPENAI_API_KEY"')
        value = env.get(name, "")
        return Secret(value, spec) if value else UnsetSecret(spec)
    if spec.startswith("file:"):
        raw = spec[5:]
        if not raw:
            raise SecretSpecError('"file:" needs a path, e.g. "file:/run/secrets/openai"')
        path = Path(raw).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise SecretSpecError(f"cannot read {path}: {reason}") from None
        if not value:
            raise SecretSpecError(f"{path} is empty")
        return Secret(value, f"file:{path}")
    return Secret(spec, "literal")
