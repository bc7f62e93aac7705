"""The usual HTTP request is answered without an asyncio Task (`_codec.HttpDrive`,
rust/src/python/http_drive.rs): the connection's native reading starts a drive, which steps the
native door's answer from the loop's callbacks and leaves the connection idle, with no task
waiting for its next request. Whatever needs Python's coroutine (an error answer, an app's
awaitable) is handed to a Task running `_serve`. Answers, logs, cancellations and the
connection's bookkeeping are those of a connection whose task answers every request
(`aigw.server.http.DRIVE = False`)."""

from __future__ import annotations

import asyncio
import gc
import re

import orjson
from doors import Records, eventually, without_ids

from aigw import _codec
from aigw.server import http as server_http

#: The gateways here keep no record list (`record_requests=False`): the native door declines a
#: gateway whose doors keep one. Their records are watched by an observer (`Records`).
CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]})


def request_bytes(gw, key: str, body: bytes = CHAT) -> bytes:
    """A keep-alive chat completion request on `gw`'s OpenAI provider route, with the
    simulator's key."""
    auth = "".join(f"{k}: {v}\r\n" for k, v in {**gw.headers, "authorization": f"Bearer {key}"}.items())
    return (
        f"POST /v1/{gw.account_id}/{gw.gateway_name}/openai/chat/completions HTTP/1.1\r\nhost: gw\r\n"
        f"content-type: application/json\r\n{auth}content-length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """One response with a Content-Length, head and body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = int(re.search(rb"(?i)\r\ncontent-length: (\d+)", head).group(1))
    return head + await asyncio.wait_for(reader.readexactly(length), 10)


def same(answer: bytes) -> bytes:
    """`answer` without what differs per request: the gateway's ids, the clock, the
    simulator's sequence numbers."""
    return re.sub(rb"sim\d+", b"simN", without_ids(answer))


class Client:
    """One keep-alive client connection to `gw` and the server's side of it."""

    def __init__(self, request: bytes, reader, writer, conn) -> None:
        self.request, self.reader, self.writer, self.conn = request, reader, writer, conn

    @classmethod
    async def open(cls, gw, sims) -> Client:
        request = request_bytes(gw, sims["openai"].key)
        before = set(gw.gateway.server.connections)
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(request)  # the warm-up: the first request teaches the memos
        await read_response(reader)
        (conn,) = set(gw.gateway.server.connections) - before
        return cls(request, reader, writer, conn)

    async def ask(self) -> bytes:
        self.writer.write(self.request)
        return await read_response(self.reader)

    def close(self) -> None:
        self.writer.close()


async def test_a_usual_request_is_answered_without_an_asyncio_task(gateway, sims):
    async with gateway(record_requests=False) as gw:
        client = await Client.open(gw, sims)
        sims["openai"].latency = 0.2
        answer = asyncio.ensure_future(client.ask())
        await eventually(lambda: len(sims["openai"].requests) == 2)
        kind = type(client.conn._task)
        during = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__.startswith("HttpConnection.")]
        response = await answer
        client.close()
    assert kind is _codec.HttpDrive
    assert during == []
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_a_driven_request_answers_and_logs_as_one_the_connections_task_answers(gateway, sims, monkeypatch):
    records = Records()
    async with gateway(record_requests=False) as gw:
        gw.gateway.add_observer(records)
        driven_client = await Client.open(gw, sims)
        driven = await driven_client.ask()
        monkeypatch.setattr(server_http, "DRIVE", False)
        task_client = await Client.open(gw, sims)
        as_task = await task_client.ask()
        kinds = (type(driven_client.conn._task), type(task_client.conn._task))
        driven_client.close()
        task_client.close()
        await eventually(lambda: len(records.records) == 4)
    assert kinds == (_codec.HttpDrive, asyncio.Task)
    assert same(driven) == same(as_task)
    outcomes = [(r.status, r.success, r.cancelled, r.tokens_in, r.tokens_out, same(r.response_body)) for r in records.records]
    assert outcomes[1] == outcomes[3]


async def test_a_driven_request_leaves_the_connection_idle_with_no_task_waiting(gateway, sims):
    async with gateway(record_requests=False) as gw:
        client = await Client.open(gw, sims)
        await client.ask()
        conn = client.conn
        await eventually(lambda: conn._task.done())
        idle = (conn._busy, conn._writer, conn._next, conn._idle_at is not None, conn.idle)
        client.close()
    assert idle == (False, None, None, True, True)


async def test_a_client_gone_while_its_driven_request_waits_cancels_it_and_is_logged_so(gateway, sims):
    records = Records()
    async with gateway(record_requests=False) as gw:
        gw.gateway.add_observer(records)
        client = await Client.open(gw, sims)
        sims["openai"].latency = 2.0
        client.writer.write(client.request)
        await eventually(lambda: len(sims["openai"].requests) == 2)
        drive = client.conn._task
        client.close()
        await eventually(lambda: len(records.records) == 2, timeout=1.5)
    assert type(drive) is _codec.HttpDrive and drive.done()
    assert records.records[1].cancelled is True


async def test_a_drive_cancelled_before_its_first_step_ends_cancelled_unsent(gateway, sims):
    async with gateway(record_requests=False) as gw:
        client = await Client.open(gw, sims)
        conn = client.conn
        conn.get_buffer(-1)[: len(client.request)] = client.request
        conn.buffer_updated(len(client.request))  # as if read: the drive is scheduled
        drive = conn._task
        assert type(drive) is _codec.HttpDrive and "scheduled" in repr(drive)
        assert drive.cancel() is True
        await eventually(drive.done)
        client.close()
    assert drive.cancelled() and drive.cancel() is False
    assert len(sims["openai"].requests) == 1  # the warm-up's only: the request was never sent


async def test_an_error_answer_is_handed_over_to_a_task_and_the_next_request_is_driven_again(gateway, sims, monkeypatch):
    async with gateway(record_requests=False) as gw:
        client = await Client.open(gw, sims)
        sims["openai"].fail_next(500, 1)
        driven_error = same(await client.ask())
        handed = type(client.conn._task)
        await client.ask()
        again = type(client.conn._task)
        monkeypatch.setattr(server_http, "DRIVE", False)
        task_client = await Client.open(gw, sims)
        sims["openai"].fail_next(500, 1)
        task_error = same(await task_client.ask())
        client.close()
        task_client.close()
    assert (handed, again) == (asyncio.Task, _codec.HttpDrive)
    assert driven_error.startswith(b"HTTP/1.1 500 ") and driven_error == task_error


async def test_a_loop_with_a_task_factory_answers_with_the_connections_task(gateway, sims):
    loop = asyncio.get_running_loop()
    loop.set_task_factory(lambda loop, coro, **kw: asyncio.Task(coro, loop=loop, **kw))
    try:
        async with gateway(record_requests=False) as gw:
            client = await Client.open(gw, sims)
            response = await client.ask()
            kind = type(client.conn._task)
            client.close()
    finally:
        loop.set_task_factory(None)
    assert kind is asyncio.Task and response.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_driven_requests_leave_nothing_behind_even_without_the_cycle_collector(gateway, sims):
    async with gateway(record_requests=False) as gw:
        client = await Client.open(gw, sims)
        gc.collect()
        gc.disable()  # what is left then is freed by reference counts alone, or not at all
        try:
            for _ in range(30):
                await client.ask()
            await eventually(lambda: client.conn._task.done())
            drives = [o for o in gc.get_objects() if type(o) in (_codec.HttpDrive, _codec.UsualRequest)]
        finally:
            gc.enable()
        client.close()
    assert drives == [client.conn._task]  # the last request's, kept as the connection's `_task`


async def test_a_driven_request_asking_to_close_is_answered_then_the_connection_closes(gateway, sims):
    async with gateway(record_requests=False) as gw:
        client = await Client.open(gw, sims)
        client.writer.write(client.request.replace(b"host: gw\r\n", b"host: gw\r\nconnection: close\r\n"))
        response = await read_response(client.reader)
        rest = await asyncio.wait_for(client.reader.read(), 5)
        drive = client.conn._task
        client.close()
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nconnection: close\r\n" in response.lower()
    assert rest == b""  # the server closed the connection after the answer
    assert type(drive) is _codec.HttpDrive and drive.done()


async def test_pipelined_requests_on_a_driven_connection_are_answered_in_order(gateway, sims):
    async with gateway(record_requests=False) as gw:
        client = await Client.open(gw, sims)
        second = client.request.replace(b"hello", b"again")
        client.writer.write(client.request + second)
        first_answer = await read_response(client.reader)
        second_answer = await read_response(client.reader)
        third = await client.ask()  # the connection is idle again: driven
        kind = type(client.conn._task)
        client.close()
    seen = [orjson.loads(r.body)["messages"][0]["content"] for r in sims["openai"].requests[1:3]]
    assert seen == ["hello", "again"]
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") for a in (first_answer, second_answer, third))
    assert kind is _codec.HttpDrive


async def test_a_graceful_stop_waits_for_a_driven_request_and_closes_after_its_answer(gateway, sims):
    async with gateway(record_requests=False) as gw:
        client = await Client.open(gw, sims)
        sims["openai"].latency = 0.3
        client.writer.write(client.request)
        await eventually(lambda: len(sims["openai"].requests) == 2)
        stopping = asyncio.ensure_future(gw.stop(grace=5))
        response = await read_response(client.reader)
        rest = await asyncio.wait_for(client.reader.read(), 5)
        await asyncio.wait_for(stopping, 5)
        client.close()
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nconnection: close\r\n" in response.lower()
    assert rest == b""
