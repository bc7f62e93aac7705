"""`aigw bench`: short runs of each surface against the simulated setup report plausible numbers,
and every request the bench counted is one the upstream saw."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys

import pytest

from aigw.bench.progress import Progress
from aigw.bench.report import percentile, rate_per_second, render_compare, render_table, summarize
from aigw.bench.target import RemoteTarget, SimulatedTarget
from aigw.bench.upstream import start_upstream
from aigw.bench.workload import Endpoints, Recorder, Workload, drive
from aigw.commands.bench import run_bench

pytest.importorskip("aiohttp")

#: Per stream the bench upstream sends: a role chunk, one chunk per word, a finish chunk and a
#: usage chunk (then [DONE], which is not a chunk of content).
def chunks_per_stream(words: int) -> int:
    return words + 3


async def test_ws_surface_counts_every_request_the_upstream_answered():
    wl = Workload("ws", concurrency=8, requests=60, stream=True, max_tokens=5)
    async with SimulatedTarget(in_process=True) as target:
        [result] = await run_bench(target, [wl])
    assert result["ok"] == 60 and result["errors"] == 0
    assert result["upstream_requests"] == 60
    assert result["chunks"] == 60 * chunks_per_stream(5)
    p50, p99 = result["latency_ms"]["p50"], result["latency_ms"]["p99"]
    assert 0 < p50 <= p99 < 5000
    assert 0 < result["ttft_ms"]["p50"] <= p50
    assert result["requests_per_s"] > 0


async def test_ws_surface_whole_answers_have_no_time_to_first_chunk():
    wl = Workload("ws", concurrency=4, requests=20, stream=False)
    async with SimulatedTarget(in_process=True) as target:
        [result] = await run_bench(target, [wl])
    assert (result["ok"], result["upstream_requests"], result["chunks"]) == (20, 20, 0)
    assert result["ttft_ms"] is None


async def test_ws_surface_counts_refused_requests_as_errors_by_status():
    wl = Workload("ws", concurrency=4, requests=12, provider="no-such-provider")
    async with SimulatedTarget(in_process=True) as target:
        [result] = await run_bench(target, [wl])
    assert result["ok"] == 0 and result["errors_by_kind"] == {"status 400": 12}
    assert result["upstream_requests"] == 0


@pytest.mark.parametrize("surface", ["http", "http-new"])
async def test_http_surfaces_count_every_request_the_upstream_answered(surface):
    # Straight at the bench upstream, as `--openai-url` does for any OpenAI-compatible URL.
    server, counter = await start_upstream()
    port = server.sockets[0].getsockname()[1]
    try:
        target = RemoteTarget(Endpoints(None, f"http://127.0.0.1:{port}/v1/chat/completions"), "upstream")
        wl = Workload(surface, concurrency=4, requests=40, stream=True, max_tokens=3)
        rec = Recorder(wl)
        await drive(wl, target.endpoints(), rec)
    finally:
        server.close()
    result = summarize(rec)
    assert (result["ok"], counter[0]) == (40, 40)
    assert result["chunks"] == 40 * chunks_per_stream(3)
    assert 0 < result["ttft_ms"]["p50"] <= result["latency_ms"]["p50"]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
async def test_http_surface_through_aigw_counts_every_request_the_upstream_saw(stream):
    """`aigw bench --surface http` on the simulated setup: the load goes through aigw's openai
    provider route (keep-alive), and every request the bench counted reached the upstream."""
    wl = Workload("http", concurrency=4, requests=40, stream=stream, max_tokens=3)
    async with SimulatedTarget(in_process=True) as target:
        assert target.endpoints().http_url.endswith("/v1/bench/default/openai/chat/completions")
        [result] = await run_bench(target, [wl])
    assert (result["ok"], result["errors"], result["upstream_requests"]) == (40, 0, 40)
    assert result["chunks"] == (40 * chunks_per_stream(3) if stream else 0)
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] < 5000


async def test_duration_budget_stops_sending_and_waits_for_answers():
    wl = Workload("ws", concurrency=4, duration=0.3, stream=True)
    async with SimulatedTarget(in_process=True) as target:
        [result] = await run_bench(target, [wl])
    assert result["ok"] > 0 and result["ok"] == result["upstream_requests"]
    assert 0.25 < result["seconds"] < 3


def test_percentile_is_nearest_rank():
    samples = [float(i) for i in range(1, 101)]
    assert (percentile(samples, 50), percentile(samples, 90), percentile(samples, 99)) == (50.0, 90.0, 99.0)
    assert percentile([], 50) is None


def test_compare_ratios_read_against_the_first_surface():
    def fake(surface, rate, p50, cpu):
        return {"surface": surface, "requests_per_s": rate, "latency_ms": {"p50": p50}, "gateway_cpu_us_per_request": cpu}

    text = render_compare([fake("ws", 3000.0, 1.0, 100.0), fake("http-new", 1000.0, 4.0, 400.0)])
    assert text == "ws vs http-new: 3.00x the requests/s, 4.00x lower p50 latency, 4.00x less gateway CPU per request"


def test_cli_json_run_measures_the_gateway_process(tmp_path):
    """The real command: upstream and `aigw serve` as subprocesses, gateway CPU measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGW_") or k == "AIGW_DISABLE_PLUGINS"}
    done = subprocess.run(
        [sys.executable, "-m", "aigw", "bench", "--requests", "50", "-c", "4", "--json"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    [result] = doc["results"]
    assert doc["target"].startswith("simulated: aigw (pid ")
    assert (result["surface"], result["ok"], result["upstream_requests"]) == ("ws", 50, 50)
    assert result["gateway_cpu_s"] >= 0 and result["gateway_cpu_us_per_request"] is not None
    assert "requests" in render_table([result])


async def test_rate_over_time_buckets_sum_to_the_requests_counted():
    wl = Workload("ws", concurrency=4, duration=1.2, stream=True, max_tokens=3)
    async with SimulatedTarget(in_process=True) as target:
        [result] = await run_bench(target, [wl])
    assert len(result["rate_per_s"]) == 2  # [0, 1) and [1, 1.2+)
    assert sum(result["rate_per_s"]) == result["requests"] > 0
    assert all(count > 0 for count in result["rate_per_s"])


def test_rate_per_second_puts_each_finish_in_its_one_second_bucket():
    assert rate_per_second([0.0, 0.5, 0.99, 1.0, 2.7], 2.5) == [3, 1, 1]
    assert rate_per_second([], 0.2) == [0]


async def test_client_cpu_of_the_bench_process_is_reported_beside_gateway_cpu():
    wl = Workload("ws", concurrency=4, requests=40, stream=True, max_tokens=3)
    async with SimulatedTarget(in_process=True) as target:
        [result] = await run_bench(target, [wl])
    assert result["client_cpu_s"] > 0 and result["client_cpu_us_per_request"] > 0
    table = render_table([result])
    assert "client CPU / request (µs)" in table and "gateway CPU / request (µs)" in table


async def test_live_progress_on_a_terminal_shows_rate_and_errors_with_rich():
    pytest.importorskip("rich")
    stream = io.StringIO()
    wl = Workload("ws", concurrency=4, requests=30, provider="no-such-provider")
    rec = Recorder(wl)
    shown = Progress(rec, stream, interval=0.01, live=True)
    ticker = asyncio.create_task(shown.run())
    async with SimulatedTarget(in_process=True) as target:
        await drive(wl, target.endpoints(), rec)
    await asyncio.sleep(0.05)
    ticker.cancel()
    await asyncio.gather(ticker, return_exceptions=True)
    shown.close()
    out = stream.getvalue()
    assert "━" in out  # rich's bar, not the plain fallback line
    assert "30/30 req" in out and "avg/s" in out and "errors 30" in out


def _cli(*args, timeout=90, code=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGW_") or k == "AIGW_DISABLE_PLUGINS"}
    argv = ["-c", code, *args] if code else ["-m", "aigw", *args]
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_compare_with_png_draws_a_png_report(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "report.png"
    done = _cli("bench", "--compare", "ws,http", "-n", "60", "-c", "4", "--json", "--png", str(png))
    assert done.returncode == 0, done.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # four panels drawn, not an empty canvas
    assert f"PNG report: {png}" in done.stderr
    results = json.loads(done.stdout)["results"]
    assert [(r["surface"], sum(r["rate_per_s"])) for r in results] == [("ws", 60), ("http", 60)]


def test_cli_without_a_terminal_prints_one_plain_progress_line_per_surface_and_no_matplotlib():
    # Run the command inside a Python that reports, at exit, whether matplotlib was imported.
    code = (
        "import atexit, sys; atexit.register(lambda: print('matplotlib' in sys.modules, file=sys.stderr));"
        "from aigw.cli import main; sys.argv = ['aigw'] + sys.argv[1:]; main()"
    )
    done = _cli("bench", "--compare", "ws,http", "-n", "20", "-c", "2", code=code)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert [line.split()[0] for line in lines if "avg/s" in line] == ["ws", "http"]
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    assert lines[-1] == "False"
    assert "client CPU / request (µs)" in done.stdout
