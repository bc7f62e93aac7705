"""The usual request's plan is made natively (`pipeline._usual_plan`,
rust/src/python/usual_plan.rs) exactly as `plan_steps` makes it; any other request gets None
and is planned (or refused) by `plan_steps`."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from aigw import pipeline
from aigw.key_store import SettingsKeyStore
from aigw.pipeline import GatewayPolicy, GatewayRequest, plan_steps
from aigw.validation import CheckedHeaders

from pipeline_fakes import FakeClient, Reply, anthropic_step, openai_step, runtime


def door_step(headers: dict[str, str]):
    """An OpenAI step with a door's checked headers (as a provider route hands them in)."""
    step = openai_step()
    step.headers = CheckedHeaders(headers)
    return step


def request(*steps, headers=None) -> GatewayRequest:
    return GatewayRequest("default", "websocket", "e1", list(steps), headers or {})


def planned(rt, gw, req):
    """(native plans, plan_steps' plans); the memos warmed by plan_steps first."""
    python = plan_steps(rt, gw, req, req.headers)
    return pipeline._usual_plan(rt, gw, req, req.headers), python


RT = runtime(FakeClient(openai=[Reply()], anthropic=[Reply()]))
GW = GatewayPolicy("default")


@pytest.mark.parametrize(
    "steps",
    [
        [openai_step()],
        [openai_step(), openai_step(model="gpt-4o")],
        [door_step({"authorization": "Bearer sk-client", "x-team": "a"})],
        [door_step({"x-team": "a"})],
    ],
    ids=["one step, stored key", "a fallback", "the client's key, a door's headers", "a door's headers, stored key"],
)
def test_the_usual_plan_is_plan_steps_plan(steps):
    native, python = planned(RT, GW, request(*steps))
    assert native is not None
    assert native == python
    assert [p.call.headers.__class__ for p in native] == [dict] * len(steps)  # a copy, as plan_steps makes


def test_the_step_headers_are_a_copy_not_the_doors_own():
    step = door_step({"x-team": "a"})
    own = step.headers
    plan_steps(RT, GW, request(step), {})  # the memos warmed
    (plan,) = pipeline._usual_plan(RT, GW, request(step), {})
    plan.call.headers["x-added"] = "1"
    assert "x-added" not in own


@pytest.mark.parametrize(
    "req",
    [
        request(openai_step(headers={"x-team": "a"})),  # a client's headers, to be checked
        request(door_step({"cf-aig-cache-ttl": "60"})),  # an option
        request(anthropic_step()),  # a provider with its own has_client_auth
        request(openai_step(config={"maxAttempts": 2})),
        request(openai_step(), headers={"cf-aig-metadata": "{}"}),  # request-level headers
        request(openai_step(), openai_step(), openai_step()),  # over max_steps below
    ],
    ids=["client headers", "an option", "own has_client_auth", "a config", "request-level headers", "too many steps"],
)
def test_any_other_request_is_left_to_plan_steps(req):
    gw = GatewayPolicy("default", max_steps=2)
    assert pipeline._usual_plan(RT, gw, req, req.headers) is None


def test_an_unknown_provider_or_missing_key_is_reported_by_plan_steps():
    no_keys = runtime(FakeClient(openai=[Reply()]), keys={})
    assert pipeline._usual_plan(no_keys, GW, request(openai_step()), {}) is None
    unknown = request(openai_step())
    unknown.steps[0].provider = "nope"
    assert pipeline._usual_plan(RT, GW, unknown, {}) is None


def test_an_endpoint_not_yet_checked_is_left_to_plan_steps():
    step = openai_step()
    step.endpoint = "chat/completions/never-seen-before"
    assert pipeline._usual_plan(RT, GW, request(step), {}) is None
    plan_steps(RT, GW, request(step), {})  # checks and remembers it
    assert pipeline._usual_plan(RT, GW, request(step), {}) is not None


def settings_keys(**aliases_by_provider: dict[str, str]) -> SettingsKeyStore:
    """The gateway's own key store over providers' `keys` tables."""
    return SettingsKeyStore({
        name: SimpleNamespace(keys={alias: SimpleNamespace(reveal=lambda v=value: v) for alias, value in aliases.items()})
        for name, aliases in aliases_by_provider.items()
    })


@pytest.mark.parametrize(
    "keys, planned_key",
    [
        ({"openai": {"default": "sk-stored"}}, "sk-stored"),
        ({"openai": {"default": "sk-stored", "team": "sk-team"}}, "sk-stored"),
        ({"openai": {"team": "sk-team"}}, None),  # aliases but no default: plan_steps reports it
        ({"anthropic": {"default": "sk-ant"}}, None),  # none for this provider
    ],
    ids=["a default key", "a default key among aliases", "no default key", "no key for the provider"],
)
def test_the_gateway_s_key_store_is_read_in_place_as_lookup_reads_it(keys, planned_key):
    rt = copy.copy(RT)
    rt.keys = settings_keys(**keys)
    req = request(openai_step())
    native = pipeline._usual_plan(rt, GW, req, req.headers)
    if planned_key is None:
        assert native is None
        return
    assert native == plan_steps(rt, GW, req, req.headers)
    assert native[0].key == planned_key


def test_the_gateway_s_key_store_is_not_asked_by_a_call(monkeypatch):
    rt = copy.copy(RT)
    rt.keys = settings_keys(openai={"default": "sk-stored"})
    req = request(openai_step())
    plan_steps(rt, GW, req, req.headers)  # the memos warmed
    monkeypatch.setattr(SettingsKeyStore, "lookup", lambda *args: pytest.fail("lookup was called"))
    assert pipeline._usual_plan(rt, GW, req, req.headers)[0].key == "sk-stored"


def test_the_native_plan_refuses_classes_without_the_slots_it_uses():
    class Bare:
        __slots__ = ()

    with pytest.raises(ValueError, match="is not a slot"):
        pipeline._codec.UsualPlan((Bare,) * 6, set(), CheckedHeaders, {}, {}, {}, print, print)
