"""A request's steps resolved before anything touches the network (`plan_steps`): its
provider, the call it makes, its retry and cache policies and the credential it uses; too
many steps, an unknown provider, a bad option or missing credentials are the client's mistake,
reported at once. The usual request's plan is made natively (`_usual_plan`)."""

from __future__ import annotations

from typing import Mapping

from aigw import _codec
from aigw.errors import AigwError, BadRequest, ByokAliasNotFound, InvalidProvider
from aigw.interfaces import Provider
from aigw.key_store import SettingsKeyStore
from aigw.memo import Memo
from aigw.options import CachePolicy, cache_policy, retry_policy
from aigw.providers import OVERRIDES, HttpProvider, Overrides
from aigw.request_model import GatewayPolicy, GatewayRequest, Runtime, StepPlan, StepRequest
from aigw.slots_maker import maker
from aigw.types import Call
from aigw.validation import _PASSED_ENDPOINTS, CheckedHeaders, checked_step_headers


class ProviderCredentialsMissing(AigwError):
    """The client sent no provider key and the gateway stores none for that provider."""

    status, code = 400, 2011


#: ttl → the cache policy of a step that sets no option: the gateway's ttl (shared, never
#: mutated, as the gateway's retry policy is).
_NO_OPTIONS_CACHING: Memo[int, CachePolicy] = Memo(CachePolicy, 16)

#: A plan's objects, each built in one native call (aigw.slots_maker).
_make_call, _make_plan = map(maker, (Call, StepPlan))


def plan_steps(rt: Runtime, gw: GatewayPolicy, req: GatewayRequest, headers: Mapping[str, str]) -> list[StepPlan]:
    """Resolve every step before touching the network: too many steps, an unknown provider, a
    bad option or missing credentials are the client's mistake, reported at once."""
    if len(req.steps) > gw.max_steps:
        raise BadRequest(
            f"a request may have at most {gw.max_steps} steps, got {len(req.steps)} "
            f"(gateway setting max_steps)"
        )
    plans = []
    for index, step in enumerate(req.steps):
        provider = rt.providers.get(step.provider)
        if provider is None:
            raise InvalidProvider(f"unknown provider {step.provider!r} in step {index}")
        own = step.headers
        if not headers and step.endpoint in _PASSED_ENDPOINTS and (not own or own.__class__ is CheckedHeaders):
            # checked_step_headers' answer, inline, for a step without headers or with a
            # door's (already checked) and no request-level ones: a copy of them
            step_headers = dict(own) if own else {}
        else:
            step_headers = checked_step_headers(headers, step.headers, step.endpoint, _STEP_LABELS[index] if index < len(_STEP_LABELS) else f"step {index}")
        # _names_options(step_headers), inline for the usual dict
        if _codec.any_name_starts(step_headers, "cf-") if step_headers.__class__ is dict else _names_options(step_headers):
            policy = retry_policy(gw.retry, step_headers, step.config)
            caching = cache_policy(gw.cache_ttl, step_headers)
        else:
            # The common request sets no option: the gateway's policies as they are (shared,
            # never mutated), without a copy and ten header look-ups per step.
            policy = retry_policy(gw.retry, step_headers, step.config) if step.config else gw.retry
            caching = _NO_OPTIONS_CACHING[gw.cache_ttl]
        key = None
        overrides = OVERRIDES[provider.__class__]
        # HttpProvider.has_client_auth, inline unless the class has its own
        if not (provider.has_client_auth(step_headers) if overrides.has_client_auth else step_headers.get(provider.auth_header)):  # type: ignore[attr-defined]
            if "cf-aig-byok-alias" in step_headers or _PREFERS_ALIAS[provider.__class__]:
                key = _stored_key(rt, provider, step, step_headers)
            else:  # _stored_key's usual case, inline: the default alias
                key = rt.keys.lookup(step.provider, None)
            if key is None:
                raise ProviderCredentialsMissing(
                    f"step {index}: no {step.provider} credentials: send the provider's auth header "
                    f"or store a key under [providers.{step.provider}] key"
                )
        call = _make_call(step.provider, step.endpoint, step.body, step_headers, step.query, step.method, step.stream, step.model)
        plans.append(_make_plan(index, provider, call, policy, caching, key, overrides))
    return plans


#: "step 0", "step 1", ...: the labels error messages name steps by, made once (an f-string per
#: step and request formatted an int for messages that are almost never written).
_STEP_LABELS = tuple(f"step {i}" for i in range(16))


def _names_options(headers: Mapping[str, str]) -> bool:
    """Whether lowercase `headers` may set a per-request option: every option header starts
    `cf-` (`cf-aig-*`, and the old `cf-cache-ttl` / `cf-skip-cache`)."""
    if isinstance(headers, dict):  # the usual: one native pass (a client SDK sends ~10 fields)
        return _codec.any_name_starts(headers, "cf-")
    return any(name.startswith("cf-") for name in headers)


_DEFAULT_KEY_ALIAS = HttpProvider.key_alias


def _prefers_alias(kind: type) -> bool:
    """Whether providers of class `kind` may prefer a stored key's alias per call (a
    `key_alias` of their own, e.g. Azure's resource in the path)."""
    key_alias = getattr(kind, "key_alias", None)
    return key_alias is not None and key_alias is not _DEFAULT_KEY_ALIAS


#: `_prefers_alias`, remembered per provider class.
_PREFERS_ALIAS: Memo[type, bool] = Memo(_prefers_alias, 256)


def _stored_key(rt: Runtime, provider: Provider, step: StepRequest, headers: Mapping[str, str]) -> str | None:
    """The stored key for a step: the client's `cf-aig-byok-alias`, else the alias the
    provider prefers for this call (Azure: the resource in the path) when one is stored, else
    the default alias."""
    alias = headers.get("cf-aig-byok-alias")
    if alias is None and _PREFERS_ALIAS[provider.__class__]:  # the default prefers none: no Call to ask with
        preferred = provider.key_alias(Call(step.provider, step.endpoint, b""))  # type: ignore[attr-defined]
        if preferred is not None:
            try:
                key = rt.keys.lookup(step.provider, preferred)
            except ByokAliasNotFound:
                key = None  # nothing stored for this resource: the default alias
            if key is not None:
                return key
    return rt.keys.lookup(step.provider, alias)



#: `plan_steps` for a request whose every step is the usual one (no options, no config, a
#: checked endpoint, the client's auth header or the default stored key), in one native call;
#: None for any other request: rust/src/python/usual_plan.rs.
_USUAL_PLAN = _codec.UsualPlan(
    (Runtime, GatewayPolicy, GatewayRequest, StepRequest, Overrides, SettingsKeyStore),
    _PASSED_ENDPOINTS, CheckedHeaders, _NO_OPTIONS_CACHING, OVERRIDES, _PREFERS_ALIAS, _make_call, _make_plan,
)
_usual_plan = _USUAL_PLAN.function()

__all__ = ["ProviderCredentialsMissing", "plan_steps"]
