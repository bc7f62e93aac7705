"""The README's /compat example runs as written against the simulators: the OpenAI SDK talks to
three providers by changing only the model name."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def compat_example() -> str:
    block = README.read_text().split("<!-- compat-example -->\n", 1)[1].split("<!-- /compat-example -->", 1)[0]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


async def test_the_readme_compat_example_reaches_three_providers(aigw_gateway_factory, tmp_path):
    async with aigw_gateway_factory() as gw:
        code = compat_example()
        code = code.replace("http://127.0.0.1:8787/v1/my-account/default", gw.http_url).replace("<token>", gw.token)
        (tmp_path / "compat_example.py").write_text(code)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIGW_", "OPENAI_"))}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "compat_example.py", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert out.decode().splitlines() == [
            "openai/gpt-4o-mini -> Hi",
            "anthropic/claude-sonnet-4-5 -> Hi",
            "google-ai-studio/gemini-2.5-flash -> Hi",
        ]
