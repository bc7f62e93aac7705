"""FrontDoor: which gateway a request is for, and who is calling. The request path takes the
context without an await when no token is needed, or when the auth backend answers without one
(`enter_now`), and awaits `authenticate` only otherwise."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aigw.api.gateway_context import NEEDS_TOKEN, FrontDoor
from aigw.api.router import Route
from aigw.errors import GatewayNotFound, Unauthorized
from aigw.protocol.http11 import Headers, Request

PRIVATE = Route("POST", "/v1/{account}/{gateway}", handler=None, owner="test")
PUBLIC = Route("GET", "/health", handler=None, owner="test", public=True)


class OneToken:
    """An auth backend that knows one token."""

    async def authenticate(self, gateway: str, token: str):  # type: ignore[no-untyped-def]
        return SimpleNamespace(id="alice") if token == "good" else None


class OneTokenNow(OneToken):
    """`OneToken` that also answers without an await (`AuthenticatesNow`)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def authenticate_now(self, gateway: str, token: str):  # type: ignore[no-untyped-def]
        self.asked.append((gateway, token))
        return SimpleNamespace(id="alice") if token == "good" else None


def door(policies: dict[str, str] | None = None, auth: object = None) -> FrontDoor:
    gateways = {
        "open": SimpleNamespace(authentication=False, account_id=""),
        "locked": SimpleNamespace(authentication=True, account_id="acct"),
        "bound": SimpleNamespace(authentication=False, account_id="acct"),
    }
    if policies is None:
        policies = {"open": "open-policy", "locked": "locked-policy", "bound": "bound-policy"}
    return FrontDoor(gateways, policies, auth or OneToken())  # type: ignore[arg-type]


def request(token: str | None = None) -> Request:
    raw = [(b"cf-aig-authorization", f"Bearer {token}".encode())] if token else []
    return Request("POST", "/v1/acct/locked", "1.1", Headers(raw))


def test_a_gateway_without_authentication_is_entered_without_a_token():
    ctx = door().enter_without_token(PRIVATE, {"account": "x", "gateway": "open"})
    assert (ctx.name, ctx.policy, ctx.principal) == ("open", "open-policy", None)


def test_tokenless_requests_to_a_gateway_share_one_context_until_its_policy_is_replaced():
    policies = {"open": "open-policy", "locked": "locked-policy"}
    front = door(policies)
    first = front.enter_without_token(PRIVATE, {"account": "x", "gateway": "open"})
    assert front.enter_without_token(PRIVATE, {"account": "y", "gateway": "open"}) is first
    policies["open"] = "new-policy"
    assert front.enter_without_token(PRIVATE, {"account": "x", "gateway": "open"}).policy == "new-policy"


def test_a_gateway_entered_before_still_refuses_an_account_that_is_not_its_own():
    front = door()
    assert front.enter_without_token(PRIVATE, {"account": "acct", "gateway": "bound"}).name == "bound"
    with pytest.raises(GatewayNotFound):
        front.enter_without_token(PRIVATE, {"account": "other", "gateway": "bound"})
    assert front.enter_without_token(PRIVATE, {"gateway": "bound"}).name == "bound"


def test_a_gateway_entered_before_is_not_found_once_its_policy_is_gone():
    policies = {"open": "open-policy"}
    front = door(policies)
    front.enter_without_token(PRIVATE, {"account": "x", "gateway": "open"})
    del policies["open"]
    with pytest.raises(GatewayNotFound):
        front.enter_without_token(PRIVATE, {"account": "x", "gateway": "open"})


def test_a_gateway_with_authentication_needs_a_token():
    assert door().enter_without_token(PRIVATE, {"account": "acct", "gateway": "locked"}) is NEEDS_TOKEN


async def test_a_valid_token_names_the_principal():
    ctx = await door().authenticate(request("good"), {"account": "acct", "gateway": "locked"}, websocket=False)
    assert (ctx.name, ctx.policy, ctx.principal.id) == ("locked", "locked-policy", "alice")


@pytest.mark.parametrize("token", [None, "bad"])
async def test_a_missing_or_unknown_token_is_unauthorized(token):
    with pytest.raises(Unauthorized):
        await door().authenticate(request(token), {"account": "acct", "gateway": "locked"}, websocket=False)


@pytest.mark.parametrize("params", [{"account": "acct", "gateway": "nope"}, {"account": "other", "gateway": "locked"}])
def test_an_unknown_gateway_or_another_account_is_not_found(params):
    with pytest.raises(GatewayNotFound):
        door().enter_without_token(PRIVATE, params)


def test_a_public_route_without_a_gateway_has_no_context():
    assert door().enter_without_token(PUBLIC, {}) is None


def test_a_gateway_without_authentication_is_entered_now_as_without_a_token():
    front = door(auth=OneTokenNow())
    ctx = front.enter_now(request(), PRIVATE, {"account": "x", "gateway": "open"})
    assert ctx is front.enter_without_token(PRIVATE, {"account": "x", "gateway": "open"})


def test_a_token_the_backend_accepts_at_once_is_entered_now_with_its_principal():
    auth = OneTokenNow()
    ctx = door(auth=auth).enter_now(request("good"), PRIVATE, {"account": "acct", "gateway": "locked"})
    assert (ctx.name, ctx.policy, ctx.principal.id) == ("locked", "locked-policy", "alice")
    assert auth.asked == [("locked", "good")]


@pytest.mark.parametrize("token", [None, "bad"])
def test_a_missing_or_refused_token_is_not_entered_now_and_raises_nothing(token):
    assert door(auth=OneTokenNow()).enter_now(request(token), PRIVATE, {"account": "acct", "gateway": "locked"}) is None


@pytest.mark.parametrize("params", [{"account": "acct", "gateway": "nope"}, {"account": "other", "gateway": "locked"}])
def test_an_unknown_gateway_is_not_entered_now_and_raises_nothing(params):
    assert door(auth=OneTokenNow()).enter_now(request("good"), PRIVATE, params) is None


def test_a_backend_that_must_be_awaited_enters_nothing_now():
    assert door().enter_now(request("good"), PRIVATE, {"account": "acct", "gateway": "locked"}) is None


def test_a_gateway_that_needs_a_token_is_remembered_for_the_native_door_when_the_backend_answers_at_once():
    now = door(auth=OneTokenNow())
    assert now.enter_without_token(PRIVATE, {"account": "acct", "gateway": "locked"}) is NEEDS_TOKEN
    assert now._locked == {"locked": ("locked-policy", "acct")}  # read by rust/src/python/usual_door.rs
    awaited = door()
    awaited.enter_without_token(PRIVATE, {"account": "acct", "gateway": "locked"})
    assert awaited._locked == {}
