"""`aigw serve` as a child process, as a deployment runs it: one per port (or per machine),
stopped with SIGTERM. Shared by the multi-process tests of tests/state."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from aigw.testing.gateway import ACCOUNT_ID, gateway_config, to_toml

__all__ = ["Served", "write_config"]

LISTENING = re.compile(r"listening on https?://127\.0\.0\.1:(\d+)/")


class Served:
    """One `aigw serve --config PATH --port PORT` process; its stderr is kept in `lines`."""

    def __init__(self, config_path: Path, port: int, extra: tuple[str, ...] | list[str] = ()) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIGW_")}
        self.port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aigw", "serve", "--config", str(config_path), "--port", str(port), "--host", "127.0.0.1", *extra],
            env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []

    def wait_listening(self, count: int = 1) -> None:
        """Read stderr until `count` "listening on" lines (one per worker) have appeared."""
        while sum(1 for line in self.lines if LISTENING.search(line)) < count:
            line = self.proc.stderr.readline()
            assert line, "aigw serve exited early:\n" + "".join(self.lines)
            self.lines.append(line)

    def url(self) -> str:
        """Its Universal WebSocket API URL for the `default` gateway."""
        return f"ws://127.0.0.1:{self.port}/v1/{ACCOUNT_ID}/default"

    def terminate(self) -> None:
        """SIGTERM (graceful stop) unless it has exited."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self) -> int:
        """Its exit code (waits up to 30 s), with the rest of its stderr read into `lines`."""
        code = self.proc.wait(30)
        self.lines += self.proc.stderr.readlines()
        return code


def write_config(sims: Any, directory: Path, **config: Any) -> Path:
    """`directory/aigw.toml` for a gateway on `sims` with its data dir `directory/data`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "aigw.toml"
    path.write_text(to_toml(gateway_config(sims, directory / "data", **config)))
    return path
