#!/usr/bin/env bash
# Gateway benchmark: aigw's Universal WebSocket API vs LiteLLM's proxy vs direct, one command.
#
#   benches/throughput/run_gateway.sh [OUTDIR]     # default benches/results/gateway-<UTC date-time>
#
# Setup (once, idempotent): <repo>/.venv with aigw (release build of _codec) + picows/psutil
# (the `test` extra), and <repo>/.bench-venvs/litellm with `litellm[proxy]` (big: ~2-5 min).
# Then run_gateway.py starts the shared harness's fake upstream (core 1), `aigw serve` with a
# generated config (core 0), LiteLLM (uvicorn, 1 worker, master key; core 0), runs every
# scenario × target × rep interleaved (load client on core 1) and writes OUTDIR/results.jsonl,
# OUTDIR/summary.md, OUTDIR/versions.txt (logs in OUTDIR/logs/, not committed).
#
# Knobs: REPS (3), SECONDS_PER_RUN (5), WARMUP (1), SCENARIOS (ns_c1,ns_c32,ns_c64,st_c8,st_b8),
#        TARGETS (direct,aigw,aigw-conns,aigw-nolog,aigw-http,aigw-http-nolog,litellm,direct-loadgen),
#        SKIP_LITELLM=1, SMOKE=1 (REPS=1, 2 s windows, short warm-up, results labelled as a smoke
#        run), GW_CPUS (0), AUX_CPUS (1), LITELLM_VERSION (1.106.2: installed and recorded),
#        MAX_FOREIGN (0.10 cores: a row whose window saw more CPU used by other processes is
#        kept in results.jsonl marked excluded and re-run, up to 3 tries), WARM_CAP (60 s per target).
# Check the machine is quiet first (`uptime` load < 0.5, `top -bn1`): the summary says how many
# rows were excluded for foreign load.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/benches/results/gateway-$(date -u +%Y%m%d-%H%M%S)}
VENV=$ROOT/.venv
LITELLM_VENV=${LITELLM_VENV:-$ROOT/.bench-venvs/litellm}
REPS=${REPS:-3} SECONDS_PER_RUN=${SECONDS_PER_RUN:-5} WARMUP=${WARMUP:-1}
SCENARIOS=${SCENARIOS:-ns_c1,ns_c32,ns_c64,st_c8,st_b8}
TARGETS=${TARGETS:-direct,aigw,aigw-conns,aigw-nolog,aigw-http,aigw-http-nolog,litellm,direct-loadgen}
LITELLM_VERSION=${LITELLM_VERSION:-1.106.2}
SMOKE_ARGS=(--warm-cap "${WARM_CAP:-60}")
if [ "${SMOKE:-0}" = 1 ]; then REPS=1 SECONDS_PER_RUN=2 WARMUP=0.5 SMOKE_ARGS=(--smoke --warm-window 1 --warm-cap "${WARM_CAP:-6}"); fi

if [ ! -x "$VENV/bin/aigw" ]; then
  python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q -e "$ROOT[test]"   # maturin's PEP 517 build is a release build
fi
"$VENV/bin/python" -c 'import picows, psutil, orjson, uvloop' 2>/dev/null || "$VENV/bin/pip" install -q picows psutil orjson uvloop
ll_installed() { "$LITELLM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null; }
if [ "${SKIP_LITELLM:-0}" != 1 ] && { [ ! -x "$LITELLM_VENV/bin/litellm" ] || [ "$(ll_installed)" != "$LITELLM_VERSION" ]; }; then
  echo "installing litellm[proxy]==$LITELLM_VERSION into $LITELLM_VENV (a few minutes)" >&2
  [ -x "$LITELLM_VENV/bin/python" ] || python3 -m venv "$LITELLM_VENV"
  "$LITELLM_VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"   # pinned: its cost changes between releases
fi
[ "${SKIP_LITELLM:-0}" = 1 ] && TARGETS=$(echo "$TARGETS" | tr , '\n' | grep -v '^litellm$' | paste -sd, -)

uptime >&2
exec "$VENV/bin/python" "$ROOT/benches/throughput/run_gateway.py" --out "$OUT" --reps "$REPS" --seconds "$SECONDS_PER_RUN" \
  --warmup "$WARMUP" --scenarios "$SCENARIOS" --targets "$TARGETS" --litellm-venv "$LITELLM_VENV" \
  --gw-cpus "${GW_CPUS:-0}" --aux-cpus "${AUX_CPUS:-1}" --litellm-pin "$LITELLM_VERSION" \
  --max-foreign "${MAX_FOREIGN:-0.10}" "${SMOKE_ARGS[@]}"
