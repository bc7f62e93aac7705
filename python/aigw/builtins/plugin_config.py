"""Reading a built-in plugin's own config section with clear errors (shared by the loggers)."""

from __future__ import annotations

from typing import Any, Mapping

from aigw.errors import ConfigError


class SectionReader:
    """Typed look-ups in one plugin's config section; unknown keys are an error."""

    def __init__(self, plugin: str, section: Mapping[str, Any], known: set[str]) -> None:
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(
                f"plugin {plugin!r}: unknown config key(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(sorted(known))}"
            )
        self._plugin = plugin
        self._section = section

    def number(self, key: str, default: float, *, minimum: float = 0, integer: bool = False) -> Any:
        """The value of `key` (or `default`), checked to be a number >= minimum."""
        value = self._section.get(key, default)
        ok_type = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type) or value < minimum:
            kind = "an integer" if integer else "a number"
            raise ConfigError(f"plugin {self._plugin!r}: {key} must be {kind} >= {minimum}, got {value!r}")
        return value

    def string(self, key: str, default: str | None, *, choices: tuple[str, ...] = ()) -> str | None:
        """The value of `key` (or `default`), checked to be a string (one of `choices` if given)."""
        value = self._section.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or (choices and value not in choices):
            want = f"one of {', '.join(choices)}" if choices else "a string"
            raise ConfigError(f"plugin {self._plugin!r}: {key} must be {want}, got {value!r}")
        return value
