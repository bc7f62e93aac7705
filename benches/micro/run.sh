#!/usr/bin/env bash
# Codec micro benchmarks -> benches/results/micro-<UTC date-time>.{json,md} in one command.
#
#   benches/micro/run.sh [NAME]          # extra pytest args via PYTEST_ARGS, e.g.
#   PYTEST_ARGS="--benchmark-min-rounds=20" benches/micro/run.sh final
#
# AIGW_PY: the Python with aigw (release build) and the test extra (default <repo>/.venv).
# STAT: the statistic the table uses (min, median, mean; default median).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${AIGW_PY:-$ROOT/.venv/bin/python}
NAME=${1:-micro-$(date -u +%Y%m%d-%H%M%S)}
OUT=$ROOT/benches/results/$NAME
mkdir -p "$ROOT/benches/results"
cd "$ROOT"
# shellcheck disable=SC2086
"$PY" -m pytest benches/micro -q -p no:cacheprovider --benchmark-json="$OUT.json" ${PYTEST_ARGS:-}
# keep the statistics, drop the per-round samples (megabytes of them)
"$PY" - "$OUT.json" <<'PYEOF'
import json, sys
doc = json.load(open(sys.argv[1]))
for b in doc["benchmarks"]:
    b["stats"].pop("data", None)
json.dump(doc, open(sys.argv[1], "w"), indent=1)
PYEOF
"$PY" benches/micro/report.py --stat "${STAT:-median}" "$OUT.json" > "$OUT.md"
echo "wrote $OUT.md" >&2
