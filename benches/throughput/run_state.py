"""Shared-state benchmark (issue 12 item 5): what Redis and PostgreSQL cost the gateway, and what
`--workers 2` buys on this 2-core machine.

Starts, on loopback and free ports: fast_upstream.py (a fake OpenAI, ~10-15 µs per request) on
AUX cpus; a real redis-server and PostgreSQL from the system packages (aigw.testing.servers,
temporary directories, no persistence, fsync off); then, one after the other, one `aigw serve`
per configuration below, and runs ws_load.py (picows client, N requests in flight on ONE
WebSocket, closed loop, warm-up first) against it, --reps times, configurations interleaved
and rotated per rep. Gateway CPU = user+sys of its process tree (all threads: the PostgreSQL
logger's writer thread included) over the measured window. Each run is one JSON line in
OUT/results.jsonl; OUT/summary.md has median [min-max] per row.

Experiments (--only to pick):
  backends  non-stream, C in flight, every request a cache MISS then stored (unique
            cf-aig-cache-key) and counted by a sliding-window limit that never refuses:
            `none` (no cache, no limit), `memory` (in-process cache and limiter), `redis`
            (aigw-redis cache and limiter). Target: redis - memory <= 25 µs per request.
  logs      non-stream, C in flight, payload logs collected: `nolog` (collect_logs = false),
            `sqlite`, `postgres` (aigw-postgres). Per row = CPU/request - nolog's.
            Target: postgres <= sqlite.
  workers   `--workers 1` vs `--workers 2` on one port (SO_REUSEPORT), Redis cache and
            limiter, no logs; --loads load processes (default 4) of one connection each, every
            process (gateway workers and load) unpinned in both runs, so the load generator
            gets the same share of the 2 cores either way. The kernel spreads connections
            over the workers by a hash of their addresses, so the split is by chance: each
            worker's cores are reported beside the total req/s. Target: >= 1.6x.

    python benches/throughput/run_state.py --out benches/results/state-final            # ~6 min
    python benches/throughput/run_state.py --out /tmp/state-smoke --smoke               # ~40 s, a check only

Needs: aigw, aigw-redis, aigw-postgres installed in the interpreter running it (the gateway
runs as `sys.executable -m aigw`), picows, uvloop, psutil, redis-server and PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "python"))

from aigw.testing.servers import free_port, postgres_server, redis_server  # noqa: E402

# The gateway imports aigw and the first-party plugins from this checkout, ahead of any installed
# copy (a stale installed aigw-redis would otherwise be what gets measured).
REPO_PATH = os.pathsep.join(
    [str(ROOT / "python"), str(ROOT / "plugins/aigw-redis"), str(ROOT / "plugins/aigw-postgres"), os.environ.get("PYTHONPATH", "")]
).rstrip(os.pathsep)

BACKENDS = ("none", "memory", "redis")
LOGS = ("nolog", "sqlite", "postgres")
WORKERS = (1, 2)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


def write_config(path: Path, data_dir: Path, up_port: int, tables: dict[str, dict]) -> Path:
    """aigw.toml: gateway `bench` without auth, provider openai -> the fake upstream, `tables`."""
    base = {
        "server": {"max_inflight_per_connection": 256, "ping_interval": 0},
        "upstream": {"pool_size_per_host": 64},
        "providers.openai": {"base_url": f"http://127.0.0.1:{up_port}/v1", "key": "sk-bench-dummy"},
        "gateways.bench": {"authentication": False},
    }
    for name, table in tables.items():
        base[name] = {**base.get(name, {}), **table}
    lines = [f"data_dir = {toml_value(str(data_dir))}"]
    for name, table in base.items():
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def configuration(kind: str, name, redis_url: str, dsn: str) -> tuple[dict[str, dict], list[str], int]:
    """(config tables, extra `aigw serve` args, ws_load processes) of one configuration."""
    prefix = f"bench-{time.time_ns()}:"
    redis = {"plugins.redis": {"url": redis_url, "key_prefix": prefix, "timeout_ms": 1000}}
    never_refuses = {"cache_ttl": 600, "rate_limit": {"limit": 1_000_000_000, "interval": 60, "technique": "sliding"}}
    if kind == "backends":
        tables = {"logs": {"stores": []}, "gateways.bench": {"collect_logs": False}}
        if name != "none":
            tables["gateways.bench"].update(never_refuses)
            tables["cache"] = {"backend": name}
            tables["rate_limit"] = {"backend": name}
        if name == "redis":
            tables.update(redis)
        return tables, [], 1
    if kind == "logs":
        if name == "nolog":
            return {"logs": {"stores": []}, "gateways.bench": {"collect_logs": False}}, [], 1
        tables = {"logs": {"stores": [name]}, "gateways.bench": {"collect_logs": True}}
        if name == "postgres":
            tables["plugins.postgres"] = {"dsn": dsn}
        return tables, [], 1
    # workers
    tables = {"logs": {"stores": []}, "gateways.bench": {"collect_logs": False, **never_refuses},
              "cache": {"backend": "redis"}, "rate_limit": {"backend": "redis"}, **redis}  # fmt: skip
    return tables, ["--workers", str(name)], 0  # --loads


def wait_health(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"aigw serve exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"aigw serve on {port} not healthy within {timeout}s")


def taskset(cpus: str | None, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *cmd] if cpus else cmd


def run_one(args, out: Path, kind: str, name, up_port: int, redis_url: str, dsn: str, rep: int) -> list[dict]:
    """Start the gateway of one configuration, load it, stop it; the load processes' JSON lines."""
    tag = f"{kind}-{name}-r{rep}"
    tables, extra, loads = configuration(kind, name, redis_url, dsn)
    loads = loads or args.loads
    config = write_config(out / f"{tag}.toml", out / "data" / tag, up_port, tables)
    port = free_port()
    log = open(out / f"{tag}.log", "w")
    pinned = kind != "workers"  # workers: everything unpinned (see the module docstring)
    gw = subprocess.Popen(
        taskset(args.gw_cpus if pinned else None,
                [sys.executable, "-m", "aigw", "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port), *extra]),
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONPATH": REPO_PATH},
    )  # fmt: skip
    try:
        wait_health(port, gw)
        time.sleep(0.5 if args.smoke else 1.5)  # workers: let both bind before connecting
        watch = [f"gw={gw.pid}"]
        import psutil

        workers = psutil.Process(gw.pid).children()
        watch += [f"w{i + 1}={w.pid}" for i, w in enumerate(workers)] if kind == "workers" else []
        cmd = [sys.executable, str(HERE / "ws_load.py"), "--url", f"ws://127.0.0.1:{port}/v1/acct/bench",
               "--inflight", str(args.inflight), "--seconds", str(args.seconds), "--warmup", str(args.warmup),
               "--label", tag, *[f"--watch={w}" for w in watch]]  # fmt: skip
        if kind == "backends":
            cmd.append("--unique-cache-key")
        procs = [subprocess.Popen(taskset(args.aux_cpus if pinned else None, cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(loads)]  # fmt: skip
        rows = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=args.seconds + args.warmup + 60)
            if p.returncode != 0 or not stdout.strip():
                raise SystemExit(f"ws_load failed for {tag}: {stderr[-2000:]}")
            rows.append({**json.loads(stdout.strip().splitlines()[-1]), "experiment": kind, "config": str(name), "rep": rep})
        return rows
    finally:
        gw.terminate()
        try:
            gw.wait(30)
        except subprocess.TimeoutExpired:
            gw.kill()
        log.close()


def fmt(values: list[float], digits: int = 1) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{med:,.{digits}f} [{min(values):,.{digits}f}-{max(values):,.{digits}f}]" if len(values) > 1 else f"{med:,.{digits}f}"


def render(out: Path, smoke: bool) -> str:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    by = defaultdict(list)
    for r in rows:
        by[(r["experiment"], r["config"], r["rep"])].append(r)
    reps = sorted({r["rep"] for r in rows})

    def per_rep(kind, name, key):
        return [by[(kind, name, rep)][0].get(key) for rep in reps if by.get((kind, name, rep))]

    def delta(kind, name, base):
        return [a - b for a, b in zip(per_rep(kind, name, "gw_cpu_us_per_req"), per_rep(kind, base, "gw_cpu_us_per_req"), strict=False)
                if a is not None and b is not None]  # fmt: skip

    md = ["# Shared-state benchmark (issue 12 item 5)", ""]
    if smoke:
        md += ["**SMOKE RUN: a check that the script works, on a shared busy machine. Not a measurement.**", ""]
    md += [f"Median [min-max] over {len(reps)} rep(s). `foreign` = cores used by other processes in the window.", ""]
    if any(k[0] == "backends" for k in by):
        md += ["## Cache and rate limiter: gateway CPU per request (miss path)", "",
               "| backends | CPU µs / request | extra vs `none` | req/s | foreign cores |", "|---|---|---|---|---|"]  # fmt: skip
        for name in BACKENDS:
            md.append(f"| {name} | {fmt(per_rep('backends', name, 'gw_cpu_us_per_req'))} | {fmt(delta('backends', name, 'none'))} | "
                      f"{fmt(per_rep('backends', name, 'req_per_s'), 0)} | {fmt(per_rep('backends', name, 'foreign_cores'), 2)} |")  # fmt: skip
        md += ["", f"redis - memory: **{fmt(delta('backends', 'redis', 'memory'))} µs / request** (target <= 25)", ""]
    if any(k[0] == "logs" for k in by):
        md += ["## Log stores: gateway CPU per logged request", "",
               "| store | CPU µs / request | per row (minus `nolog`) | req/s | foreign cores |", "|---|---|---|---|---|"]  # fmt: skip
        for name in LOGS:
            md.append(f"| {name} | {fmt(per_rep('logs', name, 'gw_cpu_us_per_req'))} | {fmt(delta('logs', name, 'nolog'))} | "
                      f"{fmt(per_rep('logs', name, 'req_per_s'), 0)} | {fmt(per_rep('logs', name, 'foreign_cores'), 2)} |")  # fmt: skip
        md += ["", f"postgres - sqlite: **{fmt(delta('logs', 'postgres', 'sqlite'))} µs / row** (target <= 0)", ""]
    if any(k[0] == "workers" for k in by):
        md += ["## --workers 1 vs 2 (Redis cache and limiter, one port)", "",
               "| workers | total req/s | gateway cores | per worker cores | load connections |", "|---|---|---|---|---|"]  # fmt: skip
        totals = {}
        for name in WORKERS:
            reqs, cores, split = [], [], []
            for rep in reps:
                runs = by.get(("workers", str(name), rep))
                if not runs:
                    continue
                reqs.append(sum(r["req_per_s"] for r in runs))
                cores.append(runs[0].get("gw_cores"))
                split.append(" / ".join(f"{runs[0].get(f'w{i}_cores', 0):.2f}" for i in range(1, name + 1)) if name > 1 else "-")
            totals[name] = reqs
            md.append(f"| {name} | {fmt(reqs, 0)} | {fmt(cores, 2)} | {split[-1] if split else '-'} | {len(by.get(('workers', str(name), reps[0]), []))} |")
        ratios = [b / a for a, b in zip(totals.get(1, []), totals.get(2, []), strict=False) if a]
        md += ["", f"workers 2 / workers 1: **{fmt(ratios, 2)}x** (target >= 1.6)", ""]
    text = "\n".join(md) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--only", choices=["backends", "logs", "workers"], action="append")
    ap.add_argument("--loads", type=int, default=4, help="workers: load processes, one connection each")
    ap.add_argument("--gw-cpus", default="0", help="taskset cpus of the gateway (backends, logs)")
    ap.add_argument("--aux-cpus", default="1", help="taskset cpus of upstream, servers and load (backends, logs)")
    ap.add_argument("--smoke", action="store_true", help="1 rep x 1 s, a check only")
    ap.add_argument("--render-only", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        print(render(args.out, smoke=(args.out / "SMOKE").exists()))
        return
    if args.smoke:
        args.reps, args.seconds, args.warmup = 1, 1.0, 0.5
        (args.out / "SMOKE").write_text("smoke run: not a measurement\n")
    experiments = args.only or ["backends", "logs", "workers"]
    plan = [(k, n) for k in experiments for n in {"backends": BACKENDS, "logs": LOGS, "workers": WORKERS}[k]]
    results = args.out / "results.jsonl"
    up_port = free_port()
    upstream = subprocess.Popen(taskset(args.aux_cpus, [sys.executable, str(HERE / "fast_upstream.py"), "--port", str(up_port)]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        with redis_server() as redis, postgres_server() as pg:
            for rep in range(args.reps):
                shift = rep % len(plan)
                for kind, name in plan[shift:] + plan[:shift]:  # rotated per rep
                    for row in run_one(args, args.out, kind, name, up_port, redis.url, pg.dsn, rep):
                        with results.open("a") as f:
                            f.write(json.dumps(row) + "\n")
                        print(json.dumps({k: row.get(k) for k in ("label", "req_per_s", "gw_cpu_us_per_req", "foreign_cores")}), flush=True)
    finally:
        upstream.terminate()
        upstream.wait(10)
    print(render(args.out, args.smoke))


if __name__ == "__main__":
    main()
