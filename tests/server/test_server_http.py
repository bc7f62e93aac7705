"""The HTTP/1.1 side over real sockets: handshake rejections, app rejections, subprotocols,
plain requests with keep-alive, streamed (chunked) responses, malformed heads."""

import asyncio

import aiohttp
import orjson
import pytest
import websockets
from server_helpers import RawClient, Recorder, TestApp, upgrade_request

from aigw.server import HttpResponse, ServerSettings, serve
from aigw.server import http as server_http


@pytest.fixture
async def server():
    async with await serve(TestApp()) as server:
        yield server


async def response_to(port: int, raw: bytes) -> tuple[int, bytes]:
    client = await RawClient.open(port)
    try:
        status, head = await client.request(raw)
        return status, head.lower()
    finally:
        client.close()


async def test_a_valid_upgrade_gets_101(server):
    client = await RawClient.upgrade(server.port)
    client.send("send_text", "hi")
    assert await client.next_event() == (1, b"hi")
    client.close()


async def test_wrong_version_is_426_naming_version_13(server):
    status, head = await response_to(server.port, upgrade_request(version="8"))
    assert status == 426
    assert b"sec-websocket-version: 13\r\n" in head and b"connection: close\r\n" in head


async def test_missing_key_is_400(server):
    raw = upgrade_request().replace(b"Sec-WebSocket-Key", b"X-Not-The-Key")
    status, _ = await response_to(server.port, raw)
    assert status == 400


async def test_an_upgrade_with_post_is_405(server):
    status, _ = await response_to(server.port, upgrade_request(method="POST"))
    assert status == 405


async def test_a_request_without_upgrade_takes_the_http_path(server):
    status, head = await response_to(server.port, b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200


async def test_a_malformed_head_gets_the_parsers_status_and_connection_close(server):
    status, head = await response_to(server.port, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n")
    assert status == 400 and b"connection: close\r\n" in head


async def test_the_app_can_reject_an_upgrade_with_a_json_response():
    async def reject(request):
        return HttpResponse.json({"errors": [{"code": 2009}]}, status=401)

    async with await serve(TestApp(websocket=reject)) as server:
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/a/b"):
                pass
        response = info.value.response
        assert response.status_code == 401
        assert orjson.loads(response.body) == {"errors": [{"code": 2009}]}


async def test_the_server_picks_its_preferred_subprotocol():
    settings = ServerSettings(subprotocols=("v2", "v1"))
    async with await serve(TestApp(), settings=settings) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/", subprotocols=["v1", "v2"]) as ws:
            assert ws.subprotocol == "v2"


async def test_no_common_subprotocol_means_none_is_chosen(server):
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/", subprotocols=["only"]) as ws:
        assert ws.subprotocol is None
        assert "Sec-WebSocket-Protocol" not in ws.response.headers


async def test_the_handler_may_choose_the_subprotocol():
    class Chooser(Recorder):
        subprotocol = "b"

    app = TestApp(make_handler=Chooser)
    async with await serve(app, settings=ServerSettings(subprotocols=("a",))) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/", subprotocols=["a", "b"]) as ws:
            assert ws.subprotocol == "b"
            await app.handlers[0].opened.wait()
            assert app.handlers[0].ws.subprotocol == "b"
            assert app.handlers[0].ws.request.subprotocols == ["a", "b"]


async def test_keep_alive_serves_several_requests_on_one_connection(server):
    async with aiohttp.ClientSession() as session:
        for path in ("/one", "/two", "/three"):
            async with session.get(f"http://127.0.0.1:{server.port}{path}") as response:
                assert await response.read() == b"plain " + path.encode()
        assert len(session.connector._conns) == 1  # one pooled connection was reused


async def test_a_streamed_body_is_sent_chunked():
    async def stream(request):
        async def events():
            for i in range(3):
                yield b"data: %d\n\n" % i

        return HttpResponse(200, events(), content_type="text/event-stream")

    async with await serve(TestApp(http=stream)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/sse") as response:
                assert response.headers["Transfer-Encoding"] == "chunked"
                assert await response.read() == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


async def test_a_streamed_body_to_an_http_1_0_client_ends_with_the_connection():
    async def stream(request):
        async def pieces():
            yield b"one "
            yield b"two"

        return HttpResponse(200, pieces())

    async with await serve(TestApp(http=stream)) as server:
        client = await RawClient.open(server.port)
        status, head = await client.request(b"GET / HTTP/1.0\r\n\r\n")
        assert status == 200
        assert b"transfer-encoding" not in head.lower() and b"connection: close" in head.lower()
        assert await client.reader.read() == b"one two"
        client.close()


async def test_a_streamed_body_with_connection_close_arrives_whole():
    async def stream(request):
        async def pieces():
            for i in range(5):
                yield b"%d" % i

        return HttpResponse(200, pieces())

    async with await serve(TestApp(http=stream)) as server:
        client = await RawClient.open(server.port)
        status, head = await client.request(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert status == 200
        assert await client.reader.read() == b"1\r\n0\r\n1\r\n1\r\n1\r\n2\r\n1\r\n3\r\n1\r\n4\r\n0\r\n\r\n"
        client.close()


async def test_a_request_body_is_given_to_the_app():
    async def echo_body(request):
        return HttpResponse(200, request.body[::-1])

    async with await serve(TestApp(http=echo_body)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{server.port}/", data=b"abc") as response:
                assert await response.read() == b"cba"


async def test_expect_100_continue_gets_an_interim_response():
    async def echo_body(request):
        return HttpResponse(200, request.body)

    async with await serve(TestApp(http=echo_body)) as server:
        client = await RawClient.open(server.port)
        status, _ = await client.request(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        assert status == 100
        status, _ = await client.request(b"body")
        assert status == 200
        assert await client.reader.readexactly(4) == b"body"
        client.close()


async def test_an_oversized_body_is_413():
    async with await serve(TestApp(), settings=ServerSettings(max_body_size=10)) as server:
        status, head = await response_to(server.port, b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n")
        assert status == 413


async def test_an_app_error_is_500_and_the_server_survives():
    async def broken(request):
        raise RuntimeError("boom")

    async with await serve(TestApp(http=broken)) as server:
        status, _ = await response_to(server.port, b"GET / HTTP/1.1\r\n\r\n")
        assert status == 500
        status, _ = await response_to(server.port, b"GET / HTTP/1.1\r\n\r\n")
        assert status == 500


@pytest.mark.parametrize(
    "bad",
    [dict(write_low_water=2, write_high_water=1), dict(write_hard_limit=1), dict(ping_interval=0), dict(max_body_size=0)],
)
def test_inconsistent_settings_are_refused(bad):
    with pytest.raises(ValueError):
        ServerSettings(**bad)


async def test_reuse_port_lets_two_servers_share_a_port():
    first = await serve(TestApp(), reuse_port=True)
    second = await serve(TestApp(), port=first.port, reuse_port=True)
    try:
        assert second.port == first.port
        status, _ = await response_to(first.port, b"GET / HTTP/1.1\r\n\r\n")
        assert status == 200
    finally:
        await first.close(grace=1)
        await second.close(grace=1)


async def test_a_client_disconnect_cancels_the_app_waiting_for_its_answer():
    running, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(request):
        running.set()
        try:
            await asyncio.sleep(30)  # an upstream that has not answered yet
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return HttpResponse(200)

    async with await serve(TestApp(http=slow)) as server:
        client = await RawClient.open(server.port)
        client.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(running.wait(), 5)
        client.close()
        await asyncio.wait_for(cancelled.wait(), 2)


async def test_pipelined_requests_in_one_write_are_all_answered_in_order(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answers = await asyncio.wait_for(reader.read(), 10)  # the server closes after the third
    writer.close()
    assert answers.count(b"HTTP/1.1 200 ") == 3
    assert answers.index(b"plain /one") < answers.index(b"plain /two") < answers.index(b"plain /three")


async def test_a_request_whose_rest_arrives_after_the_first_answer_is_answered(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HT")
    first = await asyncio.wait_for(reader.readuntil(b"plain /one"), 10)
    assert first.startswith(b"HTTP/1.1 200 ")
    writer.write(b"TP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    second = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert second.startswith(b"HTTP/1.1 200 ") and second.endswith(b"plain /two")


async def test_a_keep_alive_connection_without_drives_answers_its_requests_in_one_task_that_ends_when_the_client_goes(
    server, monkeypatch
):
    monkeypatch.setattr(server_http, "DRIVE", False)
    before = asyncio.all_tasks()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    seen = set()
    for path in (b"/a", b"/b", b"/c"):
        writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"plain " + path), 10)
        seen |= asyncio.all_tasks() - before
    assert len(seen) == 1  # the connection's task, waiting between requests
    (task,) = seen
    writer.close()
    await asyncio.wait_for(asyncio.wait({task}), 10)
    assert task.cancelled()


async def test_a_connection_with_drives_keeps_no_task_between_requests(server):
    before = asyncio.all_tasks()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    for path in (b"/a", b"/b", b"/c"):
        writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"plain " + path), 10)
        for _ in range(5):
            await asyncio.sleep(0)  # the Task an app's awaitable was handed to ends after its answer
        assert asyncio.all_tasks() - before == set()
    writer.close()
