"""The micro benchmarks still run against today's code: each runs once, untimed
(`--benchmark-disable`), so an interface they use cannot change under them unnoticed (two had
drifted: a sink stand-in without `drained`, an insert without `body_encoding`)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_micro_benchmarks_run(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benches/micro", "-q", "-p", "no:cacheprovider", "--benchmark-disable",
         "-n", "0", f"--basetemp={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
