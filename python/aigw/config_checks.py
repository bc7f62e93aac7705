"""The configuration's building blocks: the error types (`ConfigIssue`, `ConfigError`) and the
validation context and field checkers that `aigw.config` declares its tables with.

A checker takes (context, key path, raw value) and returns the checked value, or `_BAD` after
reporting the problem on the context (file:line, key, message): every error in a file is
collected, none stops the reading early. Private to the config package: plugins read settings,
they do not build them.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from aigw import errors
from aigw.config_env import EnvOverrides
from aigw.secret import SecretSpecError, UnsetSecret, resolve_secret
from aigw.toml_locator import KeyLocator


# ---- errors ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem: where (`aigw.toml:7`, `environment AIGW_SERVER__PORT`), key, and message."""

    where: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.key}: {self.message}" if self.key else f"{self.where}: {self.message}"


class ConfigError(errors.ConfigError):
    """The configuration is invalid; `issues` lists every problem found, in file order."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


# ---- validation context and field checkers --------------------------------------------------

_BAD = object()  # a checker's answer for "invalid, already reported"
Checker = Callable[["_Context", tuple, Any], Any]


class _Context:
    """Collects issues and warnings and knows where each key came from."""

    def __init__(self, file: Path | None, text: str, env: EnvOverrides, environ: Mapping[str, str]) -> None:
        self.file = file
        self.locator = KeyLocator(text) if file is not None else None
        self.env = env
        self.environ = environ
        self.issues: list[tuple[int, ConfigIssue]] = []
        self.warnings: list[str] = []

    def where(self, path: tuple) -> tuple[int, str]:
        """(sort line, description) of where `path` was set."""
        var = self.env.variable_for(path)
        if var is not None:
            return 1 << 30, f"environment {var}"
        if self.locator is not None:
            line = self.locator.line_of(path)
            return (line or 0), (f"{self.file}:{line}" if line else str(self.file))
        return 0, "defaults"

    def error(self, path: tuple, message: str) -> object:
        line, where = self.where(path)
        self.issues.append((line, ConfigIssue(where, _dotted(path), message)))
        return _BAD

    def warn(self, path: tuple, message: str) -> None:
        self.warnings.append(f"{self.where(path)[1]}: {_dotted(path)}: {message}")

    def env_text(self, path: tuple) -> str | None:
        """The raw environment text when `path` itself (not an item inside it) was set by a
        variable."""
        return self.env.raw.get(path)

    def base_dir(self, path: tuple) -> Path:
        """Directory that relative paths at `path` are relative to."""
        if self.file is not None and self.env.variable_for(path) is None:
            return self.file.resolve().parent
        return Path.cwd()


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            seg = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            out += f".{seg}" if out else seg
    return out


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def _expected(ctx: _Context, path: tuple, what: str, value: Any) -> object:
    return ctx.error(path, f"expected {what}, got {_describe(value)}")


def _integer(lo: int, hi: int, what: str | None = None) -> Checker:
    what = what or f"an integer {lo}-{hi}"

    def check(ctx: _Context, path: tuple, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return _expected(ctx, path, what, value)
        return value

    return check


def _seconds(lo: float, hi: float) -> Checker:
    what = f"a number of seconds {lo:g}-{hi:g}"

    def check(ctx: _Context, path: tuple, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return _expected(ctx, path, what, value)
        if not lo <= value <= hi:
            return _expected(ctx, path, what, value)
        return float(value)

    return check


def _boolean(ctx: _Context, path: tuple, value: Any) -> Any:
    if not isinstance(value, bool):
        return _expected(ctx, path, "true or false", value)
    return value


def _string(pattern: re.Pattern[str] | None = None, what: str = "a string") -> Checker:
    def check(ctx: _Context, path: tuple, value: Any) -> Any:
        text = ctx.env_text(path)
        if text is not None:
            value = text
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
            return _expected(ctx, path, what, value)
        return value

    return check


def _choice(*options: str) -> Checker:
    what = "one of " + ", ".join(f'"{o}"' for o in options)

    def check(ctx: _Context, path: tuple, value: Any) -> Any:
        if value not in options or not isinstance(value, str):
            return _expected(ctx, path, what, value)
        return value

    return check


def _url(ctx: _Context, path: tuple, value: Any) -> Any:
    value = _string()(ctx, path, value)
    if value is _BAD:
        return value
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        return _expected(ctx, path, "an http:// or https:// URL without query", value)
    return value.rstrip("/")


def _ws_url(ctx: _Context, path: tuple, value: Any) -> Any:
    value = _string()(ctx, path, value)
    if value is _BAD:
        return value
    if not re.fullmatch(r"(wss?|https?)://[^\s/?#]+(/[^\s?#]*)?", value):
        return _expected(ctx, path, "a ws://, wss://, http:// or https:// URL without query", value)
    return value.rstrip("/")


def _path(must_exist: bool) -> Checker:
    def check(ctx: _Context, path: tuple, value: Any) -> Any:
        value = _string()(ctx, path, value)
        if value is _BAD:
            return value
        if not value:
            return _expected(ctx, path, "a path", value)
        resolved = ctx.base_dir(path) / Path(value).expanduser()
        if must_exist and not os.access(resolved, os.R_OK):
            return ctx.error(path, f"expected a readable file, but {resolved} is not one")
        return resolved

    return check


def _string_list(item: Checker) -> Checker:
    def check(ctx: _Context, path: tuple, value: Any) -> Any:
        text = ctx.env_text(path)
        if text is not None and not isinstance(value, list):
            value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, list):
            return _expected(ctx, path, "an array of strings", value)
        checked = [item(ctx, path + (i,), v) for i, v in enumerate(value)]
        return _BAD if any(c is _BAD for c in checked) else tuple(checked)

    return check


_SECRET_WHAT = 'a string: "env:NAME", "file:PATH" or the secret itself'


def _secret(ctx: _Context, path: tuple, value: Any) -> Any:
    """A Secret, or None when an `env:` reference is unset (warned). Never echoes the value."""
    text = ctx.env_text(path)
    if text is not None:
        value = text
    if not isinstance(value, str):
        return ctx.error(path, f"expected {_SECRET_WHAT}")
    if not value:
        return None
    try:
        secret = resolve_secret(value, ctx.environ, ctx.base_dir(path))
    except SecretSpecError as exc:
        return ctx.error(path, str(exc))
    if isinstance(secret, UnsetSecret):
        ctx.warn(path, f"{secret.source[4:]} is not set; no value for this key")
        return None
    return secret


def _secret_list(ctx: _Context, path: tuple, value: Any) -> Any:
    items = _string_list(_secret)(ctx, path, value)
    return items if items is _BAD else tuple(s for s in items if s is not None)


def _table(cls: type) -> Checker:
    def check(ctx: _Context, path: tuple, value: Any) -> Any:
        if not isinstance(value, dict):
            return ctx.error(path, f"expected a table, got {_describe(value)}")
        return _build(cls, ctx, path, value)

    return check


def _key(check: Checker, default: Any = MISSING, *, factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field that is also a configuration key validated by `check`."""
    if factory is not None:
        return field(default_factory=factory, metadata={"check": check})
    return field(default=default, metadata={"check": check})


def _unknown(ctx: _Context, path: tuple, known: list[str]) -> None:
    name = path[-1]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        ctx.error(path, f'unknown key (did you mean "{close[0]}"?)')
    else:
        ctx.error(path, "unknown key (known keys: " + ", ".join(sorted(known)) + ")")


def _build(cls: type, ctx: _Context, path: tuple, raw: Mapping[str, Any], **fixed: Any) -> Any:
    """Validate `raw` against the `_key` fields of dataclass `cls` and construct it.

    Invalid and unknown keys are reported and left at their defaults, so validation carries on
    and reports every problem."""
    keys = {f.name: f for f in fields(cls) if "check" in f.metadata}
    values: dict[str, Any] = dict(fixed)
    for name, value in raw.items():
        spec = keys.get(name)
        if spec is None:
            _unknown(ctx, path + (name,), list(keys))
            continue
        checked = spec.metadata["check"](ctx, path + (name,), value)
        if checked is not _BAD:
            values[name] = checked
    return cls(**values)
