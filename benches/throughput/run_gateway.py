"""Gateway benchmark driver: aigw's Universal WebSocket API vs LiteLLM's proxy, same fake upstream.

Starts (all on loopback, free ports):
  upstream  the shared harness's fake_upstream.py (64-chunk streams, "paced" models 1 ms apart;
            fallback: fast_upstream.py here) on AUX cpus
  aigw      `aigw serve --config OUT/aigw.toml` on GW cpus; gateways `bench` (collect_logs on,
            SQLite logs, as config.md's example) and `bench-nolog` (collect_logs = false)
  litellm   LiteLLM proxy (uvicorn, 1 worker, master key, the shared harness's litellm/config.yaml)
            on GW cpus, when its venv exists (LITELLM_VENV)
Before anything of ours runs, OUT/versions.txt records the machine (CPU model and count, kernel,
load) and a CPU-speed probe (pure-Python loop, sha256 of 64 MiB; best of 5 on the gateway's core).
Every gateway target is then warmed until its rate is stable (2 s windows until two consecutive
are within 5 % in req/s, cap 60 s; OUT/warm.jsonl). Then, for every rep, every scenario, every
target (order rotated per rep), runs ONE load process on AUX cpus: ws_load.py (picows WebSocket
client; raw-protocol HTTP client for `direct`) for aigw and direct, the shared harness's
loadgen.py (HTTP) for LiteLLM and aigw-http, and appends its JSON line to OUT/results.jsonl. A
row whose window saw other processes burn more than --max-foreign cores is kept there marked
`"excluded": true` and re-run (up to --tries). Finally renders OUT/summary.md from the clean rows
(median [min–max] over reps, to the precision the spread allows: quote.py).

Targets: direct, direct-loadgen (no gateway); aigw / aigw-nolog (Universal WebSocket, N in flight
multiplexed on ONE connection), aigw-conns / aigw-conns-nolog (the same, N connections with one
request in flight each); aigw-http / aigw-http-nolog (OpenAI provider route, HTTP/1.1); litellm.

    python benches/throughput/run_gateway.py --out benches/results/gateway-X [--reps 3] [--seconds 5]
    (benches/throughput/run_gateway.sh sets up the venvs and calls this)

Scenarios (C in flight; LiteLLM and aigw-http over C keep-alive HTTP connections):
  ns_c1   non-stream, 1 in flight   latency p50/p99 (added = minus direct, paired per rep), CPU/request
  ns_c32  non-stream, 32 in flight  CPU/request, req/s
  ns_c64  non-stream, 64 in flight  CPU/request, req/s (aigw only: the ≤ 50 µs target)
  st_c8   paced 64-chunk streams, 8 in flight   CPU/stream, per chunk (all-in, marginal), TTFC
  st_b8   burst 64-chunk streams, 8 in flight   same, chunks back to back from the upstream
  st_c1, st_c64  paced streams, 1 / 64 in flight on one connection: how the per-chunk cost scales
                 (not in the default list: SCENARIOS=...,st_c1,st_c64)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from quote import quote as fmt  # noqa: E402  (median [min–max] to the precision the spread allows)

ROOT = HERE.parent.parent
CHUNKS = 64


def find_harness() -> Path | None:
    for p in (ROOT / "../shared/harness/peers", ROOT / "../../shared/harness/peers", Path("/work/shared/harness/peers")):
        if (p / "loadgen.py").is_file():
            return p.resolve()
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process for {url} exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready within {timeout}s")


class Procs:
    """The processes this run started; stopped by their own PIDs only."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, cmd: list[str], cpus: str, **kw) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "wb")
        full = ["taskset", "-c", cpus, *cmd] if cpus else cmd
        print(f"[start] {name}: {' '.join(full)}", file=sys.stderr, flush=True)
        p = subprocess.Popen(full, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kw)
        self.procs[name] = p
        return p

    def stop_all(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for name, p in self.procs.items():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        drop_log_stores()  # the gateways' log stores, now that nothing writes them


#: The data directories `aigw_config` named, removed by `Procs.stop_all` (drop_log_stores).
_DATA_DIRS: list[Path] = []


def drop_log_stores() -> None:
    """Remove the data directories `aigw_config` named (the gateways are stopped by then): their
    SQLite log stores grow by ~1 GB per gateway in a few minutes of load and nothing is read from
    them afterwards (results are in results.jsonl). AIGW_BENCH_KEEP_DATA=1 keeps them."""
    if os.environ.get("AIGW_BENCH_KEEP_DATA") == "1":
        return
    while _DATA_DIRS:
        shutil.rmtree(_DATA_DIRS.pop(), ignore_errors=True)


#: The gateway token of `bench-auth` (a benchmark's, not a secret: the gateway listens on 127.0.0.1).
BENCH_TOKEN = "aigw-bench-token-0123456789abcdef"


def aigw_config(out: Path, port: int, up_port: int, anthropic_port: int | None = None) -> Path:
    path = out / "aigw.toml"
    _DATA_DIRS.append(out / "aigw-data")
    path.write_text(
        f'''# generated by run_gateway.py
data_dir = "{out / "aigw-data"}"

[server]
host = "127.0.0.1"
port = {port}
max_inflight_per_connection = 256

[gateways.bench]
authentication = false

[gateways.bench-nolog]
authentication = false
collect_logs = false

[gateways.bench-auth]  # as `bench`, but every request carries a token (the `httpauth` surface)
authentication = true
tokens = ["{BENCH_TOKEN}"]

[upstream]
pool_size_per_host = 64
max_connections_per_client = 64  # one benchmark connection may use the whole pool

[providers.openai]
base_url = "http://127.0.0.1:{up_port}/v1"
key = "sk-bench-dummy"
''' + (f'''
[providers.anthropic]
base_url = "http://127.0.0.1:{anthropic_port}"
key = "sk-ant-bench-dummy"
''' if anthropic_port else "")
    )
    return path


# scenario -> (stream, paced, in flight)
SCENARIOS = {
    "ns_c1": (False, False, 1),
    "ns_c32": (False, False, 32),
    "ns_c64": (False, False, 64),
    "st_c8": (True, True, 8),
    "st_b8": (True, False, 8),
    # issue 15 item 3: how a paced chunk's cost scales with the streams sharing one connection
    "st_c1": (True, True, 1),
    "st_c64": (True, True, 64),
}


def load_cmd(args, target: dict, scen: str, py: str) -> list[str] | None:
    stream, paced, c = SCENARIOS[scen]
    kind = target["kind"]
    watch = [f"--watch=upstream={target['up_pid']}"]
    if "pid" in target:
        watch.append(f"--watch=gw={target['pid']}")
    if kind == "ws":
        if scen == "ns_c64" and target.get("skip_c64"):
            return None
        cmd = [py, str(HERE / "ws_load.py"), "--url", target["url"], "--inflight", str(c), "--seconds", str(args.seconds),
               "--warmup", str(args.warmup), "--label", f"{target['name']}/{scen}", *watch]
        if stream:
            cmd.append("--stream")
        if paced:
            cmd.append("--paced")
        if target.get("conn_per_request"):
            cmd += ["--connections", str(c)]
        return cmd
    if kind == "direct":
        if stream or scen == "ns_c64":
            return None
        return [py, str(HERE / "ws_load.py"), "--http", target["url"], "--inflight", str(c), "--seconds", str(args.seconds),
                "--warmup", str(args.warmup), "--label", f"direct/{scen}", *watch]
    if kind == "loadgen":
        if scen == "ns_c64" or (kind == "loadgen" and target["name"] == "direct-loadgen" and scen != "ns_c1"):
            return None
        model = target["models"]["paced" if paced else "default"]
        warm = {1: 50, 32: 320, 8: 16}.get(c, 8 * c)
        cmd = [py, str(target["loadgen"]), "--url", target["url"], "--api-key", target["api_key"], "--model", model,
               "-c", str(c), "-n", "10000000", "--warmup", str(warm if not args.smoke else min(warm, 32)),
               "--max-seconds", str(args.seconds), "--timeout", "30", "--json", *watch]
        for header in target.get("headers", ()):
            cmd += ["-H", header]
        if stream:
            cmd.append("--stream")
        return cmd
    raise ValueError(kind)


def normalize(target: dict, scen: str, raw: dict) -> dict:
    """One row with the same fields whichever client produced it."""
    stream = SCENARIOS[scen][0]
    if "watch" in raw:  # loadgen.py
        gw = raw["watch"].get("gw", {})
        up = raw["watch"].get("upstream", {})
        n = raw["ok"]
        row = {
            "requests": n, "errors": raw["errors"], "seconds": raw["wall_s"], "req_per_s": raw["rps"],
            "p50_us": (raw["lat_ms"]["p50"] or 0) * 1000, "p99_us": (raw["lat_ms"]["p99"] or 0) * 1000,
            "gw_cpu_s": gw.get("cpu_s"), "up_cpu_s": up.get("cpu_s"), "client_cpu_s": raw["client_cpu_s"],
            "foreign_cores": raw["foreign_cores"], "gw_rss_mb": gw.get("rss_mb_end"),
            "error_samples": raw.get("error_samples"),
        }
        if stream:
            row["ttfc_p50_us"] = (raw["ttfc_ms"]["p50"] or 0) * 1000
            row["chunks_per_stream"] = raw["chunks_per_resp"]["mean"]
            row["chunks"] = (row["chunks_per_stream"] or 0) * n  # SSE events received (data: lines, [DONE] excluded)
    else:  # ws_load.py
        n = raw["requests"]
        row = {
            "requests": n, "errors": raw["errors"], "seconds": raw["seconds"], "req_per_s": raw["req_per_s"],
            "p50_us": raw.get("p50_us"), "p99_us": raw.get("p99_us"),
            "gw_cpu_s": raw.get("gw_cpu_s"), "up_cpu_s": raw.get("upstream_cpu_s"), "client_cpu_s": raw["client_cpu_s"],
            "foreign_cores": raw["foreign_cores"], "error_samples": raw.get("error_samples"),
        }
        if stream:
            row["ttfc_p50_us"] = raw.get("ttfc_p50_us")
            row["chunks_per_stream"] = raw.get("chunks_per_stream")
            row["chunks"] = raw.get("chunks")  # universal.stream messages received in the window
    if row["gw_cpu_s"] is not None and n:
        row["gw_cpu_us_per_req"] = row["gw_cpu_s"] / n * 1e6
        row["gw_cores"] = row["gw_cpu_s"] / row["seconds"]
        if stream and row.get("chunks"):
            # per chunk actually received, not per nominal CHUNKS: a gateway that drops or merges
            # chunks is not credited with the ones the client never saw
            row["gw_cpu_us_per_chunk_allin"] = row["gw_cpu_s"] / row["chunks"] * 1e6
    return row


def gw_rss_mb(pid: int) -> float | None:
    try:
        import psutil

        p = psutil.Process(pid)
        return sum(q.memory_info().rss for q in [p, *p.children(recursive=True)]) / 1048576
    except Exception:  # noqa: BLE001
        return None


def run_load(cmd: list[str], aux_cpus: str) -> tuple[dict | None, str]:
    """One load process pinned to the AUX cpus: its JSON line, or None and the tail of its stderr."""
    r = subprocess.run(["taskset", "-c", aux_cpus, *cmd], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0 or not r.stdout.strip():
        return None, r.stderr[-800:]
    return json.loads(r.stdout.strip().splitlines()[-1]), ""


def warm_until_stable(args, targets: list[dict], out: Path) -> None:
    """Warm every gateway target until its rate is stable, before the reps.

    A gateway's cost falls as its process ages (LiteLLM's most: caches, lazy imports, the
    allocator), so one fixed warm-up under-warms some targets and over-warms others. Per target:
    one streamed window (burst) to warm the stream path, then non-streamed windows at 32 in flight
    of --warm-window seconds each until two consecutive windows' req/s are within
    --warm-tolerance of each other, or --warm-cap seconds have gone by (then `stable: false`).
    Each target's record goes to OUT/warm.jsonl and into the summary.
    """
    for t in targets:
        if "pid" not in t:  # the upstream alone: warmed by every gateway target's windows
            continue
        wargs = argparse.Namespace(**{**vars(args), "seconds": args.warm_window, "warmup": 0.2,
                                      "smoke": True})  # smoke: loadgen's own request warm-up kept short
        t0 = time.monotonic()
        stream_cmd = load_cmd(wargs, t, "st_b8", args.py)
        if stream_cmd:
            run_load(stream_cmd, args.aux_cpus)
        rates: list[float] = []
        cpu_us: list[float | None] = []  # beside the rate: aging lowers it, a busy neighbour does not
        stable = False
        while time.monotonic() - t0 < args.warm_cap:
            raw, err = run_load(load_cmd(wargs, t, "ns_c32", args.py), args.aux_cpus)
            if raw is None:
                print(f"[warm] {t['name']}: load failed: {err}", file=sys.stderr)
                break
            row = normalize(t, "ns_c32", raw)
            rates.append(row["req_per_s"])
            cpu_us.append(row.get("gw_cpu_us_per_req") and round(row["gw_cpu_us_per_req"], 1))
            if len(rates) >= 2 and abs(rates[-1] - rates[-2]) <= args.warm_tolerance * max(rates[-1], rates[-2]):
                stable = True
                break
        rec = {"target": t["name"], "seconds": round(time.monotonic() - t0, 1), "windows": len(rates),
               "window_s": args.warm_window, "tolerance": args.warm_tolerance, "cap_s": args.warm_cap,
               "stable": stable, "req_per_s": [round(r) for r in rates], "gw_cpu_us_per_req": cpu_us, "time": time.strftime("%H:%M:%S", time.gmtime())}
        t["warm"] = rec
        with open(out / "warm.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"[warm] {t['name']}: {rec['seconds']} s, {'stable' if stable else 'NOT stable'} at req/s {rec['req_per_s']}",
              file=sys.stderr, flush=True)


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_foreign: float, timeout: float) -> float:
    """Before a re-run: wait (up to `timeout` s) until the machine, idle of our load, burns at most
    `max_foreign` cores over a 1 s sample. Returns the last sample (our idle gateways count in it)."""
    deadline = time.monotonic() + timeout
    while True:
        b0, t0 = machine_busy(), time.monotonic()
        time.sleep(1.0)
        busy = (machine_busy() - b0) / (time.monotonic() - t0)
        if busy <= max_foreign or time.monotonic() >= deadline:
            return busy


def measure_cell(args, t: dict, scen: str, rep: int, cmd: list[str], f) -> None:
    """One (rep, scenario, target) cell: run it, and re-run it (up to --tries in all) while the
    row's foreign load exceeds --max-foreign. Every row goes to results.jsonl; the ones over the
    threshold carry `"excluded": true` and render() leaves them out (and counts them)."""
    for attempt in range(1, args.tries + 1):
        if attempt > 1:
            busy = wait_quiet(args.max_foreign, 5.0 if args.smoke else 60.0)
            print(f"[retry] {t['name']}/{scen} try {attempt} (machine busy {busy:.2f} cores)", file=sys.stderr, flush=True)
        raw, err = run_load(cmd, args.aux_cpus)
        if raw is None:
            print(f"[fail] {t['name']}/{scen}: {err}", file=sys.stderr)
            return
        row = {"rep": rep, "scenario": scen, "target": t["name"], "smoke": args.smoke,
               "time": time.strftime("%H:%M:%S", time.gmtime()), **normalize(t, scen, raw)}
        row["excluded"] = (row["foreign_cores"] or 0) > args.max_foreign
        row["try"], row["max_foreign"] = attempt, args.max_foreign
        if "pid" in t:
            row["gw_rss_mb"] = gw_rss_mb(t["pid"])
            row["gw_rss_after_warm_mb"] = t["rss_after_warm_mb"]
        row["raw"] = raw
        f.write(json.dumps(row) + "\n")
        f.flush()
        print(f"[rep {rep}] {scen:7} {t['name']:14} req/s {row['req_per_s']:9.0f}  gw µs/req "
              f"{row.get('gw_cpu_us_per_req') or 0:9.1f}  p50 {row.get('p50_us') or 0:8.0f} µs  "
              f"errors {row['errors']}  foreign {row['foreign_cores']:.2f}{'  EXCLUDED' if row['excluded'] else ''}",
              file=sys.stderr, flush=True)
        if not row["excluded"]:
            return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0, help="measured window per load run")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds on the same connection before each window")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--targets", default="direct,aigw,aigw-nolog,aigw-http,aigw-http-nolog,litellm,direct-loadgen")
    ap.add_argument("--gw-cpus", default="0")
    ap.add_argument("--aux-cpus", default="1")
    ap.add_argument("--aigw", default=str(ROOT / ".venv/bin/aigw"))
    ap.add_argument("--py", default=sys.executable, help="python for the load clients and the upstream (uvloop, psutil, picows, orjson)")
    ap.add_argument("--litellm-venv", type=Path, default=Path(os.environ.get("LITELLM_VENV", ROOT / ".bench-venvs/litellm")))
    ap.add_argument("--litellm-pin", default=os.environ.get("LITELLM_VERSION", "1.106.2"),
                    help="the LiteLLM version the benchmark is meant to run (recorded; a mismatch is flagged)")
    ap.add_argument("--max-foreign", type=float, default=0.10,
                    help="cores other processes may burn during a row's window; above it the row is excluded and re-run")
    ap.add_argument("--tries", type=int, default=3, help="runs per cell while its rows are excluded")
    ap.add_argument("--warm-window", type=float, default=2.0, help="seconds per warm-up window")
    ap.add_argument("--warm-tolerance", type=float, default=0.05, help="two consecutive windows within this: warm")
    ap.add_argument("--warm-cap", type=float, default=60.0, help="most seconds to warm one target")
    ap.add_argument("--smoke", action="store_true", help="short pipeline check; figures are not measurements")
    ap.add_argument("--render-only", action="store_true", help="rewrite OUT/summary.md from OUT/results.jsonl (with --smoke: labelled as smoke)")
    args = ap.parse_args()
    out: Path = args.out.resolve()
    if args.render_only:
        (out / "summary.md").write_text(render(out, args.smoke))
        print((out / "summary.md").read_text())
        return
    out.mkdir(parents=True, exist_ok=True)
    logdir = out / "logs"
    logdir.mkdir(exist_ok=True)
    harness = find_harness()
    wanted = args.targets.split(",")
    write_versions(out, args, args.litellm_venv / "bin/litellm")  # the CPU probe runs while nothing of ours does
    procs = Procs(logdir)
    try:
        up_port, gw_port, ll_port = free_port(), free_port(), free_port()
        upstream_py = harness / "fake_upstream.py" if harness else HERE / "fast_upstream.py"
        up = procs.start("upstream", [args.py, str(upstream_py), "--port", str(up_port), "--chunks", str(CHUNKS), "--paced-delay-ms", "1"], args.aux_cpus)
        wait_ready(f"http://127.0.0.1:{up_port}/health", 20, up)
        targets: list[dict] = []
        common = {"up_pid": up.pid}
        if "direct" in wanted:
            targets.append({"name": "direct", "kind": "direct", "url": f"http://127.0.0.1:{up_port}/v1/chat/completions", **common})
        # /compat's translated path needs an upstream speaking Anthropic's Messages API.
        an_port = None
        if any(t.endswith("-anthropic") for t in wanted):
            an_port = free_port()
            an = procs.start("upstream-anthropic", [args.py, str(HERE / "fast_upstream.py"), "--port", str(an_port), "--chunks", str(CHUNKS),
                                                     "--paced-delay-ms", "1"], args.aux_cpus)
            wait_ready(f"http://127.0.0.1:{an_port}/health", 20, an)
        if any(t.startswith("aigw") for t in wanted):
            cfg = aigw_config(out, gw_port, up_port, an_port)
            gw = procs.start("aigw", [args.aigw, "serve", "--config", str(cfg)], args.gw_cpus, cwd=out)
            wait_ready(f"http://127.0.0.1:{gw_port}/health", 60, gw)
            # Two shapes of the Universal WebSocket: `aigw` multiplexes the N in-flight requests on
            # ONE connection; `aigw-conns` opens N connections with one request in flight on each.
            for name, gateway, conn_per_request in (("aigw", "bench", False), ("aigw-nolog", "bench-nolog", False),
                                                    ("aigw-conns", "bench", True), ("aigw-conns-nolog", "bench-nolog", True)):
                if name in wanted:
                    targets.append({"name": name, "kind": "ws", "url": f"ws://127.0.0.1:{gw_port}/v1/bench-account/{gateway}",
                                    "conn_per_request": conn_per_request, "pid": gw.pid, **common})
            # The same gateways over HTTP/1.1 keep-alive: the OpenAI provider route, driven by the
            # shared harness's loadgen.py exactly as LiteLLM is (issue 8's side-by-side).
            for name, gateway in (("aigw-http", "bench"), ("aigw-http-nolog", "bench-nolog")):
                if name in wanted and harness is not None:
                    targets.append({"name": name, "kind": "loadgen", "loadgen": harness / "loadgen.py",
                                    "url": f"http://127.0.0.1:{gw_port}/v1/bench-account/{gateway}/openai/chat/completions",
                                    "api_key": "sk-bench-dummy", "models": {"default": "gpt-4o-mini", "paced": "paced-gpt-4o-mini"},
                                    "pid": gw.pid, **common})
            # /compat (issue 9): the OpenAI-compatible route, pass-through (openai/...) and
            # translated to Anthropic's Messages API and back (anthropic/...).
            for name, model in (("aigw-compat", "openai/gpt-4o-mini"), ("aigw-compat-anthropic", "anthropic/claude-bench")):
                if name in wanted and harness is not None:
                    paced = model.replace("/", "/paced-", 1)
                    targets.append({"name": name, "kind": "loadgen", "loadgen": harness / "loadgen.py",
                                    "url": f"http://127.0.0.1:{gw_port}/v1/bench-account/bench/compat/chat/completions",
                                    "api_key": "sk-bench-dummy", "models": {"default": model, "paced": paced}, "pid": gw.pid,
                                    **common, **({"up_pid": an.pid} if model.startswith("anthropic/") else {})})
        ll_bin = args.litellm_venv / "bin/litellm"
        if ("litellm" in wanted or "direct-loadgen" in wanted) and harness is None:
            print("[skip] litellm: the shared harness (loadgen.py) is not found", file=sys.stderr)
        elif ("litellm" in wanted or "litellm-anthropic" in wanted) and not ll_bin.exists():
            print(f"[skip] litellm: {ll_bin} missing (run_gateway.sh installs it)", file=sys.stderr)
        elif "litellm" in wanted or "litellm-anthropic" in wanted:
            key = "sk-gwbench-" + secrets.token_hex(16)
            env = dict(os.environ, PEERS_UPSTREAM_BASE=f"http://127.0.0.1:{up_port}/v1", LITELLM_LOG="ERROR", LITELLM_MODE="PRODUCTION",
                       LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_MASTER_KEY=key)
            # The harness's config, or (for the /compat side-by-side) ours: the same two models plus Claude.
            ll_config = str(harness / "litellm/config.yaml")
            if an_port:
                env["ANTHROPIC_UPSTREAM_BASE"] = f"http://127.0.0.1:{an_port}"
                ll_config = str(HERE / "litellm-compat.yaml")
            ll = procs.start("litellm", [str(ll_bin), "--config", ll_config, "--host", "127.0.0.1", "--port", str(ll_port), "--num_workers", "1"],
                             args.gw_cpus, cwd=harness / "litellm", env=env)
            wait_ready(f"http://127.0.0.1:{ll_port}/health/liveliness", 240, ll)
            if "litellm" in wanted:
                targets.append({"name": "litellm", "kind": "loadgen", "loadgen": harness / "loadgen.py", "url": f"http://127.0.0.1:{ll_port}/v1/chat/completions",
                                "api_key": key, "models": {"default": "fake-gpt", "paced": "fake-gpt-paced"}, "pid": ll.pid, **common})
            if an_port and "litellm-anthropic" in wanted:
                targets.append({"name": "litellm-anthropic", "kind": "loadgen", "loadgen": harness / "loadgen.py",
                                "url": f"http://127.0.0.1:{ll_port}/v1/chat/completions", "api_key": key,
                                "models": {"default": "fake-claude", "paced": "fake-claude-paced"}, "pid": ll.pid, **common,
                                "up_pid": an.pid})  # its upstream's CPU is ours, not foreign
        if "direct-loadgen" in wanted and harness is not None:
            targets.append({"name": "direct-loadgen", "kind": "loadgen", "loadgen": harness / "loadgen.py", "url": f"http://127.0.0.1:{up_port}/v1/chat/completions",
                            "api_key": "dummy", "models": {"default": "gpt-4o-mini", "paced": "paced-gpt-4o-mini"}, **common})
        warm_until_stable(args, targets, out)
        for t in targets:
            if "pid" in t:
                t["rss_after_warm_mb"] = gw_rss_mb(t["pid"])
        scens = args.scenarios.split(",")
        results = out / "results.jsonl"
        first_rep = 1 + max((json.loads(line)["rep"] for line in open(results)), default=-1) if results.exists() else 0
        with open(results, "a") as f:  # re-running with the same --out adds reps
            for rep in range(first_rep, first_rep + args.reps):
                for scen in scens:
                    k = rep % len(targets)
                    for t in targets[k:] + targets[:k]:
                        cmd = load_cmd(args, t, scen, args.py)
                        if cmd is not None:
                            measure_cell(args, t, scen, rep, cmd, f)
    finally:
        procs.stop_all()
    (out / "summary.md").write_text(render(out, args.smoke))
    print((out / "summary.md").read_text())


PROBE = """
import hashlib, json, sys, time
def best(fn, n=5):
    b = float("inf")
    for _ in range(n):
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t)
    return b * 1e3
def loop():
    x = 0
    for i in range(3_000_000):
        x += i * i
data = bytes(64 << 20)
print(json.dumps({"py_loop_3M_ms": round(best(loop), 1),
                  "sha256_64MiB_ms": round(best(lambda: hashlib.sha256(data).digest()), 1),
                  "python": sys.version.split()[0]}))
"""


def cpu_probe(args) -> dict:
    """A fixed single-thread workload on the gateway's core, best of 5 each: a pure-Python loop
    (3 M iterations: the interpreter's speed) and sha256 of 64 MiB (the core's native speed).
    Runs on different machines are normalised by these, not by their "direct" rate alone."""
    ru0, busy0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy(), time.monotonic()
    r = subprocess.run(["taskset", "-c", args.gw_cpus.split(",")[0], args.py, "-c", PROBE], capture_output=True, text=True)
    ru1, busy1, t1 = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy(), time.monotonic()
    try:
        probe = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": r.stderr[-300:]}
    mine = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    probe["foreign_cores"] = round(max(0.0, (busy1 - busy0) - mine) / (t1 - t0), 2)  # > ~0.5: the probe shared its core
    return probe


def probe_line(probe: dict, cpu: str) -> str:
    if "error" in probe:
        return f"cpu probe: failed ({probe['error']})"
    return (f"cpu probe (core {cpu}, best of 5, Python {probe['python']}): pure-Python loop of 3 M iterations "
            f"{probe['py_loop_3M_ms']} ms; sha256 of 64 MiB {probe['sha256_64MiB_ms']} ms; "
            f"other processes meanwhile {probe['foreign_cores']} cores")


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith(("model name", "Model", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def installed_version(py: Path, pkg: str) -> str | None:
    if not py.exists():
        return None
    r = subprocess.run([str(py), "-c", f"import importlib.metadata as m; print(m.version({pkg!r}))"], capture_output=True, text=True)
    return r.stdout.strip() or None


def write_versions(out: Path, args, ll_bin: Path) -> None:
    """OUT/versions.txt: the machine (CPU model, count, kernel, load, the CPU-speed probe), the
    code (git), and the versions of every package a figure depends on, LiteLLM's against its pin."""
    ll = installed_version(ll_bin.parent / "python", "litellm")
    load = open("/proc/loadavg").read().split()[:3]
    lines = [f"date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
             f"cpu model: {cpu_model()}",
             f"cpus: {os.cpu_count()}  gateway pinned to {args.gw_cpus}, upstream + load client on {args.aux_cpus}",
             f"kernel: {os.uname().sysname} {os.uname().release} {os.uname().machine}",
             f"loadavg at start: {' '.join(load)}",
             probe_line(cpu_probe(args), args.gw_cpus.split(",")[0]),
             f"litellm: {ll or 'not installed'} (pinned {args.litellm_pin}{'' if ll in (None, args.litellm_pin) else ': MISMATCH'})",
             f"git: {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=ROOT).stdout.strip()}"]
    for py, pkgs in ((args.py, "aigw uvloop orjson picows psutil"), (str(ll_bin.parent / "python"), "litellm fastapi uvicorn uvloop")):
        if Path(py).exists():
            code = "import importlib.metadata as m,sys\nfor p in sys.argv[1:]:\n try: print(p, m.version(p))\n except Exception: pass"
            r = subprocess.run([py, "-c", code, *pkgs.split()], capture_output=True, text=True)
            lines.append(f"{py}: " + ", ".join(r.stdout.split("\n")).strip(", "))
    (out / "versions.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:7]), file=sys.stderr, flush=True)


# ---- rendering ---------------------------------------------------------------------------


GATEWAYS = ("aigw", "aigw-conns", "aigw-nolog", "aigw-conns-nolog", "aigw-http", "aigw-http-nolog", "aigw-compat",
            "aigw-compat-anthropic", "litellm", "litellm-anthropic")


def render_header(out: Path, all_rows: list[dict], rows: list[dict]) -> list[str]:
    """The method lines above the tables: machine and CPU probe (versions.txt), rows excluded for
    foreign load, and how long each target was warmed (warm.jsonl)."""
    lines = []
    vfile = out / "versions.txt"
    if vfile.exists():
        keep = ("cpu model:", "cpus:", "kernel:", "cpu probe", "litellm:", "loadavg at start:")
        lines += [f"- {line}" for line in vfile.read_text().splitlines() if line.startswith(keep)]
    excluded = [r for r in all_rows if r.get("excluded")]
    thresholds = sorted({r["max_foreign"] for r in all_rows if r.get("max_foreign") is not None})
    if thresholds:
        clean = {(r["target"], r["scenario"], r["rep"]) for r in rows}
        lost = {(r["target"], r["scenario"], r["rep"]) for r in excluded} - clean
        lines.append(f"- foreign load: rows whose window saw other processes burn more than "
                     f"{'/'.join(f'{x:g}' for x in thresholds)} cores are excluded and re-run (up to 3 tries): "
                     f"{len(excluded)} of {len(all_rows)} rows excluded; {len(lost)} cell(s) had no clean try and are missing"
                     + (f" ({', '.join(sorted(f'{t}/{s}/rep {r}' for t, s, r in lost))})" if lost else ""))
    else:
        lines.append("- foreign load: recorded per row, no exclusion threshold in this run")
    wfile = out / "warm.jsonl"
    if wfile.exists():
        warm = [json.loads(line) for line in open(wfile) if line.strip()]
        if warm:
            w0 = warm[0]
            lines.append(f"- warm-up per target (windows of {w0['window_s']:g} s at 32 in flight until two consecutive "
                         f"are within {w0['tolerance'] * 100:g} % in req/s, cap {w0['cap_s']:g} s): "
                         + "; ".join(f"{w['target']} {w['seconds']:g} s ({w['windows']} window(s), "
                                     f"{'stable' if w['stable'] else 'NOT stable'}, last {w['req_per_s'][-1:] and w['req_per_s'][-1]} req/s)"
                                     for w in warm))
    return lines


def render(out: Path, smoke: bool = False) -> str:
    all_rows = [json.loads(line) for line in open(out / "results.jsonl")]
    rows = [r for r in all_rows if not r.get("excluded")]  # rows over --max-foreign: counted, never averaged
    by: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        by[(r["target"], r["scenario"])].append(r)
    smoke = smoke or any(r.get("smoke") for r in all_rows)
    reps = len({r["rep"] for r in all_rows})

    def col(t, s, key):
        return [r.get(key) for r in by.get((t, s), [])]

    def paired(t, s, key, base="direct"):
        """target minus baseline, paired per rep."""
        b = {r["rep"]: r.get(key) for r in by.get((base, s), [])}
        return [r[key] - b[r["rep"]] for r in by.get((t, s), []) if r.get(key) is not None and b.get(r["rep"]) is not None]

    def marginal(t, stream_s, ns_s="ns_c32"):
        """(CPU per stream − CPU per non-streamed request) / chunks actually received per stream."""
        ns = {r["rep"]: r.get("gw_cpu_us_per_req") for r in by.get((t, ns_s), [])}
        return [(r["gw_cpu_us_per_req"] - ns[r["rep"]]) / r["chunks_per_stream"] for r in by.get((t, stream_s), [])
                if r.get("gw_cpu_us_per_req") is not None and ns.get(r["rep"]) is not None and r.get("chunks_per_stream")]

    def per_cpu_s(t, s):
        return [1e6 / v for v in col(t, s, "gw_cpu_us_per_req") if v]

    gws = [t for t in GATEWAYS if any(k[0] == t for k in by)]
    lines = [f"# Gateway benchmark{' (SMOKE: not a measurement)' if smoke else ''}", "",
             f"{reps} rep(s); cells are the median [min–max] over the clean reps, rounded to the precision the "
             "spread allows (bounds to 2 significant digits of the half-range, the median one digit coarser). "
             "aigw: Universal WebSocket API, N in flight on ONE connection (`aigw`) or on N connections, one request "
             "each (`aigw-conns`); `-nolog`: collect_logs = false; `aigw-http`: the OpenAI provider route over C "
             "keep-alive HTTP connections. LiteLLM: HTTP /v1/chat/completions over C keep-alive connections "
             "(loadgen.py). Gateways pinned to one core; upstream + client on the other. Per-chunk figures divide "
             "by the chunks the client actually received.", "", *render_header(out, all_rows, rows), ""]
    lines.append("| metric | " + " | ".join(gws) + " |")
    lines.append("|---|" + "---|" * len(gws))
    spec = [
        ("gateway CPU µs / request, non-stream, 1 in flight", "ns_c1", "gw_cpu_us_per_req", 1),
        ("gateway CPU µs / request, non-stream, 32 in flight", "ns_c32", "gw_cpu_us_per_req", 1),
        ("gateway CPU µs / request, non-stream, 64 in flight (target ≤ 50)", "ns_c64", "gw_cpu_us_per_req", 1),
        ("req/s, 32 in flight", "ns_c32", "req_per_s", 0),
        ("req/s, 64 in flight", "ns_c64", "req_per_s", 0),
        ("gateway cores used, 64 in flight", "ns_c64", "gw_cores", 2),
        ("gateway CPU µs / stream (64 chunks sent), paced, 8 in flight", "st_c8", "gw_cpu_us_per_req", 0),
        ("gateway CPU µs / chunk received, all-in, paced, 1 stream", "st_c1", "gw_cpu_us_per_chunk_allin", 2),
        ("gateway CPU µs / chunk received, all-in, paced (target ≤ 5)", "st_c8", "gw_cpu_us_per_chunk_allin", 2),
        ("gateway CPU µs / chunk received, all-in, paced, 64 streams (target ≤ 8)", "st_c64", "gw_cpu_us_per_chunk_allin", 2),
        ("gateway CPU µs / stream (64 chunks sent), burst, 8 in flight", "st_b8", "gw_cpu_us_per_req", 0),
        ("gateway CPU µs / chunk received, all-in, burst", "st_b8", "gw_cpu_us_per_chunk_allin", 2),
        ("TTFC p50 µs, paced, 8 in flight", "st_c8", "ttfc_p50_us", 0),
        ("chunks received per stream, paced", "st_c8", "chunks_per_stream", 1),
        ("chunks received per stream, burst", "st_b8", "chunks_per_stream", 1),
        ("latency p50 µs, 1 in flight", "ns_c1", "p50_us", 0),
        ("latency p99 µs, 1 in flight", "ns_c1", "p99_us", 0),
    ]
    for label, s, key, d in spec:
        if any(by.get((t, s)) for t in gws):
            lines.append(f"| {label} | " + " | ".join(fmt(col(t, s, key), d) for t in gws) + " |")
    for label, s in (("marginal CPU µs / chunk, paced = (stream − ns_c32 request) / chunks received (target ≤ 5)", "st_c8"),
                     ("marginal CPU µs / chunk, burst", "st_b8")):
        if any(marginal(t, s) for t in gws):
            lines.append(f"| {label} | " + " | ".join(fmt(marginal(t, s), 2) for t in gws) + " |")
    for base, label in (("direct", "direct (raw-protocol client)"), ("direct-loadgen", "direct (loadgen.py)")):
        if any(k == (base, "ns_c1") for k in by):
            for key, what in (("p50_us", "p50"), ("p99_us", "p99")):
                cells = []
                for t in gws:  # like with like: loadgen-driven targets against loadgen's direct
                    http = t == "litellm" or t.startswith("aigw-http")
                    cells.append(fmt(paired(t, "ns_c1", key, base), 0) if http == (base == "direct-loadgen") else "")
                lines.append(f"| added latency {what} µs, 1 in flight, vs {label}{' (target p50 ≤ 150)' if what == 'p50' and base == 'direct' else ''} | " + " | ".join(cells) + " |")
    lines.append("| requests per gateway CPU-second, 32 in flight | " + " | ".join(fmt(per_cpu_s(t, "ns_c32"), 0) for t in gws) + " |")
    rss = [[r.get("gw_rss_mb") for r in rows if r["target"] == t] for t in gws]
    lines.append("| gateway RSS MB at the end of its runs | " + " | ".join(fmt(v[-1:], 0) for v in rss) + " |")
    lines += render_shapes(by)
    if "litellm" in gws:
        lines += ["", "Ratio aigw / LiteLLM in requests per gateway CPU-second (goal ≥ 100×), paired per rep:", ""]
        for s in ("ns_c1", "ns_c32"):
            for t in ("aigw", "aigw-conns", "aigw-nolog", "aigw-http"):
                a = {r["rep"]: r.get("gw_cpu_us_per_req") for r in by.get((t, s), [])}
                ratios = [r["gw_cpu_us_per_req"] / a[r["rep"]] for r in by.get(("litellm", s), []) if a.get(r["rep"]) and r.get("gw_cpu_us_per_req")]
                if ratios:
                    lines.append(f"- {s}: {t} {fmt(ratios, 0)}×")
        for s in ("st_c8", "st_b8"):
            st = {r["rep"]: r.get("gw_cpu_us_per_chunk_allin") for r in by.get(("aigw", s), [])}
            ratios = [r["gw_cpu_us_per_chunk_allin"] / st[r["rep"]] for r in by.get(("litellm", s), [])
                      if st.get(r["rep"]) and r.get("gw_cpu_us_per_chunk_allin")]
            if ratios:
                lines.append(f"- {s}, CPU per chunk received, all-in: aigw {fmt(ratios, 0)}× less than LiteLLM")
    if "litellm-anthropic" in gws and "aigw-compat-anthropic" in gws:
        lines += ["", "/compat translated to Anthropic and back, aigw / LiteLLM (both translate OpenAI chat ⇄ Messages), paired per rep:", ""]
        for s, key, what in (("ns_c32", "gw_cpu_us_per_req", "CPU per request, 32 in flight"),
                             ("st_b8", "gw_cpu_us_per_chunk_allin", "CPU per chunk received, burst streams")):
            a = {r["rep"]: r.get(key) for r in by.get(("aigw-compat-anthropic", s), [])}
            ratios = [r[key] / a[r["rep"]] for r in by.get(("litellm-anthropic", s), []) if a.get(r["rep"]) and r.get(key)]
            if ratios:
                lines.append(f"- {what}: aigw {fmt(ratios, 0)}× less than LiteLLM")
    lines += ["", "Absolute figures per target and scenario (clean rows; `excl.`: rows left out for foreign load):", "",
              "| target | scenario | n | excl. | req/s | p50 µs | p99 µs | gw CPU µs/req | gw cores | upstream cores | client cores | foreign cores | errors |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    n_excl: dict[tuple[str, str], int] = defaultdict(int)
    for r in all_rows:
        if r.get("excluded"):
            n_excl[(r["target"], r["scenario"])] += 1
    for (t, s) in sorted(set(by) | set(n_excl)):
        rs = by.get((t, s), [])
        cores = lambda key: fmt([r[key] / r["seconds"] for r in rs if r.get(key) is not None], 2)  # noqa: E731
        lines.append(f"| {t} | {s} | {len(rs)} | {n_excl.get((t, s), 0)} | {fmt(col(t, s, 'req_per_s'))} | {fmt(col(t, s, 'p50_us'))} | "
                     f"{fmt(col(t, s, 'p99_us'))} | {fmt(col(t, s, 'gw_cpu_us_per_req'), 1)} | {cores('gw_cpu_s')} | {cores('up_cpu_s')} | "
                     f"{cores('client_cpu_s')} | {fmt(col(t, s, 'foreign_cores'), 2)} | {sum(r['errors'] for r in rs)} |")
    lines += ["", "Surfaces: `aigw`/`aigw-nolog` are the Universal WebSocket API (many requests multiplexed on "
              "one connection); `aigw-conns` the same API with one connection per in-flight request; "
              "`aigw-http`/`aigw-http-nolog` are the OpenAI provider route "
              "(`/v1/{account}/{gateway}/openai/chat/completions`) over C HTTP/1.1 keep-alive connections, "
              "driven by the same loadgen.py as LiteLLM: that pair is the same protocol as LiteLLM's.", ""]
    return "\n".join(lines)


def render_shapes(by: dict) -> list[str]:
    """The Universal WebSocket's two shapes side by side, per scenario: N requests multiplexed on
    one connection vs one connection per in-flight request, and what multiplexing saves (paired per rep)."""
    lines = []
    for multi, conns in (("aigw", "aigw-conns"), ("aigw-nolog", "aigw-conns-nolog")):
        scens = [s for s in SCENARIOS if by.get((multi, s)) and by.get((conns, s))]
        if not scens:
            continue
        if not lines:
            lines += ["", "Universal WebSocket shapes: N in flight multiplexed on ONE connection vs N connections with "
                      "one request each (saving = 1 − multiplexed / per-connection CPU, paired per rep):", "",
                      "| gateway | scenario | CPU µs/req, multiplexed | CPU µs/req, conn per request | multiplexing saves | "
                      "req/s, multiplexed | req/s, conn per request |", "|---|---|---|---|---|---|---|"]
        for s in scens:
            c = {r["rep"]: r.get("gw_cpu_us_per_req") for r in by[(conns, s)]}
            saves = [100 * (1 - r["gw_cpu_us_per_req"] / c[r["rep"]]) for r in by[(multi, s)]
                     if r.get("gw_cpu_us_per_req") and c.get(r["rep"])]
            col = lambda t, key: [r.get(key) for r in by[(t, s)]]  # noqa: E731
            lines.append(f"| {multi} | {s} | {fmt(col(multi, 'gw_cpu_us_per_req'), 1)} | {fmt(col(conns, 'gw_cpu_us_per_req'), 1)} | "
                         f"{fmt(saves, 0)} % | {fmt(col(multi, 'req_per_s'))} | {fmt(col(conns, 'req_per_s'))} |")
    return lines


if __name__ == "__main__":
    main()
