"""The gateway's stored provider keys (BYOK): the `KeyStore` the runtime looks keys up in."""

from __future__ import annotations

from typing import Any, Mapping

from aigw.errors import ByokAliasNotFound

__all__ = ["SettingsKeyStore"]


class SettingsKeyStore:
    """Stored provider keys from the config (`key` is alias "default", `keys` adds aliases)."""

    # Slots: the pipeline's native plan reads `_keys` in place for the default key
    # (rust/src/python/usual_plan.rs).
    __slots__ = ("_keys",)

    def __init__(self, providers: Mapping[str, Any]) -> None:
        self._keys: dict[str, dict[str, str]] = {}
        for name, provider in providers.items():
            keys = {alias: secret.reveal() for alias, secret in provider.keys.items() if secret.reveal()}
            if keys:
                self._keys[name] = keys

    def lookup(self, provider: str, alias: str | None) -> str | None:
        """The key for `provider` under `alias` (None: "default"). A named alias that does not
        exist is the client's mistake (Cloudflare's 2040), a missing default is just None."""
        keys = self._keys.get(provider, {})
        if alias is None or alias == "default":
            return keys.get("default")
        if alias not in keys:
            configured = ", ".join(sorted(keys)) or "none"
            raise ByokAliasNotFound(f"Provider '{provider}' has no BYOK credential named '{alias}'. Configured aliases: {configured}")
        return keys[alias]
