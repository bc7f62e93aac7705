"""The token store against a real SQLite file: create, verify, list, revoke, config tokens."""

import hashlib
import sqlite3

import pytest

from aigw.auth import TokenStore, TokenStoreError, ensure_first_token, hash_token
from aigw.auth import token_store as token_store_module
from aigw.config import load_settings
from aigw.secret import Secret


@pytest.fixture
def store(tmp_path):
    s = TokenStore(tmp_path / "data" / "aigw.db")
    yield s
    s.close()


def test_created_tokens_are_long_random_and_prefixed(store):
    token, info = store.create(name="ci")
    other, _ = store.create()
    assert token.startswith("aigw_") and len(token) >= 48 and token != other
    assert info.id == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert (info.name, info.gateway, info.source, info.revoked) == ("ci", None, "db", False)


def test_a_created_token_verifies(store):
    token, info = store.create(name="ci")
    assert store.verify(token) == info


def test_wrong_empty_and_oversized_tokens_do_not_verify(store):
    token, _ = store.create()
    assert store.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert store.verify("") is None
    assert store.verify(token + "x" * 600) is None


def test_the_database_holds_the_hash_and_never_the_token(tmp_path, store):
    token, info = store.create(name="ci")
    store.close()
    raw = (tmp_path / "data" / "aigw.db").read_bytes()
    assert token.encode() not in raw
    with sqlite3.connect(tmp_path / "data" / "aigw.db") as db:
        (digest,) = db.execute("SELECT sha256 FROM auth_tokens WHERE id = ?", (info.id,)).fetchone()
    assert digest == hashlib.sha256(token.encode()).digest()


def test_hashes_are_compared_in_constant_time(store, monkeypatch):
    token, _ = store.create()
    compared = []
    real = token_store_module.hmac.compare_digest

    def recording_compare_digest(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(token_store_module.hmac, "compare_digest", recording_compare_digest)
    assert store.verify(token) is not None
    assert compared == [(hash_token(token), hash_token(token))]


def test_a_gateway_scoped_token_opens_only_that_gateway(store):
    token, _ = store.create(gateway="bench")
    assert store.verify(token, "bench") is not None
    assert store.verify(token, "default") is None
    assert store.verify(token) is None  # no gateway named: only unscoped tokens qualify


def test_an_unscoped_token_opens_every_gateway(store):
    token, _ = store.create()
    assert store.verify(token, "bench") is not None and store.verify(token, "default") is not None


def test_list_shows_tokens_oldest_first_without_the_token(store):
    first, a = store.create(name="a")
    _, b = store.create(name="b", gateway="bench")
    listed = store.list()
    assert [i.id for i in listed] == [a.id, b.id]
    assert first not in repr(listed)


def test_revoke_by_id_stops_verification(store):
    token, info = store.create()
    revoked = store.revoke(info.id)
    assert revoked.revoked and revoked.id == info.id
    assert store.verify(token) is None
    assert [i.revoked for i in store.list()] == [True]


def test_revoke_by_the_token_itself(store):
    token, info = store.create()
    assert store.revoke(token).id == info.id
    assert store.verify(token) is None


def test_revoking_an_unknown_or_revoked_token_is_an_error(store):
    _, info = store.create()
    with pytest.raises(TokenStoreError, match="no token with id 000000000000"):
        store.revoke("000000000000")
    store.revoke(info.id)
    with pytest.raises(TokenStoreError, match="already revoked"):
        store.revoke(info.id)


def test_a_revoke_by_another_process_is_seen_after_sync(tmp_path, store):
    token, info = store.create()
    other = TokenStore(tmp_path / "data" / "aigw.db")
    try:
        assert other.verify(token) is not None
        store.revoke(info.id)
        assert other.sync() is True
        assert other.verify(token) is None
    finally:
        other.close()


def test_a_token_created_by_another_process_is_seen_after_sync(tmp_path, store):
    other = TokenStore(tmp_path / "data" / "aigw.db")
    try:
        token, _ = other.create()
        assert store.verify(token) is None
        store.sync()
        assert store.verify(token) is not None
    finally:
        other.close()


def test_last_used_is_recorded_on_sync(store):
    token, info = store.create()
    assert store.list()[0].last_used is None
    store.verify(token)
    store.sync()
    (listed,) = store.list()
    assert listed.last_used is not None and listed.last_used >= info.created_at


def test_config_tokens_verify_and_are_never_written_to_the_database(tmp_path):
    secret = Secret("config-token-0123456789", "env:BENCH_TOKEN")
    store = TokenStore(tmp_path / "aigw.db", [(secret, "bench", "env:BENCH_TOKEN")])
    try:
        info = store.verify("config-token-0123456789", "bench")
        assert info is not None and (info.source, info.name, info.gateway) == ("config", "env:BENCH_TOKEN", "bench")
        assert store.verify("config-token-0123456789", "default") is None
        with sqlite3.connect(tmp_path / "aigw.db") as db:
            assert db.execute("SELECT count(*) FROM auth_tokens").fetchone() == (0,)
        with pytest.raises(TokenStoreError, match="comes from configuration"):
            store.revoke(info.id)
    finally:
        store.close()


def test_for_settings_takes_top_level_and_gateway_tokens(tmp_path):
    settings = load_settings(
        None,
        environ={
            "AIGW_DATA_DIR": str(tmp_path),
            "AIGW_TOKENS": "every-gateway-0123456789",
            "AIGW_GATEWAYS__BENCH__TOKENS": "bench-only-0123456789",
        },
    )
    store = TokenStore.for_settings(settings)
    try:
        assert store.verify("every-gateway-0123456789", "default") is not None
        assert store.verify("bench-only-0123456789", "bench") is not None
        assert store.verify("bench-only-0123456789", "default") is None
    finally:
        store.close()


def test_first_start_with_authentication_creates_and_returns_a_token(tmp_path):
    settings = load_settings(None, environ={"AIGW_DATA_DIR": str(tmp_path)})
    store = TokenStore.for_settings(settings)
    try:
        token = ensure_first_token(settings, store)
        assert token is not None and store.verify(token, "default") is not None
        assert ensure_first_token(settings, store) is None  # only once
    finally:
        store.close()


def test_no_first_token_when_no_gateway_requires_authentication(tmp_path):
    settings = load_settings(
        None, environ={"AIGW_DATA_DIR": str(tmp_path), "AIGW_GATEWAYS__DEFAULT__AUTHENTICATION": "false"}
    )
    store = TokenStore.for_settings(settings)
    try:
        assert ensure_first_token(settings, store) is None
        assert store.list() == []
    finally:
        store.close()


def test_no_first_token_when_a_config_token_opens_every_gateway(tmp_path):
    settings = load_settings(None, environ={"AIGW_DATA_DIR": str(tmp_path), "AIGW_TOKENS": "from-config-0123456789"})
    store = TokenStore.for_settings(settings)
    try:
        assert ensure_first_token(settings, store) is None
    finally:
        store.close()


def test_a_gateway_scoped_token_alone_does_not_open_the_others(tmp_path):
    settings = load_settings(None, environ={"AIGW_DATA_DIR": str(tmp_path), "AIGW_GATEWAYS__BENCH__AUTHENTICATION": "true"})
    store = TokenStore.for_settings(settings)
    try:
        store.create(gateway="bench")
        token = ensure_first_token(settings, store)
        assert token is not None and store.verify(token, "default") is not None
    finally:
        store.close()


async def test_run_sync_picks_up_a_revoke_off_the_event_loop(tmp_path, store):
    import asyncio

    token, info = store.create()
    other = TokenStore(tmp_path / "data" / "aigw.db")
    task = asyncio.create_task(store.run_sync(interval=0.01))
    try:
        other.revoke(info.id)
        for _ in range(500):
            if store.verify(token) is None:
                break
            await asyncio.sleep(0.01)
        assert store.verify(token) is None
    finally:
        task.cancel()
        other.close()
