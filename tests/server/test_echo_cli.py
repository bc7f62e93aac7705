"""`aigw echo` as the benchmark harness runs it: a real process, each loop, ws:// and wss://
(with the harness's --certfile/--keyfile spelling), stopping cleanly on SIGTERM."""

import asyncio
import re
import signal
import ssl
import sys

import pytest
import trustme
import websockets

from aigw.server.loops import LOOPS, loop_factory


async def start_echo(*args: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aigw", "echo", "--port", "0", *args, stderr=asyncio.subprocess.PIPE
    )
    line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    match = re.search(r":(\d+)/", line)
    assert match, line
    return proc, int(match.group(1))


async def stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 30)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_aigw_echo_serves_ws_and_exits_on_sigterm(loop):
    proc, port = await start_echo("--loop", loop)
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            await ws.send("ping me")
            assert await ws.recv() == "ping me"
    finally:
        assert await stop(proc) == 0


async def test_aigw_echo_serves_wss_with_certfile_and_keyfile(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(certfile)
    cert.private_key_pem.write_to_path(keyfile)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    proc, port = await start_echo("--certfile", str(certfile), "--keyfile", str(keyfile))
    try:
        async with websockets.connect(f"wss://127.0.0.1:{port}/", ssl=client) as ws:
            await ws.send(b"\x00secure")
            assert await ws.recv() == b"\x00secure"
    finally:
        assert await stop(proc) == 0


def test_the_loop_registry_names_its_choices():
    assert set(LOOPS) == {"auto", "uvloop", "asyncio"}
    with pytest.raises(ValueError, match="auto, uvloop, asyncio"):
        loop_factory("trio")
