"""`aigw bench`: drive a gateway with a workload and report throughput, latency and CPU.

By default (`--simulate`) it starts, offline, a fast simulated OpenAI upstream and an `aigw
serve` in front of it (separate processes, so the gateway's CPU is measured alone), then runs
the workload on one surface (`--surface ws|http|http-new`) or on several in turn (`--compare`,
ratios against the first). `--url` points it at a running aigw gateway instead, and
`--openai-url` at any OpenAI-compatible chat completions URL (another gateway, a provider),
for comparison on the HTTP surfaces. `--png` also draws the results (`aigw.bench.chart`). The
engine lives in `aigw.bench`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import click
import orjson

from aigw.bench import SURFACES

__all__ = ["bench", "run_bench"]


async def run_bench(
    target: Any, workloads: list[Any], *, progress: bool = False, recorders: list[Any] | None = None
) -> list[dict[str, Any]]:
    """Run each workload in turn against the started `target`; one summary per workload.

    The gateway CPU, the bench process's own CPU (`time.process_time()`, the client's cost)
    and the upstream's request count are read around each run, so every summary covers its
    own run only. `progress` shows each run live on stderr (`aigw.bench.progress`); each
    run's `Recorder` (raw samples, for the PNG report) is appended to `recorders` if given."""
    from aigw.bench.progress import Progress
    from aigw.bench.report import summarize
    from aigw.bench.workload import Recorder, drive

    results = []
    for wl in workloads:
        rec = Recorder(wl)
        cpu0 = target.gateway_cpu()
        seen0 = await target.upstream_requests()
        shown = Progress(rec, sys.stderr) if progress else None
        ticker = asyncio.create_task(shown.run()) if shown is not None else None
        client0 = time.process_time()
        try:
            await drive(wl, target.endpoints(), rec)
        finally:
            client1 = time.process_time()
            if ticker is not None and shown is not None:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
                shown.close()
        cpu1 = target.gateway_cpu()
        seen1 = await target.upstream_requests()
        results.append(
            summarize(
                rec,
                gateway_cpu_s=None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
                upstream_requests=None if seen0 is None or seen1 is None else seen1 - seen0,
                client_cpu_s=client1 - client0,
            )
        )
        if recorders is not None:
            recorders.append(rec)
    return results


def _png_path(png: str | None) -> str | None:
    """Where `--png` draws: its PATH, or for the bare flag a timestamped name in the current
    directory; None without `--png` (then matplotlib is never imported)."""
    if png is None:
        return None
    return png or time.strftime("aigw-bench-%Y%m%d-%H%M%S.png")


def _surfaces(surface: str, compare: str | None) -> list[str]:
    if compare is None:
        return [surface]
    chosen = [s.strip() for s in compare.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SURFACES]
    if unknown or not chosen:
        raise click.BadParameter(f"choose from {', '.join(SURFACES)} (got {compare!r})", param_hint="--compare")
    return chosen


@click.command(
    short_help="Measure a gateway: requests/s, latency, CPU per request, ws vs http.",
    epilog="""\b
Examples:
  aigw bench                                    # simulated upstream + local aigw, ws, 10 s
  aigw bench --compare ws,http,http-new --tls   # the multiplexing claim, measured here
  aigw bench --surface http --no-stream --requests 5000 --concurrency 64
  aigw bench --url http://127.0.0.1:8787 --token $TOKEN --compare ws,http
  aigw bench --openai-url https://api.example.com/v1/chat/completions --api-key $KEY --surface http
""",
)
@click.option("--surface", type=click.Choice(SURFACES), default="ws", show_default=True,
              help="ws: one multiplexed Universal WebSocket; http: keep-alive; http-new: a new connection per request.")
@click.option("--compare", default=None, metavar="S1,S2,...", is_flag=False, flag_value="ws,http,http-new",
              help="Run several surfaces in turn and print ratios against the first [bare flag: ws,http,http-new].")
@click.option("--concurrency", "-c", type=click.IntRange(1, 65536), default=16, show_default=True, help="Requests in flight at once.")
@click.option("--duration", "-d", type=click.FloatRange(0.1, 86400), default=10.0, show_default=True, help="Seconds per surface.")
@click.option("--requests", "-n", type=click.IntRange(1), default=None, help="Send exactly this many requests per surface (instead of --duration).")
@click.option("--stream/--no-stream", default=True, show_default=True, help="Streamed answers (SSE) or whole ones.")
@click.option("--prompt-words", type=click.IntRange(1, 1_000_000), default=32, show_default=True, help="Words in each prompt.")
@click.option("--max-tokens", type=click.IntRange(1, 100_000), default=16, show_default=True,
              help="max_tokens asked for (the simulator answers exactly this many words, one chunk each).")
@click.option("--simulate/--no-simulate", default=True, show_default=True,
              help="Start a simulated upstream and a local aigw (ignored with --url/--openai-url).")
@click.option("--tls", is_flag=True, help="With --simulate: the gateway serves TLS (wss/https), a throw-away certificate.")
@click.option("--url", default=None, help="A running aigw gateway, http(s)://host:port (both surfaces).")
@click.option("--openai-url", default=None, help="Any OpenAI-compatible chat completions URL (http surfaces only).")
@click.option("--account", default="bench", show_default=True, help="Account id in aigw URLs (--url).")
@click.option("--gateway", "gateway_name", default="default", show_default=True, help="Gateway name in aigw URLs (--url).")
@click.option("--provider", default="openai", show_default=True, help="Provider the requests go to through aigw.")
@click.option("--model", default="gpt-4o-mini", show_default=True, help="Model named in each request.")
@click.option("--token", envvar="AIGW_BENCH_TOKEN", default=None, help="Gateway token (cf-aig-authorization) for --url. Env: AIGW_BENCH_TOKEN.")
@click.option("--api-key", envvar="AIGW_BENCH_API_KEY", default=None, help="Provider key (Authorization: Bearer) for --openai-url. Env: AIGW_BENCH_API_KEY.")
@click.option("--insecure", is_flag=True, help="Do not verify the target's TLS certificate.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (no progress line, no table).")
@click.option("--png", "png", default=None, metavar="PATH", is_flag=False, flag_value="",
              help="Also draw a PNG report (latency histogram, rate over time, --compare side by side) "
                   "[bare flag: aigw-bench-YYYYMMDD-HHMMSS.png in the current directory]. Needs matplotlib.")
def bench(surface: str, compare: str | None, concurrency: int, duration: float, requests: int | None, stream: bool,
          prompt_words: int, max_tokens: int, simulate: bool, tls: bool, url: str | None, openai_url: str | None,
          account: str, gateway_name: str, provider: str, model: str, token: str | None, api_key: str | None,
          insecure: bool, as_json: bool, png: str | None) -> None:  # fmt: skip
    """Drive a gateway with a closed-loop workload (CONCURRENCY requests in flight) and print
    requests/s, latency p50/p90/p99, time to the first chunk, errors and, for a local gateway,
    its CPU per request."""
    try:
        import aiohttp  # noqa: F401  (the load client)
    except ImportError as exc:
        raise click.ClickException(f"aigw bench needs the 'bench' extra: pip install 'aigw[bench]' ({exc})") from None
    from aigw.bench.target import RemoteTarget, SimulatedTarget, aigw_endpoints
    from aigw.bench.workload import Endpoints, Workload
    from aigw.bench.report import render_compare, render_table

    surfaces = _surfaces(surface, compare)
    if url and openai_url:
        raise click.UsageError("give --url (an aigw gateway) or --openai-url (any OpenAI-compatible URL), not both")
    context = None
    if insecure:
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    target: Any
    if url:
        headers = {"cf-aig-authorization": f"Bearer {token}"} if token else {}
        target = RemoteTarget(aigw_endpoints(url, account, gateway_name, provider, headers, context), f"aigw at {url}")
    elif openai_url:
        if "ws" in surfaces:
            raise click.UsageError("--openai-url has no Universal WebSocket: use --surface http or http-new")
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        target = RemoteTarget(Endpoints(None, openai_url, headers, context), f"OpenAI-compatible {openai_url}")
    elif simulate:
        target = SimulatedTarget(tls=tls, concurrency=concurrency, provider="openai")
    else:
        raise click.UsageError("--no-simulate needs --url or --openai-url")
    workloads = [
        Workload(s, concurrency, duration, requests, stream, prompt_words, max_tokens, model, provider) for s in surfaces
    ]
    png_path = _png_path(png)
    recorders: list[Any] = []

    async def main() -> tuple[str, list[dict[str, Any]]]:
        async with target:
            return target.describe(), await run_bench(target, workloads, progress=not as_json, recorders=recorders)

    from aigw.server.loops import run

    try:
        where, results = run(main(), "auto")
    except (RuntimeError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if png_path is not None:
        from aigw.bench.chart import write_png

        try:
            write_png(png_path, results, [rec.latencies for rec in recorders], title=where)
        except (RuntimeError, OSError) as exc:
            raise click.ClickException(f"--png: {exc}") from None
        click.echo(f"PNG report: {png_path}", err=True)
    if as_json:
        from aigw.bench.report import ratios

        doc: dict[str, Any] = {"target": where, "results": results}
        if len(results) > 1:
            doc["ratios_vs_" + results[0]["surface"]] = ratios(results)
        click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return
    mode = "streamed" if stream else "whole answers"
    budget = f"{requests} requests" if requests else f"{duration:g} s"
    click.echo(f"{where}\n{budget} per surface, {concurrency} in flight, {mode}, {prompt_words}-word prompts, {max_tokens} tokens out\n")
    click.echo(render_table(results))
    if len(results) > 1:
        click.echo("\n" + render_compare(results))
