"""The README's "Embed it" example runs as written (issue 7 item 14): it starts a gateway in a
fresh process, authenticates with the token it created, gets an answer, and leaves a private
data directory behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def embed_example() -> str:
    text = README.read_text()
    block = text.split("<!-- embed-example -->\n", 1)[1].split("<!-- /embed-example -->", 1)[0]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


def run_example(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    (cwd / "embed_example.py").write_text(embed_example())
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AIGW_")}
    environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "embed_example.py"], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_example_runs_as_written_on_the_defaults(tmp_path):
    done = run_example(tmp_path)
    assert done.returncode == 0, done.stderr
    status, _, response = done.stdout.partition(" ")
    # No OpenAI key anywhere: the gateway answers 2011 itself (not 401: the token worked).
    assert status == "400" and "2011" in response


def test_the_example_reaches_a_configured_provider(tmp_path, aigw_simulators):
    sim = aigw_simulators["openai"]
    config = tmp_path / "aigw.toml"
    config.write_text(f'[providers.openai]\nbase_url = "{sim.base_url()}"\nkey = "{sim.key}"\n')
    done = run_example(tmp_path, AIGW_CONFIG=str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("200 ")


def test_the_example_leaves_a_private_data_directory(tmp_path):
    assert run_example(tmp_path).returncode == 0
    data = tmp_path / ".aigw"
    assert mode(data) == 0o700
    files = [p for p in data.iterdir() if p.is_file()]
    assert {"aigw.db", "logs.db"} <= {p.name for p in files}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
