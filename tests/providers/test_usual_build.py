"""A provider's usual upstream request is built natively (`providers._USUAL_BUILD`,
rust/src/python/usual_build.rs, called by the pipeline's UsualMain instead of the provider's
`build_request`) exactly as `HttpProvider.build_request` builds it, for every built-in
provider class that keeps that method; every other call is left to the method (None)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import aigw.builtins.providers as builtin_providers
from aigw import _codec
from aigw.providers import _USUAL_BUILD, HttpProvider
from aigw.types import Call
from aigw.validation import CheckedHeaders

for _module in pkgutil.iter_modules(builtin_providers.__path__):
    importlib.import_module(f"{builtin_providers.__name__}.{_module.name}")


def provider_classes() -> list[type[HttpProvider]]:
    """Every HttpProvider class aigw ships, the base included."""
    found, todo = [], [HttpProvider]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("aigw.") and cls not in found:
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__qualname__)


def made(cls: type[HttpProvider]) -> HttpProvider | None:
    try:
        return cls("p", "https://upstream.test/base/")
    except Exception:  # a provider that needs options of its own (a region, a resource)
        return None


PROVIDERS = [p for p in map(made, provider_classes()) if p is not None]
HEADERS = {"content-type": "application/json", "authorization": "Bearer client", "x-custom": "1", "cf-aig-skip-cache": "true", "proxy-authorization": "x"}


def call(endpoint: str = "chat/completions", headers=None, body: bytes = b'{"model":"m"}', query: str = "", method: str = "POST") -> Call:
    return Call("p", endpoint, body, dict(HEADERS) if headers is None else headers, query, method)


def same(a, b) -> bool:
    return (a.method, a.url, list(a.headers), a.body) == (b.method, b.url, list(b.headers), b.body)


def test_every_built_in_provider_class_is_covered():
    assert len(PROVIDERS) >= 20


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: type(p).__name__)
@pytest.mark.parametrize(
    "case",
    [
        pytest.param((call(), "sk-stored"), id="a stored key"),
        pytest.param((call(), None), id="the client's key"),
        pytest.param((call(headers=CheckedHeaders(HEADERS)), "sk-stored"), id="checked headers"),
        pytest.param((call(headers={}, body=b""), None), id="no headers, no body"),
        pytest.param((call(headers={"content-type": "text/plain"}, method="PUT"), "k"), id="another method"),
    ],
)
def test_the_usual_call_is_built_as_build_request_builds_it(provider, case):
    c, key = case
    if type(provider).build_request is not HttpProvider.build_request or type(provider)._own_url_for:
        assert _USUAL_BUILD.build(provider, c, key) is None  # its own URL or request: its method's
        return
    python = provider.build_request(c, key)  # also checks the endpoint and joins the URL once
    native = _USUAL_BUILD.build(provider, c, key)
    assert native is not None and same(native, python)
    assert same(native, provider.build_request(c, key))


@pytest.mark.parametrize(
    "c",
    [
        pytest.param(call(query="a=1"), id="a query"),
        pytest.param(call(endpoint="chat/completions?a=1"), id="a query in the endpoint"),
        pytest.param(call(endpoint="never/checked/before"), id="an endpoint not checked before"),
        pytest.param(call(headers=[("x", "1")]), id="headers not a dict"),
    ],
)
def test_any_other_call_is_left_to_build_request(c):
    provider = HttpProvider("p", "https://upstream.test/v1")
    assert _USUAL_BUILD.build(provider, c, "k") is None


def test_a_url_the_memo_has_not_joined_is_left_to_build_request():
    provider = HttpProvider("p", "https://not-joined-yet.test/v1")
    c = call()
    assert _USUAL_BUILD.build(provider, c, None) is None
    provider.build_request(c, None)
    assert _USUAL_BUILD.build(provider, c, None) is not None


def test_a_class_with_its_own_build_request_is_left_to_it():
    class Own(HttpProvider):
        def build_request(self, call, key):
            return super().build_request(call, key)

    provider = Own("p", "https://upstream.test/v1")
    c = call()
    provider.build_request(c, None)
    assert _USUAL_BUILD.build(provider, c, None) is None


def test_the_native_build_refuses_a_call_class_without_its_slots():
    with pytest.raises(ValueError, match="is not a slot"):
        _codec.UsualBuild(HttpProvider, HttpProvider.build_request, set(), frozenset(), CheckedHeaders, {}, None)
