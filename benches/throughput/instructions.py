"""A/B the gateway's instructions per request: two builds under callgrind, exact where time is not.

On a shared virtual machine the CPU time per request of the same build moves by 5-50 % from
minute to minute (neighbours, frequency), which hides a change of a few percent however the
runs are paired. This counts what the gateway's process executes instead: each build runs
under `valgrind --tool=callgrind` (user-space instructions, the same on any minute; the
kernel's work is not counted, nor the SQLite writer process's), counters zeroed before a load
and dumped after it, divided by the requests the gateway counted meanwhile (its
`aigw_requests_total`). Under callgrind the gateway runs ~50x slower, so the load (the same
clients as ab_gateway.py) finds it saturated: more requests wait per loop tick than at full
speed, the same for both builds. Read the B/A ratio; the absolute figures are instructions,
not microseconds.

    python benches/throughput/instructions.py --a /tmp/aigw-old --b /tmp/aigw-new --out /tmp/ir \
        [--seconds 20] [--scenarios ws:ns_c32,http:ns_c32,compat:ns_c32,compatpass:ns_c32]

`--a`/`--b` run `aigw` (e.g. a wrapper setting PYTHONPATH to one tree and exec'ing Python).
The summary also splits each build's instructions by the object they run in (the interpreter,
aigw._codec, libc, uvloop): how much of a request is still Python's to run.

`--b-gateway bench-nolog` with one build as both counts what logging costs it, exactly:

    python benches/throughput/instructions.py --a $W --b $W --gateway bench --b-gateway bench-nolog ...
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_gateway import ab_arguments, start_upstreams, surface_targets  # noqa: E402
from run_gateway import Procs, ROOT, aigw_config, find_harness, free_port, load_cmd, wait_ready  # noqa: E402

_REQUESTS = re.compile(r'^aigw_requests_total\{[^}]*\} ([0-9.e+]+)$', re.M)


def requests_counted(port: int) -> int:
    """The gateway's finished requests so far, every label set summed (`/metrics` on the
    metrics listener at `port`)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as resp:
        text = resp.read().decode()
    return int(sum(float(v) for v in _REQUESTS.findall(text)))


def control(pid: int, flag: str, port: int) -> None:
    """`callgrind_control <flag> pid`, the gateway woken by a /health request so that it sees
    the command (callgrind takes commands when the process runs, not while it waits)."""
    ctl = subprocess.Popen(["callgrind_control", flag, str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while ctl.poll() is None and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30).read()
        except OSError:
            pass
        time.sleep(0.2)
    if ctl.wait(timeout=5) != 0:
        raise RuntimeError(f"callgrind_control {flag} {pid} failed")


def last_dump(directory: Path, pid: int) -> Path:
    """The newest callgrind dump of `pid` in `directory`."""
    return sorted(directory.glob(f"callgrind.out.{pid}.*"), key=lambda p: p.stat().st_mtime)[-1]


def dump_total(dump: Path) -> int:
    """The instruction total of a callgrind dump."""
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith("totals:") or line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


#: How the objects a request's instructions run in are named in the summary.
OBJECTS = (("libpython", "the interpreter"), ("_codec", "aigw._codec"), ("libc.", "libc"), ("uvloop", "uvloop"))


def share_by_object(dump: Path) -> dict[str, float]:
    """Each object's share of a callgrind dump's own (self) instructions, by `OBJECTS`'
    paths ("other" for the rest): where a request's work runs, the interpreter against the
    native code. Reads the format's name compression (`ob=(3) /path` or `cob=(3) /path` where
    a name first appears, `ob=(3)` after) and skips each call line's cost (a callee's
    inclusive cost, counted in its own function)."""
    names: dict[str, str] = {}
    costs: dict[str, int] = {}
    obj, after_call = "?", False
    for line in dump.read_text(errors="replace").splitlines():
        if not line:
            continue
        if line[0].isdigit() or line[0] in "+-*":
            parts = line.split()
            if after_call:
                after_call = False
            elif len(parts) > 1:
                costs[obj] = costs.get(obj, 0) + int(parts[1])
        elif line.startswith(("ob=", "cob=")):  # a name may be defined first as a callee's
            value = line.partition("=")[2]
            ref, _, path = value.partition(" ")
            if ref.startswith("("):
                if path:
                    names[ref] = path
                value = names.get(ref, "?")
            if line[0] == "o":
                obj = value
        elif line.startswith("calls="):
            after_call = True
    total = sum(costs.values()) or 1
    shares = {label: 0.0 for _, label in OBJECTS} | {"other": 0.0}
    for path, cost in costs.items():
        label = next((label for key, label in OBJECTS if key in path), "other")
        shares[label] += cost / total
    return shares


def main() -> None:
    args = ab_arguments(__doc__.splitlines()[0], reps=None, seconds=20.0, gateway="bench",
                        scenarios="ws:ns_c32,http:ns_c32,compat:ns_c32,compatpass:ns_c32",
                        b_gateway=True)
    out = args.out.resolve()
    harness = find_harness()
    procs = Procs(out / "logs")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        up, up_port, an, an_port = start_upstreams(procs, args.py, harness, anthropic=True)
        gateways = {}
        gateway_of = {"A": args.gateway, "B": args.b_gateway or args.gateway}
        for name, cmd in (("A", args.a), ("B", args.b)):
            port = free_port()
            d = out / name
            d.mkdir(exist_ok=True)
            valgrind = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--trace-children-skip-by-arg=*sqlite_log_process*",
                        f"--callgrind-out-file={d}/callgrind.out.%p", "--dump-line=no"]
            config, metrics_port = aigw_config(d, port, up_port, an_port), free_port()
            with open(config, "a") as f:  # the request count, read without a gateway token
                f.write(f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n')
            gw = procs.start(name, [*valgrind, cmd, "serve", "--config", str(config)], "0", cwd=d)
            wait_ready(f"http://127.0.0.1:{port}/health", 600, gw)
            gateways[name] = (gw, port, metrics_port, d, surface_targets(name, port, gateway_of[name], gw.pid, up.pid, an.pid, harness))
        for spec in args.scenarios.split(","):
            surface, scen = spec.split(":")
            for name in ("A", "B"):
                gw, port, metrics_port, d, targets = gateways[name]
                cmd = load_cmd(args, targets[surface], scen, args.py)
                subprocess.run(["taskset", "-c", "1", *cmd], capture_output=True, cwd=ROOT)  # warm: imports, pools, caches
                # The /metrics scrapes stay outside the counted window: rendering the page
                # costs ~15M instructions once each scenario's series exist (~3 % of a window),
                # and nothing else runs between them and the window (the /health wake-ups are
                # not counted in /metrics).
                before = requests_counted(metrics_port)
                control(gw.pid, "-z", port)
                r = subprocess.run(["taskset", "-c", "1", *cmd], capture_output=True, text=True, cwd=ROOT)
                control(gw.pid, "-d", port)
                dump = last_dump(d, gw.pid)
                total = dump_total(dump)
                n = requests_counted(metrics_port) - before
                row = {"spec": spec, "build": name, "instructions": total, "requests": n, "per_request": total / n if n else None,
                       "load_rc": r.returncode, "share_by_object": share_by_object(dump)}
                rows.append(row)
                print(f"{spec:18} {name}  {row['per_request'] or 0:12,.0f} instructions/request  ({n} requests)", file=sys.stderr, flush=True)
    finally:
        procs.stop_all()
    with open(out / "results.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    lines = ["| scenario | A instructions/request | B instructions/request | B/A |", "|---|---|---|---|"]
    for spec in args.scenarios.split(","):
        got = {r["build"]: r["per_request"] for r in rows if r["spec"] == spec and r["per_request"]}
        if "A" in got and "B" in got:
            lines.append(f"| {spec} | {got['A']:,.0f} | {got['B']:,.0f} | {got['B'] / got['A']:.3f} |")
    labels = [label for _, label in OBJECTS] + ["other"]
    lines += ["", "Where they run (share of each build's own instructions):", "",
              "| scenario | build | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for r in rows:
        lines.append(f"| {r['spec']} | {r['build']} | " + " | ".join(f"{r['share_by_object'][k]:.1%}" for k in labels) + " |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
