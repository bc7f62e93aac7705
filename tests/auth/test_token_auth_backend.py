"""The built-in `tokens` auth backend, loaded through the real PluginManager."""

import pytest

from aigw.builtins.token_auth import TokenAuthBackend
from aigw.config import load_settings
from aigw.errors import ConfigError
from aigw.components import AuthChain
from aigw.interfaces import AuthBackend, AuthenticatesNow
from aigw.plugins import PluginManager
from aigw.types import PluginContext, Principal


def context(tmp_path, config=None, **env):
    settings = load_settings(None, environ={"AIGW_DATA_DIR": str(tmp_path), **env})
    return PluginContext(name="tokens", config=config or {}, settings=settings, data_dir=settings.data_dir)


def test_the_plugin_manager_registers_the_tokens_backend():
    pm = PluginManager(entry_points=False, environ={}).load()
    assert pm.registries().auth_backends.lookup("tokens") is not None


async def test_a_created_token_authenticates_as_its_principal(tmp_path):
    backend = TokenAuthBackend.from_context(context(tmp_path))
    try:
        assert isinstance(backend, AuthBackend)
        token, info = backend.store.create(name="laptop")
        assert await backend.authenticate("default", token) == Principal(id=info.id, name="laptop", gateway=None)
    finally:
        await backend.close()


async def test_the_backend_answers_without_an_await_as_it_answers_awaited(tmp_path):
    backend = TokenAuthBackend.from_context(context(tmp_path))
    try:
        assert isinstance(backend, AuthenticatesNow)
        token, _ = backend.store.create(name="laptop")
        for candidate in (token, "aigw_wrong", None):
            assert backend.authenticate_now("default", candidate) == await backend.authenticate("default", candidate)
    finally:
        await backend.close()


class AwaitedOnly:
    """An auth backend that must be awaited (no `authenticate_now`)."""

    name = "awaited"

    async def authenticate(self, gateway, token):  # type: ignore[no-untyped-def]
        return Principal(id="awaited") if token == "theirs" else None


async def test_a_chain_answers_without_an_await_only_when_every_backend_does(tmp_path):
    backend = TokenAuthBackend.from_context(context(tmp_path))
    try:
        token, info = backend.store.create()
        both_now = AuthChain([backend, backend])
        assert isinstance(both_now, AuthenticatesNow)
        assert both_now.authenticate_now("default", token) == Principal(id=info.id, gateway=None)
        assert both_now.authenticate_now("default", "aigw_wrong") is None
        mixed = AuthChain([backend, AwaitedOnly()])
        assert not isinstance(mixed, AuthenticatesNow)
        assert await mixed.authenticate("default", "theirs") == Principal(id="awaited")
    finally:
        await backend.close()


async def test_missing_and_wrong_tokens_do_not_authenticate(tmp_path):
    backend = TokenAuthBackend.from_context(context(tmp_path))
    try:
        assert await backend.authenticate("default", None) is None
        assert await backend.authenticate("default", "aigw_wrong") is None
    finally:
        await backend.close()


async def test_a_config_token_scoped_to_a_gateway(tmp_path):
    ctx = context(tmp_path, AIGW_GATEWAYS__BENCH__TOKENS="bench-token-0123456789")
    backend = TokenAuthBackend.from_context(ctx)
    try:
        principal = await backend.authenticate("bench", "bench-token-0123456789")
        assert principal is not None and principal.gateway == "bench"
        assert await backend.authenticate("default", "bench-token-0123456789") is None
    finally:
        await backend.close()


async def test_a_token_revoked_from_the_cli_side_stops_authenticating(tmp_path):
    backend = TokenAuthBackend.from_context(context(tmp_path, {"sync_interval": 0.1}))
    try:
        token, info = backend.store.create()
        assert await backend.authenticate("default", token) is not None
        other = TokenAuthBackend.from_context(context(tmp_path))
        other.store.revoke(info.id)
        await other.close()
        import asyncio

        for _ in range(300):
            if await backend.authenticate("default", token) is None:
                break
            await asyncio.sleep(0.02)
        assert await backend.authenticate("default", token) is None
    finally:
        await backend.close()


def test_an_unknown_plugin_setting_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="sync_intervall"):
        TokenAuthBackend.from_context(context(tmp_path, {"sync_intervall": 1}))
