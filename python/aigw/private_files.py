"""The data directory and the files in it are the owner's alone: 0700 and 0600.

Logs hold prompts and answers; aigw.db holds token hashes. The library never touches the
process umask (it embeds in other applications), so it asks for the modes explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["create_private_file", "make_private_dir"]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private_dir(path: Path | str) -> Path:
    """Create `path` (and missing parents) with mode 0700 if it does not exist. An existing
    directory is left as it is: its owner chose its mode."""
    path = Path(path)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode is filtered by the umask; parents are not ours to tighten
    return path


def create_private_file(path: Path | str) -> Path:
    """Create an empty `path` with mode 0600 unless it exists (then it is left alone), so that a
    database opened on it afterwards (SQLite copies the mode to its -wal/-shm files) is private."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return path
    os.fchmod(fd, PRIVATE_FILE)
    os.close(fd)
    return path
