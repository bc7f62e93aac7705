"""An embedded Gateway keeps its data private, like `aigw serve`: the data directory it
creates is 0700 and the databases in it 0600 (logs hold prompts and answers; issue 7 item 14)."""

from __future__ import annotations

import stat
from pathlib import Path

from aigw import Gateway
from aigw.config import load_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_gateway_start_creates_a_private_data_directory_and_private_databases(tmp_path):
    data = tmp_path / "nested" / "data"
    (tmp_path / "aigw.toml").write_text(f'data_dir = "{data}"\n')
    gateway = Gateway(load_settings(tmp_path / "aigw.toml", environ={}))
    async with gateway:
        gateway.create_token("check")
        assert mode(data) == 0o700
    files = {p.name: mode(p) for p in data.iterdir() if p.is_file()}
    assert {"aigw.db", "logs.db"} <= set(files)
    assert files == {name: 0o600 for name in files}


async def test_an_existing_data_directory_keeps_the_mode_its_owner_chose(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o750)
    data.chmod(0o750)
    (tmp_path / "aigw.toml").write_text(f'data_dir = "{data}"\n')
    async with Gateway(load_settings(tmp_path / "aigw.toml", environ={})):
        pass
    assert mode(data) == 0o750
    assert mode(data / "logs.db") == 0o600
