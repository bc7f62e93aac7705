"""Every door through one router over real sockets: 404 / 405 / 426 answers, and gateway
authentication applied once to every route, built-in or plugin, HTTP or WebSocket, unless the
route opts out (issue 7 items 9 and 14; issue 8 reshape steps 1 and 2)."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from aigw import HttpRequest, HttpResponse, hookimpl
from aigw.errors import PluginError
from aigw.server.app import WebSocketHandler
from aigw.testing.plugins import register_plugin

SEEN: list[HttpRequest] = []


async def whoami(request: HttpRequest) -> HttpResponse:
    SEEN.append(request)
    principal = request.principal
    body = {"gateway": request.gateway, "principal": principal.id if principal else None, "params": request.params}
    return HttpResponse(200, [("content-type", "application/json")], orjson.dumps(body))


class Echo(WebSocketHandler):
    def on_message(self, ws, opcode, payload):
        ws.send_text(payload)


async def plugin_websocket(request: HttpRequest):
    SEEN.append(request)
    return Echo()


class RoutesPlugin:
    """A plugin with routes of every kind."""

    @hookimpl
    def register_routes(self, register):
        register("GET", "/whoami", whoami)
        register("GET", "/open", whoami, public=True)
        register("GET", "/v1/{account}/{gateway}/whoami", whoami)
        register("WEBSOCKET", "/plugin-ws", plugin_websocket)


@pytest.fixture
def routed(gateway):
    """`async with routed(**config) as gw`: a gateway that also loads RoutesPlugin."""
    import contextlib

    SEEN.clear()

    @contextlib.asynccontextmanager
    async def start(**config):
        with register_plugin(RoutesPlugin(), name="routes-plugin"):
            async with gateway(**config) as gw:
                yield gw

    return start


def http_url(gw, path: str) -> str:
    return f"http://127.0.0.1:{gw.port}{path}"


async def fetch(gw, method: str, path: str, headers=None) -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, http_url(gw, path), headers=headers or {}) as resp:
            return resp.status, dict(resp.headers), await resp.json(content_type=None)


def code(body: dict) -> int:
    assert body["success"] is False and body["result"] is None
    return body["errors"][0]["code"]


# ---- 404 / 405 / 426 ---------------------------------------------------------------------------


async def test_a_post_to_an_unknown_path_is_404_not_426(gateway):
    async with gateway() as gw:
        status, _, body = await fetch(gw, "POST", "/v1/acct/no-such-gateway")
        assert (status, code(body)) == (404, 2001)
        status, _, body = await fetch(gw, "POST", "/nowhere")
        assert (status, code(body)) == (404, 2001)


async def test_a_plain_get_to_the_websocket_api_is_426_with_upgrade_websocket(gateway):
    async with gateway() as gw:
        status, headers, body = await fetch(gw, "GET", "/v1/acct/default")
    assert status == 426 and code(body) == 2010
    assert headers["Upgrade"] == "websocket"


async def test_another_method_on_the_websocket_api_path_is_405_with_allow(gateway):
    async with gateway() as gw:
        status, headers, body = await fetch(gw, "DELETE", "/v1/acct/default")
    assert (status, headers["Allow"], code(body)) == (405, "GET, POST", 2010)  # GET: the upgrade; POST: Universal HTTP


async def test_health_is_public(gateway):
    async with gateway() as gw:
        status, _, body = await fetch(gw, "GET", "/health")
    assert (status, body["status"]) == (200, "ok")  # the body also reports logs and plugins (observability.md)


# ---- plugin routes are authenticated by default --------------------------------------------------


async def test_a_plugin_route_without_a_token_is_refused_with_cloudflares_401(routed):
    async with routed() as gw:
        status, _, body = await fetch(gw, "GET", "/whoami")
    assert (status, code(body)) == (401, 2009)
    assert SEEN == []  # the handler never ran


async def test_a_plugin_route_gets_the_principal_of_the_default_gateway(routed):
    async with routed() as gw:
        status, _, body = await fetch(gw, "GET", "/whoami", gw.headers)
    assert status == 200
    assert body["gateway"] == "default" and body["principal"] is not None


async def test_a_plugin_route_outside_v1_needs_a_token_that_opens_the_default_gateway(routed):
    async with routed(gateways={"other": {}}) as gw:
        other_only = gw.gateway.create_token("other only", gateway="other")
        status, _, _ = await fetch(gw, "GET", "/whoami", {"cf-aig-authorization": f"Bearer {other_only}"})
        assert status == 401
        status, _, body = await fetch(gw, "GET", "/v1/acct/other/whoami", {"cf-aig-authorization": f"Bearer {other_only}"})
        assert (status, body["gateway"], body["params"]) == (200, "other", {"account": "acct", "gateway": "other"})


async def test_a_plugin_route_under_an_unknown_gateway_is_404(routed):
    async with routed() as gw:
        status, _, body = await fetch(gw, "GET", "/v1/acct/nope/whoami", gw.headers)
    assert (status, code(body)) == (404, 2001)


async def test_a_public_plugin_route_needs_no_token(routed):
    async with routed() as gw:
        status, _, body = await fetch(gw, "GET", "/open")
    assert (status, body["principal"], body["gateway"]) == (200, None, None)


async def test_a_plugin_route_needs_no_token_when_the_default_gateway_does_not_require_one(routed):
    async with routed(gateways={"default": {"authentication": False}}) as gw:
        status, _, body = await fetch(gw, "GET", "/whoami")
    assert (status, body["gateway"], body["principal"]) == (200, "default", None)


async def test_a_plugin_websocket_route_is_authenticated_by_header_or_subprotocol(routed):
    async with routed() as gw:
        url = f"ws://127.0.0.1:{gw.port}/plugin-ws"
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url):
                pass
        assert refused.value.response.status_code == 401
        async with websockets.connect(url, subprotocols=[f"cf-aig-authorization.{gw.token}"]) as ws:
            await ws.send("ping")
            assert await ws.recv() == "ping"
        async with websockets.connect(url, additional_headers=gw.headers) as ws:
            await ws.send("pong")
            assert await ws.recv() == "pong"
    assert all(r.principal is not None for r in SEEN) and len(SEEN) == 2


async def test_a_plugin_route_that_clashes_with_a_built_in_one_stops_start_up_naming_both(gateway):
    class Clash:
        @hookimpl
        def register_routes(self, register):
            register("GET", "/health", whoami, public=True)

    with register_plugin(Clash(), name="clash-plugin"):
        with pytest.raises(PluginError, match=r"GET /health is registered twice: by aigw \(built-in\).*and by plugin 'clash-plugin'"):
            async with gateway():
                pass


# ---- the browser form of the token (websocket-api.md "Browsers: offer a second subprotocol") ----


async def handshake_head(gw, offered: str) -> str:
    """The raw response head to an upgrade offering `offered` subprotocols (no client checks)."""
    import asyncio
    import base64
    import os

    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /v1/acct/default HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {offered}\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    return head.decode("latin-1").lower()


async def test_a_browser_offering_a_second_subprotocol_gets_it_selected_and_never_the_token(gateway):
    async with gateway() as gw:
        head = await handshake_head(gw, f"cf-aig-authorization.{gw.token}, aigw.universal.v1")
    assert head.startswith("http/1.1 101")
    assert "sec-websocket-protocol: aigw.universal.v1\r\n" in head
    assert gw.token.lower() not in head


async def test_the_auth_subprotocol_alone_is_accepted_without_selecting_it(gateway):
    async with gateway() as gw:
        head = await handshake_head(gw, f"cf-aig-authorization.{gw.token}")
    assert head.startswith("http/1.1 101")
    assert "sec-websocket-protocol" not in head and gw.token.lower() not in head
