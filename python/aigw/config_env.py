"""Environment overrides: `AIGW_SERVER__PORT=9000` sets `server.port` before validation.

Rules (the user-facing contract, also in docs/configuration.md):
- A variable `AIGW_<A>__<B>__<C>` sets key `a.b.c`; a double underscore separates levels, a
  single underscore stays part of the key (`AIGW_DATA_DIR` is `data_dir`).
- Segments are lower-cased. A gateway, provider or plugin name matches the file's table of the
  same name ignoring case and `-` vs `_` (`AIGW_PROVIDERS__CUSTOM_LOCAL__BASE_URL` reaches
  `[providers.custom-local]`). A name not in the file is created lower-cased as written, except
  that a provider's `_` become `-`, since provider slugs are dashed (`AIGW_PROVIDERS__WORKERS_AI__KEY`
  configures `workers-ai`).
- The value is read as a TOML value when it is one (`9000`, `false`, `["a", "b"]`,
  `{ limit = 10 }`) and as a plain string otherwise (`0.0.0.0`, `env:KEY`). A key that expects a
  string takes the text exactly as written (so `ACCOUNT_ID=12345` stays "12345"), and a key that
  expects a list takes a comma-separated string (`AIGW_TOKENS=tok1,tok2`).
- Switches that are not configuration keys are left alone: `AIGW_CONFIG` (the file),
  `AIGW_LOG_LEVEL` (the CLI's), `AIGW_PLUGINS`, `AIGW_DISABLE_PLUGINS`, `AIGW_TRACE_PLUGINS`
  (the plugin manager's). Any other `AIGW_NAME` without `__` that names no top-level key is
  ignored with a warning (it may be some component's switch, or a typo); with `__` an unknown
  key is an error like in the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EnvOverrides", "NOT_OVERRIDES", "apply_env_overrides", "parse_env_value"]

PREFIX = "AIGW_"
#: Variables that belong to aigw but are not configuration keys.
NOT_OVERRIDES = frozenset(
    {"AIGW_CONFIG", "AIGW_LOG_LEVEL", "AIGW_PLUGINS", "AIGW_DISABLE_PLUGINS", "AIGW_TRACE_PLUGINS"}
)
#: Tables whose keys are user-chosen names (matched loosely, see module docstring).
_NAMED_TABLES = frozenset({"gateways", "providers", "plugins"})


@dataclass(slots=True)
class EnvOverrides:
    """What the environment changed: for each key path, the variable and its raw text."""

    variables: dict[tuple[str, ...], str] = field(default_factory=dict)
    raw: dict[tuple[str, ...], str] = field(default_factory=dict)
    #: (variable, message) for variables that could not be applied.
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: `AIGW_NAME` variables (no `__`) that name no top-level key: left alone.
    ignored: list[str] = field(default_factory=list)

    def variable_for(self, path: tuple[str | int, ...]) -> str | None:
        """The variable that set `path` or one of its parents, if any."""
        keys = tuple(p for p in path if isinstance(p, str))
        while keys:
            var = self.variables.get(keys)
            if var is not None:
                return var
            keys = keys[:-1]
        return None


def parse_env_value(raw: str) -> Any:
    """Read `raw` as a TOML value (int, float, bool, array, inline table, quoted string) or,
    when it is not one, as the string itself."""
    if "\n" in raw or "\r" in raw:
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _match_name(table: Mapping[str, Any], segment: str, section: str) -> str:
    want = segment.replace("-", "_")
    for name in table:
        if isinstance(name, str) and name.lower().replace("-", "_") == want:
            return name
    return segment.replace("_", "-") if section == "providers" else segment


def apply_env_overrides(
    data: dict[str, Any], environ: Mapping[str, str], top_level_keys: frozenset[str] | None = None
) -> EnvOverrides:
    """Write every `AIGW_*` override from `environ` into `data` (the parsed file, mutated).

    When `top_level_keys` is given, a single-level variable naming none of them is recorded in
    `ignored` instead of applied.

    Variables are applied in sorted order so a table-valued variable (`AIGW_SERVER={...}`) comes
    before the keys inside it (`AIGW_SERVER__PORT`) and the more specific one wins.
    """
    result = EnvOverrides()
    for var in sorted(environ):
        if not var.startswith(PREFIX) or var in NOT_OVERRIDES:
            continue
        segments = var[len(PREFIX):].lower().split("__")
        if not all(segments):
            result.problems.append((var, "malformed name: use AIGW_SECTION__KEY, e.g. AIGW_SERVER__PORT"))
            continue
        if len(segments) == 1 and top_level_keys is not None and segments[0] not in top_level_keys:
            result.ignored.append(var)
            continue
        raw = environ[var]
        node: dict[str, Any] = data
        path: list[str] = []
        for depth, segment in enumerate(segments):
            if depth == 1 and path[0] in _NAMED_TABLES:
                segment = _match_name(node, segment, path[0])
            path.append(segment)
            if depth == len(segments) - 1:
                node[segment] = parse_env_value(raw)
                break
            child = node.setdefault(segment, {})
            if not isinstance(child, dict):
                result.problems.append(
                    (var, f"cannot set a key inside {'.'.join(path)}, which is not a table")
                )
                break
            node = child
        if len(path) == len(segments):
            result.variables[tuple(path)] = var
            result.raw[tuple(path)] = raw
    return result
