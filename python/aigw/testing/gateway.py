"""A real gateway on a loopback port, pointed at provider simulators, for tests.

    from aigw.testing.gateway import running_gateway
    from aigw.testing.simulators import Simulators

    async with Simulators("openai") as sims, running_gateway(sims) as gw:
        async with websockets.connect(gw.url, additional_headers=gw.headers) as ws:
            ...                                   # gw.url = ws://127.0.0.1:PORT/v1/acct/default

`running_gateway(sims, **config)` writes an ``aigw.toml`` into a fresh data directory (every
simulator becomes a ``[providers.<slug>]`` table with its ``base_url`` and stored ``key``),
starts ``Gateway(settings).serve(port=0)`` on the running loop (asyncio or uvloop, whichever
the test runs), creates an auth token and yields a ``RunningGateway``. Leaving the block stops
the gateway gracefully (in-flight requests finish, logs are flushed).

Keyword arguments are top-level config tables, deep-merged over the generated ones::

    running_gateway(sims, server={"max_inflight_per_connection": 4},
                    gateways={"default": {"authentication": False}},
                    providers={"openai": {"keys": {"team-a": "sk-team-a"}}})

The pytest plugin (``aigw.testing.fixtures``) builds fixtures on this: ``aigw_gateway_factory``
(``async with aigw_gateway_factory(**config) as gw``, on the session's simulators) and
``aigw_gateway`` (one default gateway per test).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl as ssl_module
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ACCOUNT_ID", "RunningGateway", "gateway_config", "running_gateway", "to_toml"]

#: The account id in `RunningGateway.url` (any value is accepted unless the config sets one).
ACCOUNT_ID = "acct"


@dataclass
class RunningGateway:
    """A started gateway: where it listens and how to authenticate to it."""

    gateway: Any  # aigw.gateway.Gateway
    data_dir: Path
    port: int
    token: str | None
    gateway_name: str = "default"
    account_id: str = ACCOUNT_ID
    #: Every LogRecord the gateway produced, in completion order (also written to SQLite).
    records: list[Any] | None = field(default_factory=list)  # None: record_requests=False
    #: Whether it serves TLS (`running_gateway(ssl=...)`): the URLs are then wss:// and https://.
    tls: bool = False

    @property
    def url(self) -> str:
        """The Universal WebSocket API URL: ``ws://127.0.0.1:PORT/v1/{account}/{gateway}``."""
        return self.url_for(self.gateway_name, self.account_id)

    def url_for(self, gateway: str = "default", account_id: str = ACCOUNT_ID) -> str:
        """The WebSocket URL of another gateway (or account id) on this server."""
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/v1/{account_id}/{gateway}"

    @property
    def http_url(self) -> str:
        """The HTTP base of the gateway: ``http://127.0.0.1:PORT/v1/{account}/{gateway}`` (the
        Universal HTTP endpoint; append ``/{provider}`` for a provider's base URL)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1/{self.account_id}/{self.gateway_name}"

    @property
    def headers(self) -> dict[str, str]:
        """The upgrade request's auth header (empty when no token was created)."""
        return {"cf-aig-authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def log_db(self) -> Path:
        """The SQLite log store (complete once the gateway has stopped)."""
        return self.data_dir / "logs.db"

    async def stop(self, grace: float | None = None) -> None:
        """Stop gracefully now (the block's exit then does nothing more)."""
        await self.gateway.stop(grace=grace)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = dict(value) if isinstance(value, Mapping) else value
    return out


def gateway_config(sims: Mapping[str, Any] | None, data_dir: Path, **config: Any) -> dict[str, Any]:
    """The config document `running_gateway` writes: every simulator as a provider with its
    stored key (Workers AI with its account id), `config` tables deep-merged on top."""
    providers: dict[str, Any] = {}
    for slug, sim in (sims or {}).items():
        table: dict[str, Any] = {"base_url": sim.base_url(), "key": sim.key}
        table.update(getattr(sim, "provider_options", dict)())
        if getattr(sim, "account_id", None) and slug == "workers-ai":
            table["account_id"] = sim.account_id
        providers[slug] = table
    doc: dict[str, Any] = {"data_dir": str(data_dir), "providers": providers}
    # Tests should not wait for keepalive pings or idle timers unless they ask.
    doc["server"] = {"ping_interval": 0, "idle_timeout": 0, "shutdown_grace": 5}
    return _merge(doc, config)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(doc: Mapping[str, Any], _path: tuple[str, ...] = ()) -> str:
    """A small TOML writer for config documents (scalars, arrays, nested tables)."""
    lines: list[str] = []
    tables = []
    for key, value in doc.items():
        if isinstance(value, Mapping) and value and all(not isinstance(v, Mapping) or v for v in value.values()):
            tables.append((key, value))
        else:
            lines.append(f"{json.dumps(str(key))} = {_toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        path = (*_path, key)
        out += "\n[" + ".".join(json.dumps(p) for p in path) + "]\n" + to_toml(value, path)
    return out


@contextlib.asynccontextmanager
async def running_gateway(
    sims: Mapping[str, Any] | None = None,
    *,
    data_dir: str | Path | None = None,
    gateway_name: str = "default",
    account_id: str = ACCOUNT_ID,
    create_token: bool = True,
    ssl: ssl_module.SSLContext | None = None,
    record_requests: bool = True,
    **config: Any,
) -> AsyncIterator[RunningGateway]:
    """Serve a gateway on 127.0.0.1 (a free port) for the duration of the block.

    `sims` is any mapping of provider slug → simulator (``Simulators`` or the session's
    thread-run set); `config` holds top-level config tables merged over the generated config.
    `data_dir` defaults to a fresh temporary directory, removed when the block ends (pass
    one to keep the config, database and logs for reading afterwards).
    `ssl`, a server-side context, serves TLS (for clients that only speak wss://, such as the
    google-genai SDK's live client).
    """
    from aigw.auth import TokenStore
    from aigw.config import load_settings
    from aigw.gateway import Gateway

    made = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="aigw-test-")) if made else Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / "aigw.toml").write_text(to_toml(gateway_config(sims, root, **config)))
    settings = load_settings(root / "aigw.toml", environ={})
    token = None
    if create_token:
        store = TokenStore.for_settings(settings)
        try:
            token, _ = store.create("aigw-testing")
        finally:
            store.close()
    gateway = Gateway(settings)
    # Every finished request's LogRecord in `records`, unless `record_requests` is False:
    # then the doors run as in production (nothing but the loggers sees the record).
    gateway.records = [] if record_requests else None
    try:
        server = await gateway.serve(host="127.0.0.1", port=0, ssl=ssl)
        yield RunningGateway(gateway, root, server.port, token, gateway_name, account_id, gateway.records, tls=ssl is not None)
    finally:
        try:
            await gateway.stop()
        finally:
            if made:
                shutil.rmtree(root, ignore_errors=True)
