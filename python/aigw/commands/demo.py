"""`aigw demo`: the gateway's main job on embedded defaults, shown end to end.

Starts the wire-faithful provider simulators (aigw.testing) and a gateway pointed at them
(authentication on, a fresh token, SQLite logs in a temporary data dir), opens ONE WebSocket,
sends several concurrent streamed requests to different providers plus a fallback chain, and
prints every chunk as it arrives with its time and eventId, so the interleaving is visible.
Then it prints the log rows the gateway stored.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from aigw.commands.logs import COLUMNS, column_widths, format_row, row_cells

#: eventId → (provider, endpoint, body, how to read a chunk's text)
PROMPTS = {
    "poem": ("openai", "chat/completions", "write a short poem about sockets carrying many voices"),
    "joke": ("anthropic", "v1/messages", "tell me a joke about a gateway that never sleeps"),
    "haiku": ("workers-ai", "@cf/meta/llama-3.1-8b-instruct", "compose a haiku on streams that interleave"),
    "facts": ("google-ai-studio", "v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "list facts about multiplexing"),
}
COLORS = {"poem": "cyan", "joke": "magenta", "haiku": "green", "facts": "yellow", "fallback": "blue"}


def step(provider: str, endpoint: str, prompt: str, *, stream: bool = True, model: str | None = None) -> dict[str, Any]:
    """A Universal step in each provider's native body format."""
    if provider == "anthropic":
        query: dict[str, Any] = {"model": model or "claude-sonnet-4-5", "max_tokens": 200, "messages": [{"role": "user", "content": prompt}]}
    elif provider == "google-ai-studio":
        query = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    elif provider == "workers-ai":
        query = {"messages": [{"role": "user", "content": prompt}]}
    else:
        query = {"model": model or "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    if stream and provider != "google-ai-studio":
        query["stream"] = True
    if stream and provider == "openai":
        query["stream_options"] = {"include_usage": True}  # OpenAI reports stream usage only when asked
    return {"provider": provider, "endpoint": endpoint, "headers": {}, "query": query}


def chunk_text(chunk: Any) -> str:
    """The text of one streamed chunk, whatever the provider's shape."""
    if not isinstance(chunk, dict):
        return ""
    try:
        if "choices" in chunk:
            return chunk["choices"][0]["delta"].get("content") or ""
        if chunk.get("type") == "content_block_delta":
            return chunk["delta"].get("text", "")
        if "candidates" in chunk:
            return "".join(p.get("text", "") for p in chunk["candidates"][0]["content"]["parts"])
        if "response" in chunk:
            return chunk["response"] or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    return ""


async def run_demo(chunks: int, pace_ms: int, echo=click.echo, console: bool = False) -> None:
    """Run the whole demonstration; raises on any failure. With `console`, the web console is
    enabled, its URL printed, and the gateway keeps serving after the demo until interrupted."""
    from aigw.auth import TokenStore
    from aigw.builtins.sqlite_log_query import LogQuery, SqliteLogReader
    from aigw.client import UniversalClient
    from aigw.config import load_settings
    from aigw.gateway import Gateway
    from aigw.testing.simulators import Simulators

    data = Path(tempfile.mkdtemp(prefix="aigw-demo-"))
    async with Simulators("openai", "anthropic", "workers-ai", "google-ai-studio") as sims:
        for sim in sims.values():
            sim.chunks, sim.chunk_delay, sim.reply = chunks, pace_ms / 1000.0, None
        lines = [f'data_dir = "{data}"']
        for slug, cfg in sims.provider_settings().items():
            lines += [f'[providers.{slug}]', f'base_url = "{cfg["base_url"]}"', f'key = "{cfg["key"]}"']
            if slug == "workers-ai":
                lines.append(f'account_id = "{sims[slug].account_id}"')
        if console:
            lines = [lines[0], "[console]", "enabled = true", *lines[1:]]
        (data / "aigw.toml").write_text("\n".join(lines) + "\n")
        settings = load_settings(data / "aigw.toml", environ={})
        store = TokenStore.for_settings(settings)
        token, _ = store.create("demo")
        store.close()

        gateway = Gateway(settings)
        await gateway.start()
        server = await gateway.serve(port=0)
        url = f"ws://127.0.0.1:{server.port}/v1/demo-account/default"
        echo(click.style(f"gateway on {url}  (providers simulated locally; keys stored in the config)", bold=True))
        if console:
            echo(click.style(f"web console: http://127.0.0.1:{server.port}/ui  (sign in with token {token})", bold=True))
        echo(f"one WebSocket, {len(PROMPTS)} concurrent streams + a fallback chain; chunks as they arrive:\n")
        start = time.perf_counter()
        texts: dict[str, list[str]] = {k: [] for k in [*PROMPTS, "fallback"]}
        finals: dict[str, dict] = {}

        def show(event_id: str, text: str) -> None:
            ms = (time.perf_counter() - start) * 1000
            echo(f"{ms:8.1f} ms  " + click.style(f"{event_id:<9}", fg=COLORS[event_id]) + f" {text!r}")

        async with UniversalClient(url, token=token) as client:

            async def stream(event_id: str, **kw: Any) -> None:
                meta: dict = {}
                async for chunk in client.stream(event_id=event_id, metadata=meta, **kw):
                    text = chunk_text(chunk)
                    if text:
                        texts[event_id].append(text)
                        show(event_id, text)
                finals[event_id] = meta

            jobs = [stream(eid, steps=[step(p, e, prompt)]) for eid, (p, e, prompt) in PROMPTS.items()]
            # A fallback chain: the first step's upstream fails with 500, the second answers.
            jobs.append(
                stream(
                    "fallback",
                    steps=[
                        step("openai", "chat/completions", "fallback please answer", model="sim-fail-500"),
                        step("anthropic", "v1/messages", "fallback please answer"),
                    ],
                )
            )
            await asyncio.gather(*jobs)
        elapsed = (time.perf_counter() - start) * 1000
        if console:
            echo(click.style(f"\nthe console stays up: http://127.0.0.1:{server.port}/ui  (token {token}); Ctrl-C to stop", bold=True))
            try:
                await asyncio.Event().wait()  # until Ctrl-C: the playground needs the simulators
            finally:
                await gateway.stop()
        await gateway.stop()

    echo("")
    for event_id, meta in finals.items():
        usage = meta.get("usage") or {}
        echo(
            click.style(f"{event_id:<9}", fg=COLORS[event_id])
            + f" step {meta.get('step')}  status {meta.get('status')}  tokens {usage.get('tokensIn')}/{usage.get('tokensOut')}"
            + f"  → {''.join(texts[event_id]).strip()!r}"
        )
    echo(f"\nall {len(finals)} requests done in {elapsed:.0f} ms over one connection\n")
    reader = SqliteLogReader(data / "logs.db")
    records = reader.query(LogQuery(order="asc", limit=50)).records
    rows = [row_cells(r) for r in records]
    widths = column_widths(rows)
    echo(click.style(f"log rows ({data / 'logs.db'}):", bold=True))
    echo(format_row(COLUMNS, widths))
    for row in rows:
        echo(format_row(row, widths))


@click.command(short_help="See the main job offline: concurrent streams on one WebSocket.")
@click.option("--chunks", default=8, show_default=True, help="Chunks per simulated stream.")
@click.option("--pace-ms", default=60, show_default=True, help="Milliseconds between a stream's chunks.")
@click.option("--console", is_flag=True, help="Enable the web console, print its URL, keep serving after the demo.")
def demo(chunks: int, pace_ms: int, console: bool) -> None:
    """Show the multiplexed WebSocket API end to end, offline: a gateway on embedded defaults,
    simulated providers, concurrent streams interleaving on one connection, then the logs."""
    try:
        import aiohttp  # noqa: F401  (the simulators' HTTP stack)
        import websockets  # noqa: F401  (the client)
    except ImportError as exc:
        raise click.ClickException(f"the demo needs the 'demo' extra: pip install 'aigw[demo]' ({exc})") from None
    from aigw.server.loops import run

    try:
        run(run_demo(chunks, pace_ms, console=console), "auto")
    except KeyboardInterrupt:
        pass
