"""The Universal WebSocket session's `on_message` is a builtin (`_codec.UsualStart.
message_function`): a usual `universal.create` is read and started natively, and every other
message, or a usual create whose native start declines or fails, goes to the session's
Python (`handle_message`, `_start_read`), which answers it as it always did."""

from __future__ import annotations

import orjson
from universal_ws_helpers import answer, connect, create, sessions, step

from aigw import _codec
from aigw.api.universal_ws import UniversalSession
from aigw.pipeline import GatewayPolicy, Runtime


class RecordingSocket:
    """What UniversalSession needs of a server connection, recording what it sends."""

    closed = False

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.closes: list[tuple[int, str]] = []

    def send_text(self, payload: bytes) -> None:
        self.sent.append(orjson.loads(payload))

    def close(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))

    def work_started(self) -> None:
        pass

    def work_finished(self) -> None:
        pass


def a_session() -> UniversalSession:
    return UniversalSession(Runtime(providers={}, keys=None, client=None), GatewayPolicy("default"))


async def test_the_server_calls_the_sessions_native_on_message(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", event_id="e")))
        (msg,) = await answer(ws)
        (conn,) = [c for c in gw.gateway.server.connections if hasattr(c, "handler")]
        assert type(conn._on_message).__name__ == "builtin_function_or_method"
        assert sessions(gw)[0].on_message.__name__ == "on_message"
    assert msg["type"] == "universal.created" and msg["metadata"]["status"] == 200


async def test_a_binary_message_closes_the_connection_with_1003():
    ws = RecordingSocket()
    a_session().on_message(ws, _codec.BINARY, b"{}")
    assert ws.closes and ws.closes[0][0] == 1003


async def test_a_message_fast_create_refuses_is_answered_by_the_python_reader():
    ws = RecordingSocket()
    a_session().on_message(ws, _codec.TEXT, b'{"type": "universal.create", "request": 3}')
    (msg,) = ws.sent
    assert msg["type"] == "universal.error"


async def test_a_usual_create_the_native_start_declines_is_started_by_start():
    ws = RecordingSocket()
    session = a_session()
    session.accepting = False  # the native start declines; _start answers the revoked token
    session.on_message(ws, _codec.TEXT, create(step("openai", event_id="r")).encode())
    (msg,) = ws.sent
    assert msg["type"] == "universal.created" and msg["metadata"]["status"] == 401


async def test_a_native_start_that_fails_is_answered_as_a_bug_for_its_event_id():
    ws = RecordingSocket()
    a_session()._start_read(ws, "b", [], RuntimeError("a bug"))
    (msg,) = ws.sent
    assert msg["type"] == "universal.created" and msg["metadata"] == {"eventId": "b", "status": 500, "contentType": "application/json"}
