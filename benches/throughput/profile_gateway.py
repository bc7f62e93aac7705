"""Profile `aigw serve` under load with py-spy and print where its CPU goes.

Starts the fake upstream (core 1) and the gateway (core 0) as run_gateway.py does, drives one
scenario with ws_load.py (core 1), and records the gateway with `py-spy record --format raw
--native` for the window. Prints the top functions by own samples and by inclusive samples
(% of the gateway's samples, idle excluded) and writes OUT/profile-<scenario>-<gateway>.{txt,raw} (raw = collapsed stacks, for flamegraph.pl).

    python benches/throughput/profile_gateway.py --out benches/results/profile [--scenario ns_c64] [--seconds 8]
    python benches/throughput/profile_gateway.py --out DIR --surface http --gateway bench-nolog --scenario ns_c32
        (--surface http: the OpenAI provider route over HTTP/1.1 keep-alive, driven by the shared
        harness's loadgen.py as run_gateway.py's aigw-http targets are)
    python benches/throughput/profile_gateway.py --out DIR --opcodes [--tree OTHER/python] --surface ws --scenario ns_c32
        (--opcodes: instead of sampling, count the bytecodes the gateway runs per request, by
        function, with opcode_tracer/sitecustomize.py; exact and independent of the machine's
        noise, so two builds compare without an A/B. Runs `python -m aigw` from --tree.)
    python benches/throughput/profile_gateway.py --out DIR --strace --surface http --scenario ns_c32
        (--strace: count the gateway's system calls by kind with `strace -c -f` for the window:
        what a request asks of the kernel, e.g. two reads and two writes on the HTTP route.
        strace slows the gateway, so read the calls per request, not the times.)
    python benches/throughput/profile_gateway.py --out DIR --perf --surface ws --scenario ns_c32
        (--perf: sample the gateway with `perf record` instead, kernel included, and print its
        CPU by shared object (kernel, libpython, uvloop, _codec, libc, sqlite) and the top
        symbols: where the time goes below Python, which py-spy cannot see.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_gateway import BENCH_TOKEN, CHUNKS, HERE, Procs, ROOT, SCENARIOS, aigw_config, find_harness, free_port, wait_ready  # noqa: E402

IDLE = ("epoll_wait", "select", "poll", "_run_once (uvloop", "run_forever")


def frame_name(frame: str) -> str:
    """`function (file.py:line)` → `file.py:function` (line dropped so lines aggregate)."""
    if " (" in frame and frame.endswith(")"):
        func, loc = frame[:-1].split(" (", 1)
        path = loc.rsplit(":", 1)[0]
        short = "/".join(path.split("/")[-2:]) if "aigw" in path else path.split("/")[-1]
        return f"{short}:{func}"
    return frame


def summarize(raw: Path, top: int) -> str:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        frames = [frame_name(f) for f in stack.split(";")]
        leaf = frames[-1]
        if any(k in leaf for k in IDLE) or leaf.startswith("epoll"):
            idle += count
            continue
        total += count
        own[leaf] += count
        for f in set(frames):
            incl[f] += count
    by_file: Counter[str] = Counter()
    for f, c in own.items():
        by_file[f.rsplit(":", 1)[0]] += c
    lines = [f"samples: {total} (py-spy --nonblocking records only threads that are running; "
             "runners.py:Runner.run own = uvloop's C loop: epoll, socket reads, callbacks; "
             "Connection.send / WebSocket._flush own = the write() syscalls)", "", "own samples by file:"]
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in by_file.most_common(top)]
    lines += ["", "own (leaf) samples:"]
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top)]
    lines += ["", "inclusive samples:"]
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top * 2)]
    return "\n".join(lines) + "\n"


def opcode_table(path: Path, top: int, unit: str = "bytecodes") -> str:
    """The tracer's counts (`unit`: bytecodes, or frame starts and resumptions with --calls)
    per request, total first, then by function."""
    lines = path.read_text().splitlines()
    requests = int(lines[0].split()[1])
    if not requests:
        raise SystemExit(f"{path}: no request was traced")
    counts = [(int(n), name) for n, name in (line.split(" ", 1) for line in lines[1:])]
    total = sum(n for n, _ in counts)
    out = [f"requests traced: {requests}; {unit} per request: {total / requests:.0f}", "", "per request, by function:"]
    for n, name in counts[:top]:
        short = name.split("/aigw/", 1)[1] if "/aigw/" in name else name.rsplit("/", 1)[-1]
        out.append(f"  {n / requests:7.1f}  {short}")
    return "\n".join(out) + "\n"


def perf_table(data: Path, top: int) -> str:
    """The gateway's samples by shared object, then by symbol (`perf report --stdio`)."""
    def report(*sort: str) -> str:
        out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", ",".join(sort)],
                             check=True, capture_output=True, text=True).stdout
        return "\n".join(line for line in out.splitlines() if line.strip() and not line.startswith("#"))
    by_symbol = report("dso", "sym").splitlines()[:top]
    return "by shared object:\n" + report("dso") + f"\n\ntop {top} symbols:\n" + "\n".join(by_symbol) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scenario", default="ns_c64", choices=sorted(SCENARIOS))
    ap.add_argument("--gateway", default="bench", help="bench (logs on) or bench-nolog")
    ap.add_argument("--surface", default="ws", choices=("ws", "http", "compat", "compatpass"),
                    help="ws: the Universal WebSocket (ws_load.py); http: the OpenAI provider route; compat: /compat translated to Anthropic; "
                         "compatpass: /compat passed through to OpenAI (the last three by loadgen.py)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=int, default=250)
    ap.add_argument("--native", action="store_true", help="include native (Rust/C) frames")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--aigw", default=str(ROOT / ".venv/bin/aigw"))
    ap.add_argument("--py", default=sys.executable)
    ap.add_argument("--opcodes", action="store_true", help="count bytecodes per request instead of sampling")
    ap.add_argument("--calls", action="store_true", help="with --opcodes: count Python frame starts and resumptions (calls, "
                    "coroutines resumed) per function instead of bytecodes: each costs ~200-400 instructions")
    ap.add_argument("--strace", action="store_true", help="count the gateway's system calls (strace -c) instead of sampling")
    ap.add_argument("--perf", action="store_true", help="sample with perf (kernel and native code included) instead of py-spy")
    ap.add_argument("--tree", type=Path, default=ROOT / "python", help="with --opcodes: the python/ directory of the build to run")
    args = ap.parse_args()
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    harness = find_harness()
    procs = Procs(out / "logs")
    stream, paced, inflight = SCENARIOS[args.scenario]
    tag = f"{args.scenario}-{args.gateway}" + ("" if args.surface == "ws" else f"-{args.surface}")
    try:
        up_port, gw_port = free_port(), free_port()
        upstream_py = harness / "fake_upstream.py" if harness else HERE / "fast_upstream.py"
        up = procs.start("upstream", [args.py, str(upstream_py), "--port", str(up_port), "--chunks", str(CHUNKS), "--paced-delay-ms", "1"], "1")
        wait_ready(f"http://127.0.0.1:{up_port}/health", 20, up)
        an_port = None
        if args.surface == "compat":  # /compat translated to Anthropic: an upstream speaking Messages
            an_port = free_port()
            an = procs.start("upstream-anthropic", [args.py, str(HERE / "fast_upstream.py"), "--port", str(an_port), "--chunks", str(CHUNKS),
                                                     "--paced-delay-ms", "1"], "1")
            wait_ready(f"http://127.0.0.1:{an_port}/health", 20, an)
        config = str(aigw_config(out, gw_port, up_port, an_port))
        if args.opcodes:
            counts = out / f"opcodes-{tag}"
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE / "opcode_tracer"), str(args.tree.resolve())]),
                       AIGW_OPCODES_OUT=str(counts), AIGW_OPCODES_START="4.5", AIGW_OPCODES_SECONDS=str(args.seconds),
                       AIGW_OPCODES_CALLS="1" if args.calls else "0")
            gw = procs.start("aigw", [args.py, "-m", "aigw", "serve", "--config", config], "0", cwd=out, env=env)
        else:
            gw = procs.start("aigw", [args.aigw, "serve", "--config", config], "0", cwd=out)
        wait_ready(f"http://127.0.0.1:{gw_port}/health", 60, gw)
        if args.surface == "ws":
            load = ["taskset", "-c", "1", args.py, str(HERE / "ws_load.py"), "--url", f"ws://127.0.0.1:{gw_port}/v1/p/{args.gateway}",
                    "--inflight", str(inflight), "--seconds", str(args.seconds + 2), "--warmup", "2", f"--watch=gw={gw.pid}"]
            load += ["--stream"] * stream + ["--paced"] * paced
        else:
            if harness is None:
                raise SystemExit(f"--surface {args.surface} needs the shared harness's loadgen.py")
            if args.surface == "compat":
                url, model = f"http://127.0.0.1:{gw_port}/v1/p/{args.gateway}/compat/chat/completions", "anthropic/claude-bench"
                model = model.replace("/", "/paced-", 1) if paced else model
            elif args.surface == "compatpass":
                url, model = f"http://127.0.0.1:{gw_port}/v1/p/{args.gateway}/compat/chat/completions", "openai/gpt-4o-mini"
                model = model.replace("/", "/paced-", 1) if paced else model
            else:
                url, model = f"http://127.0.0.1:{gw_port}/v1/p/{args.gateway}/openai/chat/completions", "paced-gpt-4o-mini" if paced else "gpt-4o-mini"
            load = ["taskset", "-c", "1", args.py, str(harness / "loadgen.py"),
                    "--url", url, "--api-key", "sk-bench-dummy",
                    "--model", model, "-c", str(inflight), "-n", "10000000", "--warmup", str(10 * inflight),
                    "--max-seconds", str(args.seconds + 2.5), "--timeout", "30", "--json", f"--watch=gw={gw.pid}"]
            load += ["--stream"] * stream
            if args.gateway == "bench-auth":  # the gateway that requires a token
                load += ["-H", f"cf-aig-authorization: Bearer {BENCH_TOKEN}"]
        client = subprocess.Popen(load, stdout=subprocess.PIPE, text=True)
        if args.opcodes:  # the tracer's window opens 4.5 s after start-up, past the warm-up
            result = client.communicate()[0].strip()
            deadline = time.monotonic() + 30
            while not (files := [f for f in out.glob(f"opcodes-{tag}.[0-9]*") if f.read_text().splitlines()[:1] != ["requests 0"]]):
                if time.monotonic() > deadline:
                    raise SystemExit("the tracer wrote no counts (is opcode_tracer on the gateway's path?)")
                time.sleep(0.5)
            text = f"scenario {args.scenario}, gateway {args.gateway}, surface {args.surface}, tree {args.tree}\n\n" + opcode_table(files[0], args.top, "frame starts and resumptions" if args.calls else "bytecodes")
            (out / f"opcodes-{tag}.txt").write_text(text)
            print(text)
            return
        time.sleep(2.5)
        if args.strace:
            counts = out / f"strace-{tag}.txt"
            subprocess.run(["timeout", "-s", "INT", str(args.seconds), "strace", "-c", "-f", "-p", str(gw.pid), "-o", str(counts)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            result = client.communicate()[0].strip()
            text = f"scenario {args.scenario}, gateway {args.gateway}, load: {result}\n\n" + counts.read_text()
            counts.write_text(text)
            print(text)
            return
        if args.perf:
            data = out / f"perf-{tag}.data"
            subprocess.run(["perf", "record", "-F", "1999", *(["--call-graph", "dwarf,16384"] if os.environ.get("PERF_CALLGRAPH") else []), "-p", str(gw.pid), "-o", str(data), "--", "sleep", str(args.seconds)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            result = client.communicate()[0].strip()
            text = f"scenario {args.scenario}, gateway {args.gateway}, load: {result}\n\n" + perf_table(data, args.top)
            (out / f"perf-{tag}.txt").write_text(text)
            print(text)
            return
        raw = out / f"profile-{tag}.raw"
        spy = [str(Path(args.py).parent / "py-spy"), "record", "--pid", str(gw.pid), "--rate", str(args.rate), "--duration", str(int(args.seconds)),
               "--format", "raw", "-o", str(raw)] + ([] if args.native else ["--nonblocking"]) + (["--native"] if args.native else [])
        subprocess.run(spy, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = client.communicate()[0].strip()
    finally:
        procs.stop_all()
    text = f"scenario {args.scenario}, gateway {args.gateway}, load: {result}\n\n" + summarize(raw, args.top)
    (out / f"profile-{tag}.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
