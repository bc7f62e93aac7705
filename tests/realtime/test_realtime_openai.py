"""OpenAI Realtime through aigw: the official SDK and raw `websockets` clients, a real gateway,
the OpenAI Realtime simulator."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import openai
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

MODEL = "gpt-realtime"


def text_item(text: str) -> str:
    return json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})


async def run_text_turn(ws, text: str) -> tuple[str, dict]:
    """Send one user text and response.create; return the streamed text and response.done."""
    await ws.send(text_item(text))
    await ws.send(json.dumps({"type": "response.create"}))
    deltas = []
    while True:
        event = json.loads(await ws.recv())
        if event["type"] == "response.output_text.delta":
            deltas.append(event["delta"])
        elif event["type"] == "response.done":
            return "".join(deltas), event


async def wait_for(predicate, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_openai_sdk_realtime_client_runs_a_text_turn_through_the_gateway(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim, stored_keys=False) as gw:
        client = openai.AsyncOpenAI(
            api_key=openai_sim.key,
            websocket_base_url=f"ws://127.0.0.1:{gw.port}/v1/{gw.account_id}/default/openai",
            default_headers=gw.headers,
        )
        async with client.realtime.connect(model=MODEL) as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await conn.conversation.item.create(item={
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello through aigw"}]})
            await conn.response.create()
            deltas, usage = [], None
            async for event in conn:
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
                elif event.type == "response.done":
                    usage = event.response.usage
                    break
        assert "".join(deltas) == "hello through aigw"
        assert usage.output_tokens == 3
    upgrade = openai_sim.connections[0]
    assert upgrade.path == "/v1/realtime" and upgrade.query == {"model": MODEL}
    assert upgrade.headers["authorization"] == f"Bearer {openai_sim.key}"
    assert not any(name.startswith("cf-aig-") for name in upgrade.headers)


async def test_openai_sdk_realtime_client_runs_an_audio_turn_through_the_gateway(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        client = openai.AsyncOpenAI(
            api_key=openai_sim.key,
            websocket_base_url=f"ws://127.0.0.1:{gw.port}/v1/{gw.account_id}/default/openai",
            default_headers=gw.headers,
        )
        async with client.realtime.connect(model=MODEL) as conn:
            pcm = bytes(24000 * 2)  # one second of 24 kHz PCM16 silence
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
            await conn.input_audio_buffer.commit()
            await conn.response.create(response={"output_modalities": ["audio"]})
            audio, usage = b"", None
            async for event in conn:
                if event.type == "response.output_audio.delta":
                    audio += base64.b64decode(event.delta)
                elif event.type == "response.done":
                    usage = event.response.usage
                    break
    assert len(audio) == 3 * openai_sim.audio_bytes
    assert usage.input_token_details.audio_tokens == 15 and usage.output_token_details.audio_tokens == 3
    record = gw.records[-1]
    assert record.tokens_in == 15 and record.tokens_out == 1 + 3  # "audio" (1 word) + 3 audio tokens


async def test_binary_frames_pass_through_unchanged(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers) as ws:
            await ws.recv()  # session.created
            await ws.send(b"\x00\x01binary")
            error = json.loads(await ws.recv())
    assert error["type"] == "error" and error["error"]["code"] == "invalid_message"
    assert openai_sim.messages == [b"\x00\x01binary"]


async def test_browser_style_subprotocol_auth_succeeds_and_the_token_is_never_echoed(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        offered = ["realtime", f"cf-aig-authorization.{gw.token}"]
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", subprotocols=offered) as ws:
            assert ws.subprotocol == "realtime"
            assert json.loads(await ws.recv())["type"] == "session.created"
            text, _ = await run_text_turn(ws, "hi browser")
    assert text == "hi browser"
    assert openai_sim.connections[0].subprotocols == ["realtime"]


async def test_a_gateway_token_only_in_a_subprotocol_without_a_second_one_is_still_refused_when_wrong(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        with pytest.raises(InvalidStatus) as caught:
            async with websockets.connect(f"{gw.url}/openai?model={MODEL}", subprotocols=["realtime", "cf-aig-authorization.wrong"]):
                pass
    assert caught.value.response.status_code == 401
    assert openai_sim.connections == []


async def test_the_stored_key_is_used_when_the_client_sends_none(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim, stored_keys=True) as gw:
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers) as ws:
            await ws.recv()
            text, _ = await run_text_turn(ws, "stored key")
    assert text == "stored key"
    assert openai_sim.connections[0].headers["authorization"] == f"Bearer {openai_sim.key}"


async def test_a_key_in_the_browser_subprotocol_goes_upstream_as_a_header_and_is_never_echoed(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim, stored_keys=False) as gw:
        offered = ["realtime", f"openai-insecure-api-key.{openai_sim.key}", f"cf-aig-authorization.{gw.token}"]
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", subprotocols=offered) as ws:
            assert ws.subprotocol == "realtime"
            await ws.recv()
    upgrade = openai_sim.connections[0]
    assert upgrade.subprotocols == ["realtime"]
    assert upgrade.headers["authorization"] == f"Bearer {openai_sim.key}"


async def test_no_client_key_and_no_stored_key_is_a_400_before_any_upstream_io(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim, stored_keys=False) as gw:
        with pytest.raises(InvalidStatus) as caught:
            async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers):
                pass
    assert caught.value.response.status_code == 400
    assert json.loads(caught.value.response.body)["errors"][0]["code"] == 2011
    assert openai_sim.connections == []


async def test_an_upstream_401_at_the_handshake_answers_the_client_401_with_the_providers_body(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim, stored_keys=False) as gw:
        headers = {**gw.headers, "Authorization": "Bearer sk-wrong"}
        with pytest.raises(InvalidStatus) as caught:
            async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=headers):
                pass
    response = caught.value.response
    assert response.status_code == 401
    assert json.loads(response.body)["error"]["code"] == "invalid_api_key"
    assert gw.records[-1].status == 401 and not gw.records[-1].success


async def test_an_upstream_429_at_the_handshake_keeps_its_retry_after(realtime_gateway, openai_sim):
    openai_sim.reject_next(429)
    async with realtime_gateway(openai=openai_sim) as gw:
        with pytest.raises(InvalidStatus) as caught:
            async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers):
                pass
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["retry-after"] == "2"


async def test_an_upstream_close_1011_reaches_the_client_as_1011(realtime_gateway, openai_sim):
    openai_sim.close_next(1011, "server error", after=1)
    async with realtime_gateway(openai=openai_sim) as gw:
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers) as ws:
            await ws.recv()
            await ws.send(text_item("x"))
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()
            assert (ws.close_code, ws.close_reason) == (1011, "server error")
    record = gw.records[-1]
    assert record.session["upstream_close_code"] == 1011 and record.session["closed_by"] == "upstream"
    assert not record.success


async def test_the_clients_close_code_and_reason_reach_the_provider(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers) as ws:
            await ws.recv()
            await ws.close(4001, "user hung up")
        await wait_for(lambda: openai_sim.client_closes)
    assert openai_sim.client_closes == [(4001, "user hung up")]


async def test_a_client_that_disconnects_closes_the_upstream_within_100_ms(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        ws = await websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers)
        await ws.recv()
        assert len(openai_sim.open_connections) == 1
        started = time.monotonic()
        ws.transport.abort()  # no close frame: the TCP connection just drops
        await wait_for(lambda: not openai_sim.open_connections, timeout=1.0)
        assert time.monotonic() - started < 0.1


async def test_one_log_record_per_session_with_usage_frames_bytes_and_close_codes(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        metadata = json.dumps({"user": "u1"})
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers={**gw.headers, "cf-aig-metadata": metadata}) as ws:
            await ws.recv()
            await run_text_turn(ws, "one two three")
            await run_text_turn(ws, "four five")
        await wait_for(lambda: gw.records)
    [record] = gw.records
    assert (record.request_type, record.provider, record.model, record.status) == ("realtime", "openai", MODEL, 101)
    assert record.success and record.metadata == {"user": "u1"}
    # Two response.done events: outputs 3 + 2 words; inputs are the conversation so far (3, then 5).
    assert (record.tokens_in, record.tokens_out) == (3 + 5, 3 + 2)
    session = record.session
    assert session["frames_in"] == 4 and session["frames_out"] == 1 + 2 * 11  # session.created, then 11 events per turn
    assert session["bytes_in"] > 0 and session["bytes_out"] > session["bytes_in"]
    assert (session["client_close_code"], session["closed_by"]) == (1000, "client")


async def test_open_sessions_per_gateway_are_capped(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim, realtime={"max_sessions_per_gateway": 1}) as gw:
        url = f"{gw.url}/openai?model={MODEL}"
        async with websockets.connect(url, additional_headers=gw.headers) as first:
            await first.recv()
            with pytest.raises(InvalidStatus) as caught:
                async with websockets.connect(url, additional_headers=gw.headers):
                    pass
            assert caught.value.response.status_code == 429
        await wait_for(lambda: not openai_sim.open_connections)
        async with websockets.connect(url, additional_headers=gw.headers) as again:  # the place was given back
            await again.recv()


async def test_an_idle_session_is_closed_on_both_sides(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim, realtime={"idle_timeout": 0.2}) as gw:
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers) as ws:
            await ws.recv()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 2)
            assert (ws.close_code, ws.close_reason) == (1000, "idle timeout")
        await wait_for(lambda: openai_sim.client_closes)
    assert openai_sim.client_closes == [(1000, "idle timeout")]


async def test_a_session_still_relaying_messages_is_not_closed_as_idle(realtime_gateway, openai_sim):
    append = json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(640)).decode()})
    async with realtime_gateway(openai=openai_sim, realtime={"idle_timeout": 0.2}) as gw:
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers) as ws:
            await ws.recv()  # session.created
            for _ in range(16):  # 0.8 s of audio appends: four idle periods
                await ws.send(append)
                await asyncio.sleep(0.05)
            await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            assert json.loads(await ws.recv())["type"] == "input_audio_buffer.committed"
    assert openai_sim.client_closes[0][1] != "idle timeout"


async def test_an_unknown_provider_is_a_400(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        with pytest.raises(InvalidStatus) as caught:
            async with websockets.connect(f"{gw.url}/no-such-provider", additional_headers=gw.headers):
                pass
    assert caught.value.response.status_code == 400
    assert json.loads(caught.value.response.body)["errors"][0]["code"] == 2008


async def test_gpt_live_sessions_path_is_relayed(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        async with websockets.connect(f"{gw.url}/openai/v1/live/sessions", additional_headers=gw.headers) as ws:
            await ws.send(json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}}))
            assert json.loads(await ws.recv())["type"] == "session.started"
            await ws.send(json.dumps({"type": "session.close"}))
            assert json.loads(await ws.recv())["type"] == "session.closed"
    assert openai_sim.connections[0].path == "/v1/live/sessions"


async def test_a_client_that_stops_reading_stops_the_provider_being_read(realtime_gateway, openai_sim):
    # 1000 deltas of 1 s of 24 kHz PCM16 (64 KB of base64 each): about 64 MB of events.
    openai_sim.reply, openai_sim.chunks, openai_sim.audio_bytes = "x" * 1000, 1000, 48000
    total = 6 + 2 * 1000 + 6  # response.created .. content_part.added, deltas, the .done events
    async with realtime_gateway(openai=openai_sim) as gw:
        url = f"{gw.url}/openai?model={MODEL}"
        async with websockets.connect(url, additional_headers=gw.headers, max_queue=2) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "response.create", "response": {"output_modalities": ["audio"]}}))
            await asyncio.sleep(1.0)  # not reading: the gateway must stop reading the provider
            stalled = openai_sim.events_sent
            assert stalled < total // 2, "the provider kept being read while the client was not reading"
            received = 0
            while True:
                event = json.loads(await ws.recv())
                received += 1
                if event["type"] == "response.done":
                    break
    assert openai_sim.events_sent > stalled  # it went on once the client read again


async def test_an_upstream_that_drops_its_connection_gives_the_client_1011(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers) as ws:
            await ws.recv()
            openai_sim.open_connections[0].ws.transport.abort()  # no close frame
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 2)
            assert (ws.close_code, ws.close_reason) == (1011, "upstream connection lost")
    assert gw.records[-1].session["upstream_close_code"] == 1006


async def test_a_gateway_that_shuts_down_while_the_provider_answers_aborts_the_provider_connection(realtime_gateway, openai_sim):
    openai_sim.handshake_delay = 0.3
    async with realtime_gateway(openai=openai_sim) as gw:
        async def connect():
            return await websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers)

        client = asyncio.create_task(connect())
        await wait_for(lambda: openai_sim.connections)
        await gw.stop(grace=0.05)  # the client's connection goes before the provider's 101 arrives
        with pytest.raises(Exception):
            await client
        await wait_for(lambda: gw.records)
        # The server cancels the upgrade's handler, which aborts the half-open upstream socket
        # before the provider's 101 (so the simulator never sees a session open).
        await asyncio.sleep(0.5)
        assert not openai_sim.open_connections
    record = gw.records[-1]
    assert record.cancelled and "handshake" in (record.error or "")


async def test_a_provider_that_stops_reading_stops_the_client_being_read_until_it_reads_again(realtime_gateway, openai_sim):
    # 800 appends of 1 s of 24 kHz PCM16 (64 KB of base64 each): about 51 MB, far past what the
    # sockets on the way hold and past the upstream's 16 MB send-buffer bound.
    event = json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(48000)).decode()})
    count = 800
    async with realtime_gateway(openai=openai_sim) as gw:
        async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers=gw.headers) as ws:
            await ws.recv()  # session.created
            openai_sim.stop_reading()
            sent = 0

            async def send_all() -> None:
                nonlocal sent
                for _ in range(count):
                    await ws.send(event)
                    sent += 1

            sender = asyncio.create_task(send_all())
            await asyncio.sleep(1.0)
            stalled = sent
            await asyncio.sleep(0.3)
            assert not sender.done() and sent == stalled < count, "the gateway kept reading the client"
            assert ws.close_code is None  # paused, not aborted by the send-buffer bound
            openai_sim.resume_reading()
            await asyncio.wait_for(sender, 10)
            await wait_for(lambda: len(openai_sim.messages) == count, timeout=10)
            assert all(message == event for message in openai_sim.messages)
    record = gw.records[-1]
    assert record.success and record.session["frames_in"] == count
