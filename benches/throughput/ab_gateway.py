"""A/B the gateway's CPU per request: two `aigw serve` builds side by side, loads alternated.

Starts the fake upstream and two gateways (build A and build B, each a command that runs
`aigw`, e.g. a wrapper setting PYTHONPATH to one worktree) on the same core, then for every
rep and scenario runs the same load against A and B back to back (order swapped every rep),
so both see the same machine in the same minutes. Prints each run's gateway CPU µs per
request (per chunk for streams) and, per scenario, the medians, the median of the paired
B/A ratios and the system (kernel) share of the gateway's CPU: socket reads and writes and
wake-ups, which no change to aigw's own code removes. On a shared machine read the ratios,
not the absolute figures.

    python benches/throughput/ab_gateway.py --a /tmp/aigw-old --b /tmp/aigw-new --out /tmp/ab \
        [--reps 4] [--seconds 3] [--scenarios ws:ns_c32,http:ns_c32,ws:st_b8]
        (surfaces: ws = Universal WebSocket, http = OpenAI provider route, compat = /compat
        translated to Anthropic and back, compatpass = /compat passed through to OpenAI,
        httpauth = the provider route on a gateway that requires a token)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_gateway import BENCH_TOKEN, CHUNKS, HERE, Procs, ROOT, SCENARIOS, aigw_config, find_harness, free_port, load_cmd, normalize, wait_ready  # noqa: E402
from ws_load import tree_cpu_times  # noqa: E402  (user and system apart: the load clients report their sum)


def ab_arguments(description: str, **defaults) -> argparse.Namespace:
    """The options every A/B of two builds takes (this script's and instructions.py's);
    `defaults` overrides the defaults, and `reps=None` leaves the option out."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--a", required=True, help="command running build A's aigw")
    ap.add_argument("--b", required=True, help="command running build B's aigw")
    ap.add_argument("--out", type=Path, required=True)
    if defaults.get("reps", 4) is not None:
        ap.add_argument("--reps", type=int, default=defaults.get("reps", 4))
    ap.add_argument("--seconds", type=float, default=defaults.get("seconds", 3.0), help="load per scenario and build")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--scenarios", default=defaults.get("scenarios", "ws:ns_c32,http:ns_c32,ws:st_b8"))
    ap.add_argument("--gateway", default=defaults.get("gateway", "bench-nolog"))
    if defaults.get("b_gateway"):
        ap.add_argument("--b-gateway", default=None, help="build B's gateway when not --gateway (bench: logs on, bench-nolog: off)")
    ap.add_argument("--py", default=sys.executable)
    args = ap.parse_args()
    args.smoke = False
    return args


def start_upstreams(procs: Procs, py: str, harness: Path | None, anthropic: bool) -> tuple:
    """The fake upstream on core 1 (the harness's, else ours) and, with `anthropic`, ours
    speaking Anthropic's Messages API (the `compat` surface translates to it): (upstream,
    its port, the Anthropic one or None, its port or None)."""
    up_port = free_port()
    upstream_py = harness / "fake_upstream.py" if harness else HERE / "fast_upstream.py"
    up = procs.start("upstream", [py, str(upstream_py), "--port", str(up_port), "--chunks", str(CHUNKS), "--paced-delay-ms", "1"], "1")
    wait_ready(f"http://127.0.0.1:{up_port}/health", 20, up)
    if not anthropic:
        return up, up_port, None, None
    an_port = free_port()
    an = procs.start("upstream-anthropic", [py, str(HERE / "fast_upstream.py"), "--port", str(an_port), "--chunks", str(CHUNKS),
                                             "--paced-delay-ms", "1"], "1")
    wait_ready(f"http://127.0.0.1:{an_port}/health", 20, an)
    return up, up_port, an, an_port


def surface_targets(name: str, port: int, gateway: str, gw_pid: int, up_pid: int, an_pid: int | None, harness: Path | None) -> dict:
    """Build `name`'s load targets by surface: ws = Universal WebSocket, http = the OpenAI
    provider route, compat = /compat translated to Anthropic, compatpass = /compat passed
    through to OpenAI (item 2's third surface), httpauth = the provider route on gateway
    `bench-auth`, each request with its token (`cf-aig-authorization`)."""
    base = f"127.0.0.1:{port}/v1/ab/{gateway}"
    loadgen = harness / "loadgen.py" if harness else None

    def http(surface: str, path: str, default: str, paced: str, upstream: int) -> dict:
        return {"name": f"{name}-{surface}", "kind": "loadgen", "loadgen": loadgen, "url": f"http://{base}/{path}", "api_key": "sk-bench-dummy",
                "models": {"default": default, "paced": paced}, "pid": gw_pid, "up_pid": upstream}

    return {
        "ws": {"name": f"{name}-ws", "kind": "ws", "url": f"ws://{base}", "pid": gw_pid, "up_pid": up_pid},
        "http": http("http", "openai/chat/completions", "gpt-4o-mini", "paced-gpt-4o-mini", up_pid),
        "compat": http("compat", "compat/chat/completions", "anthropic/claude-bench", "anthropic/paced-claude-bench", an_pid or up_pid),
        "compatpass": http("compatpass", "compat/chat/completions", "openai/gpt-4o-mini", "openai/paced-gpt-4o-mini", up_pid),
        "httpauth": {**http("httpauth", "openai/chat/completions", "gpt-4o-mini", "paced-gpt-4o-mini", up_pid),
                     "url": f"http://127.0.0.1:{port}/v1/ab/bench-auth/openai/chat/completions",
                     "headers": [f"cf-aig-authorization: Bearer {BENCH_TOKEN}"]},
    }


def run_load(args, target: dict, scen: str) -> dict | None:
    """One load run of `scen` against `target` (on core 1): its normalized row, with
    `gw_system_share`, the kernel's share (sockets, wake-ups) of the target's CPU over the
    whole load run, warm-up included (so read it as a fraction); None when the load failed."""
    cmd = load_cmd(args, target, scen, args.py)
    user0, system0 = tree_cpu_times(target["pid"])
    r = subprocess.run(["taskset", "-c", "1", *cmd], capture_output=True, text=True, cwd=ROOT)
    user1, system1 = tree_cpu_times(target["pid"])
    if r.returncode != 0 or not r.stdout.strip():
        print(f"[fail] {target['name']} {scen}: {r.stderr[-500:]}", file=sys.stderr)
        return None
    row = normalize(target, scen, json.loads(r.stdout.strip().splitlines()[-1]))
    row["gw_system_share"] = (system1 - system0) / max(1e-9, (user1 - user0) + (system1 - system0))
    return row


def main() -> None:
    args = ab_arguments(__doc__.splitlines()[0])
    out = args.out.resolve()
    harness = find_harness()
    procs = Procs(out / "logs")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    runs: dict[tuple[str, str], list[float]] = {}
    shares: dict[tuple[str, str], list[float]] = {}  # the system (kernel) part of the gateway's CPU
    try:
        compat = any(spec.startswith("compat:") for spec in args.scenarios.split(","))
        up, up_port, an, an_port = start_upstreams(procs, args.py, harness, compat)
        targets = {}
        for name, cmd in (("A", args.a), ("B", args.b)):
            port = free_port()
            d = out / name
            d.mkdir(exist_ok=True)
            gw = procs.start(name, [cmd, "serve", "--config", str(aigw_config(d, port, up_port, an_port))], "0", cwd=d)
            wait_ready(f"http://127.0.0.1:{port}/health", 60, gw)
            targets[name] = surface_targets(name, port, args.gateway, gw.pid, up.pid, an.pid if an else None, harness)
        for name in ("A", "B"):  # warm both (imports, pools, caches) before measuring
            for surface, scen in (("ws", "ns_c32"), ("http", "ns_c32"), ("ws", "st_b8")):
                cmd = load_cmd(args, targets[name][surface], scen, args.py)
                subprocess.run(["taskset", "-c", "1", *cmd], capture_output=True, cwd=ROOT)
        with open(out / "results.jsonl", "a") as f:
            for rep in range(args.reps):
                for spec in args.scenarios.split(","):
                    surface, scen = spec.split(":")
                    for name in (("A", "B") if rep % 2 == 0 else ("B", "A")):
                        t = targets[name][surface]
                        row = run_load(args, t, scen)
                        if row is None:
                            continue
                        stream = SCENARIOS[scen][0]
                        v = row["gw_cpu_us_per_chunk_allin"] if stream else row["gw_cpu_us_per_req"]
                        runs.setdefault((spec, name), []).append(v)
                        shares.setdefault((spec, name), []).append(row["gw_system_share"])
                        f.write(json.dumps({"rep": rep, "spec": spec, "build": name, "value": v, **row}) + "\n")
                        print(f"[rep {rep}] {spec:12} {name}  {v:8.2f} µs/{'chunk' if stream else 'req'}  errors {row['errors']}  "
                              f"foreign {row['foreign_cores']:.2f}  system {row['gw_system_share']:.0%}", file=sys.stderr, flush=True)
    finally:
        procs.stop_all()
    lines = ["| scenario | A median | B median | B/A (median of paired ratios) | system share A / B |", "|---|---|---|---|---|"]
    for spec in args.scenarios.split(","):
        a, b = runs.get((spec, "A"), []), runs.get((spec, "B"), [])
        if a and b:
            ratios = [y / x for x, y in zip(a, b)]
            share_a, share_b = statistics.median(shares[(spec, "A")]), statistics.median(shares[(spec, "B")])
            lines.append(f"| {spec} | {statistics.median(a):.2f} | {statistics.median(b):.2f} | {statistics.median(ratios):.3f} "
                         f"[{min(ratios):.3f}–{max(ratios):.3f}] | {share_a:.0%} / {share_b:.0%} |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
