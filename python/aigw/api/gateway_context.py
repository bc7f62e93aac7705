"""Gateway resolution and authentication, done once per request for every non-public route.

`FrontDoor` answers "which gateway, and who is calling", in two steps so that a request that
needs no token is not awaited: `enter_without_token(route, params)` gives the context, or
NEEDS_TOKEN, and only then `await authenticate(request, params, websocket=...)`:

* the gateway is the route's ``{gateway}`` parameter (checked against ``{account}`` when the
  gateway sets ``account_id``); a route without one, such as a plugin route outside
  ``/v1/{account}/{gateway}``, belongs to the ``default`` gateway, which always exists;
* when that gateway requires authentication, the token comes from ``cf-aig-authorization:
  Bearer <token>`` or, on WebSocket upgrades (browsers cannot set headers), from an offered
  subprotocol ``cf-aig-authorization.<token>``; the auth backend must accept it for that
  gateway. So a plugin route outside ``/v1/…`` needs a token that opens ``default``.

The result is a `GatewayContext` (gateway name, policy, principal) that the route's handler
receives, so no handler parses a token or looks up a gateway itself. Routes registered
``public`` skip all of this (``/health``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from aigw.errors import GatewayNotFound, Unauthorized
from aigw.interfaces import AuthenticatesNow

if TYPE_CHECKING:
    from aigw.api.router import Route
    from aigw.types import Principal
    from aigw.interfaces import AuthBackend
    from aigw.pipeline import GatewayPolicy
    from aigw.protocol.http11 import Request

__all__ = ["AUTH_SUBPROTOCOL", "DEFAULT_GATEWAY", "FrontDoor", "GatewayContext", "bearer_token", "token_of"]

#: Prefix of the subprotocol that carries a token (browsers): ``cf-aig-authorization.<token>``.
AUTH_SUBPROTOCOL = "cf-aig-authorization."
#: The gateway of routes whose pattern names none.
DEFAULT_GATEWAY = "default"


@dataclass(frozen=True, slots=True)
class GatewayContext:
    """Which gateway a request is for and who sent it (None: the gateway requires no token)."""

    name: str
    policy: GatewayPolicy
    principal: Principal | None


def bearer_token(value: str | None) -> str | None:
    """The token of an ``Authorization``-style ``Bearer <token>`` value, else None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def token_of(request: Request, *, websocket: bool) -> str | None:
    """The gateway token a request presents: the ``cf-aig-authorization`` header, else (upgrade
    requests only) the first ``cf-aig-authorization.<token>`` subprotocol offered."""
    token = bearer_token(request.headers.get("cf-aig-authorization"))
    if token is None and websocket:
        for offered in request.subprotocols:
            if offered.startswith(AUTH_SUBPROTOCOL):
                return offered[len(AUTH_SUBPROTOCOL):] or None
    return token


class _NeedsToken:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEEDS_TOKEN"


#: `FrontDoor.enter_without_token`'s answer for a gateway that requires a token.
NEEDS_TOKEN = _NeedsToken()


class FrontDoor:
    """Resolves the gateway and authenticates the caller (see the module docstring)."""

    # Slots: native code reads `_opened`, `_locked`, `_policies` and `_auth_now` in place
    # (rust/src/python/usual_door.rs).
    __slots__ = ("_gateways", "_policies", "_auth", "_auth_now", "_tokenless", "_opened", "_locked")

    def __init__(self, gateways: Mapping[str, Any], policies: Mapping[str, GatewayPolicy], auth: AuthBackend | None) -> None:
        self._gateways = gateways  # name -> GatewaySettings
        self._policies = policies
        self._auth = auth
        #: The backend's answer without an await (`AuthenticatesNow`), None when it has none.
        self._auth_now = auth.authenticate_now if isinstance(auth, AuthenticatesNow) else None
        #: The one context per gateway of requests that need no token (it is frozen): not a new
        #: object per request. Made again if the gateway's policy object is replaced.
        self._tokenless: dict[str, GatewayContext] = {}
        #: Gateways that need no token, as entered: (context, account_id). Only configured
        #: names get here (an unknown one raises), and a replaced policy is entered afresh.
        self._opened: dict[str, tuple[GatewayContext, str | None]] = {}
        #: Gateways that need a token, as entered, when the backend answers without an await:
        #: (policy, account_id), what the native door checks before it asks `_auth_now`.
        self._locked: dict[str, tuple[GatewayPolicy, str | None]] = {}

    def exists(self, params: Mapping[str, str]) -> bool:
        """Whether the ``{gateway}`` (and ``{account}``) of `params` name a configured gateway;
        True when `params` name none."""
        name = params.get("gateway")
        if name is None:
            return True
        gw = self._gateways.get(name)
        account = params.get("account")
        return gw is not None and name in self._policies and not (account is not None and gw.account_id and gw.account_id != account)

    def enter_without_token(self, route: Route, params: Mapping[str, str]) -> GatewayContext | None | _NeedsToken:
        """The context of a request to `route`, None for a public route without a
        ``{gateway}`` parameter, or NEEDS_TOKEN when the gateway requires authentication (then
        await `authenticate`). No await, so a request that needs no token takes none.

        Raises GatewayNotFound: no such gateway, or an ``{account}`` that is not the gateway's."""
        name = params.get("gateway")
        if name is not None and not route.public:
            # The usual request: a gateway that needs no token, entered before (`_enter`).
            opened = self._opened.get(name)
            if opened is not None and opened[0].policy is self._policies.get(name):
                account = params.get("account")
                if account is None or not opened[1] or opened[1] == account:
                    return opened[0]
        return self._enter(route, params, name)

    def _enter(self, route: Route, params: Mapping[str, str], name: str | None) -> GatewayContext | None | _NeedsToken:
        """`enter_without_token` in full; remembers the context of a gateway that needs no
        token, with its account id, in `_opened`."""
        if name is None:
            if route.public:
                return None
            name = DEFAULT_GATEWAY
            gw = self._gateways[name]
        else:  # exists(params), inline: every request to a gateway asks
            gw = self._gateways.get(name)
            account = params.get("account")
            if gw is None or name not in self._policies or (account is not None and gw.account_id and gw.account_id != account):
                raise GatewayNotFound(f"gateway {name!r} does not exist")
        if route.public or not gw.authentication:
            policy = self._policies[name]
            ctx = self._tokenless.get(name)
            if ctx is None or ctx.policy is not policy:
                ctx = self._tokenless[name] = GatewayContext(name, policy, None)
            if not gw.authentication:
                self._opened[name] = (ctx, gw.account_id)
            return ctx
        if self._auth_now is not None:
            self._locked[name] = (self._policies[name], gw.account_id)
        return NEEDS_TOKEN

    def enter_now(self, request: Request, route: Route, params: Mapping[str, str]) -> GatewayContext | None:
        """The context of an HTTP request to the non-public `route` when it is had without an
        await and lets the request in: a gateway that needs no token (`enter_without_token`),
        or one whose token the auth backend accepts at once (`authenticate_now`). None
        otherwise (no such gateway, no token or a refused one, a backend that must be awaited),
        raising nothing: the caller then takes the request the whole way (`enter_without_token`
        and `authenticate`), which gives the refusal its answer."""
        try:
            ctx = self.enter_without_token(route, params)
        except GatewayNotFound:
            return None
        if ctx is not NEEDS_TOKEN:
            return ctx  # type: ignore[return-value]
        if self._auth_now is None:
            return None
        token = token_of(request, websocket=False)
        if not token:
            return None
        name = params.get("gateway") or DEFAULT_GATEWAY
        principal = self._auth_now(name, token)
        return GatewayContext(name, self._policies[name], principal) if principal is not None else None

    async def authenticate(self, request: Request, params: Mapping[str, str], *, websocket: bool) -> GatewayContext:
        """The context of a request to a gateway that requires a token (`enter_without_token`
        said NEEDS_TOKEN). Raises Unauthorized."""
        name = params.get("gateway") or DEFAULT_GATEWAY
        token = token_of(request, websocket=websocket)
        principal = await self._auth.authenticate(name, token) if (self._auth is not None and token) else None
        if principal is None:
            raise Unauthorized("Unauthorized: send cf-aig-authorization: Bearer <token>")
        return GatewayContext(name, self._policies[name], principal)
