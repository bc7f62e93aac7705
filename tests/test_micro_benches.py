"""The micro benchmarks still run against today's code: each runs once, untimed
(`--benchmark-disable`), so an interface they use cannot change under them unnoticed (two had
drifted: a sink stand-in without `drained`, an insert without `body_encoding`)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_micro_benchmarks_run(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benches/micro", "-q", "-p", "no:cacheprovider", "--benchmark-disable",
         "-n", "0", f"--basetemp={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


@pytest.mark.parametrize(
    "script",
    [
        ["create_instructions.py", "--messages", "3"],
        ["json_text_instructions.py", "--calls", "3"],
        ["json_text_instructions.py", "--calls", "3", "--answer"],
        ["log_id_cost.py", "--calls", "3"],
        ["upstream_exchange_instructions.py", "--exchanges", "3"],
    ],
)
def test_the_instruction_and_cost_scripts_run(script):
    # Run outside pytest-benchmark (callgrind or a plain interpreter runs them): each must still
    # find the documents it imports and take the path it counts.
    done = subprocess.run([sys.executable, str(ROOT / "benches" / "micro" / script[0]), *script[1:]],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
