"""Gemini Live through aigw with the official `google-genai` SDK's live client
(`client.aio.live.connect`) against the Gemini Live simulator.

The SDK builds its WebSocket URL from `http_options.base_url` with the scheme forced to `wss`
(`BaseApiClient._websocket_base_url`) and the path
`/ws/google.ai.generativelanguage.{api_version}.GenerativeService.BidiGenerateContent`, so the
gateway here serves TLS (a trustme certificate) and the base URL is its google-ai-studio route:
the SDK's path is the realtime route's `{rest}`, relayed to the provider's own path."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from test_realtime_openai import wait_for

genai = pytest.importorskip("google.genai", reason="google-genai is not installed (the `test` extra)")
types = pytest.importorskip("google.genai.types")
trustme = pytest.importorskip("trustme")

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

MODEL = "gemini-live-2.5-flash-preview"


@pytest.fixture(scope="module")
def tls():
    """(server context, client context trusting it) for 127.0.0.1."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_the_sdks_live_client_runs_a_text_turn_through_the_gateway(realtime_gateway, gemini_sim, tls):
    server_ctx, client_ctx = tls
    async with realtime_gateway(google=gemini_sim, ssl=server_ctx) as gw:
        client = genai.Client(
            api_key=gemini_sim.key,
            http_options=types.HttpOptions(
                base_url=f"{gw.http_url}/google-ai-studio", api_version="v1beta", headers=gw.headers, async_client_args={"ssl": client_ctx}
            ),
        )
        config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
        async with asyncio.timeout(5):
            async with client.aio.live.connect(model=MODEL, config=config) as session:
                await session.send_client_content(turns=types.Content(role="user", parts=[types.Part(text="hello gemini")]), turn_complete=True)
                texts, usage = [], None
                async for message in session.receive():
                    texts.append(message.text or "")
                    usage = message.usage_metadata or usage
                    if message.server_content and message.server_content.turn_complete:
                        break
        await wait_for(lambda: gw.records)  # the session's row, once the relay has ended
    assert "".join(texts) == "turn 1: hello gemini"
    assert usage is not None and usage.response_token_count == 4
    upgrade = gemini_sim.connections[0]
    assert upgrade.path == "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    assert upgrade.headers["x-goog-api-key"] == gemini_sim.key
    assert "cf-aig-authorization" not in {name.lower() for name in upgrade.headers}
    (record,) = gw.records
    assert (record.provider, record.tokens_out) == ("google-ai-studio", 4)
