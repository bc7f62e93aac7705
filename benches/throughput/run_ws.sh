#!/usr/bin/env bash
# End-to-end WebSocket echo benchmarks: `aigw echo` beside the picows, websockets and aiohttp
# echo servers, driven by the shared baseline harness (../shared/harness/ws, see its README and
# shared/reference/ws-baselines.md for what each row measures and the noise rules).
#
#   benches/throughput/run_ws.sh [OUTDIR]      # default benches/results/ws-<UTC date-time>
#
# Writes OUTDIR/{echo,rss,connect}.jsonl (raw records; re-running with the same OUTDIR only
# tops up cells that lack REPS clean runs), OUTDIR/report.md (the harness's full tables) and
# OUTDIR/summary.md (one row per metric, aigw against each stack). Logs go to OUTDIR/logs.
#
# Environment knobs:
#   REPS          clean runs per cell (default 3; ws-baselines.md used 5)
#   RUN_SECONDS   measurement window per run (default 5; plus 1 s warm-up)
#   SUITES        subset of "echo rss connect" (default all three)
#   SCENARIOS     echo scenarios, subset of a,b,c,d (default a,b,c,d)
#   TARGETS       default picows,picows-uv,aiohttp,websockets,aigw
#   PIN           echo CPU placement: none (default), split (server CPU 0, client CPU 1), same
#   QUIET_WAIT    seconds bench.py waits for an idle machine before each run (default 120)
#   MAX_EXTRA     extra rounds to replace unclean runs (default 3)
#   MAX_OTHER     a run is clean if other processes used <= this % of a core (default 15)
#   SMOKE=1       pipeline check: REPS=1 RUN_SECONDS=1, 100 idle conns, no waiting for quiet,
#                 every run kept however busy the machine was (figures are NOT measurements)
#   HARNESS       the harness directory (default <repo>/../shared/harness/ws, else
#                 <repo>/../../shared/harness/ws for a worktree under wt/)
#   WSBENCH_VENV  venv with the harness's pinned requirements (default <repo>/.venv-wsbench;
#                 created on first use)
#   AIGW_PY       the Python that has aigw installed (default <repo>/.venv/bin/python); build
#                 the extension in release mode: `pip install .` or `maturin develop --release`
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${HARNESS:-}" ]; then  # shared/ beside the repo (or beside a worktrees directory)
  for h in "$ROOT/../shared/harness/ws" "$ROOT/../../shared/harness/ws"; do
    [ -f "$h/bench.py" ] && HARNESS=$h && break
  done
fi
[ -f "${HARNESS:-}/bench.py" ] || { echo "no harness: set HARNESS=.../shared/harness/ws" >&2; exit 2; }
HARNESS=$(cd "$HARNESS" && pwd)
VENV=${WSBENCH_VENV:-$ROOT/.venv-wsbench}
AIGW_PY=${AIGW_PY:-$ROOT/.venv/bin/python}
OUT=${1:-$ROOT/benches/results/ws-$(date -u +%Y%m%d-%H%M%S)}
REPS=${REPS:-3}
RUN_SECONDS=${RUN_SECONDS:-5}
SUITES=${SUITES:-echo rss connect}
SCENARIOS=${SCENARIOS:-a,b,c,d}
TARGETS=${TARGETS:-picows,picows-uv,aiohttp,websockets,aigw}
PIN=${PIN:-none}
QUIET_WAIT=${QUIET_WAIT:-120}
MAX_EXTRA=${MAX_EXTRA:-3}
MAX_OTHER=${MAX_OTHER:-15}
IDLE_CONNS=1000
if [ "${SMOKE:-0}" = 1 ]; then
  REPS=1 RUN_SECONDS=1 QUIET_WAIT=0 MAX_EXTRA=0 MAX_OTHER=10000 IDLE_CONNS=100
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV from $HARNESS/requirements.txt" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$HARNESS/requirements.txt"
fi
if ! "$AIGW_PY" -c "import aigw._codec" 2>/dev/null; then
  echo "aigw is not importable with $AIGW_PY; install it first (release build):" >&2
  echo "  python -m venv .venv && .venv/bin/pip install ." >&2
  exit 2
fi

PY=$VENV/bin/python
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ulimit -n "$(ulimit -Hn)"
# Compression off and uvloop, as for every baseline target.
AIGW_TARGET="aigw=$AIGW_PY -m aigw echo --loop uvloop --no-deflate --port {port} {tls}"
B=("$PY" "$HARNESS/bench.py" --reps "$REPS" --seconds "$RUN_SECONDS" --logdir "$OUT/logs"
   --certdir "$VENV/certs" --quiet-wait "$QUIET_WAIT" --max-extra "$MAX_EXTRA" --max-other "$MAX_OTHER"
   --target "$AIGW_TARGET")
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "aigw python: $("$AIGW_PY" -c 'import sys; print(sys.version.split()[0])')"
  echo "harness venv: $("$PY" -m pip freeze 2>/dev/null | tr '\n' ' ')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) x $(nproc)"
  echo "settings: REPS=$REPS RUN_SECONDS=$RUN_SECONDS PIN=$PIN SCENARIOS=$SCENARIOS TARGETS=$TARGETS"
} > "$OUT/env.txt"

for s in $SUITES; do
  case $s in
    echo) "${B[@]}" echo --scenarios "$SCENARIOS" --pin "$PIN" --targets "$TARGETS" \
            --out "$OUT/echo.jsonl" ;;
    rss) "${B[@]}" rss --idle-conns "$IDLE_CONNS" --targets "$TARGETS" --out "$OUT/rss.jsonl" ;;
    connect) "${B[@]}" connect --targets "$TARGETS" --out "$OUT/connect.jsonl" ;;
    *) echo "unknown suite $s (echo rss connect)" >&2; exit 2 ;;
  esac
done
shopt -s nullglob
files=("$OUT"/*.jsonl)
banner=""
[ "${SMOKE:-0}" = 1 ] && banner="**SMOKE RUN** (1 rep x 1 s, busy machine kept, 100 idle conns): checks the pipeline, not a measurement."$'\n\n'
{ printf '%s' "$banner"; "$PY" "$HARNESS/report.py" --max-other="$MAX_OTHER" "${files[@]}"; } > "$OUT/report.md"
{ printf '%s' "$banner"
  "$PY" "$ROOT/benches/throughput/summary.py" --max-other "$MAX_OTHER" "${files[@]}"; } > "$OUT/summary.md"
echo "wrote $OUT/report.md and $OUT/summary.md" >&2
