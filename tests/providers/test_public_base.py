"""`aigw.providers` is the public base plugin authors build providers on."""

import aigw.providers
from aigw import PluginContext, Provider
from aigw.providers import HttpProvider
from aigw.types import Call


class Llamafile(HttpProvider):
    name = "llamafile"
    default_base_url = "http://127.0.0.1:8080/v1"


def context(**config):
    return PluginContext(name="llamafile", config=config, settings=None, data_dir=None)


def test_every_published_name_is_importable():
    for name in aigw.providers.__all__:
        assert getattr(aigw.providers, name) is not None, name


def test_a_three_line_subclass_is_a_provider():
    assert isinstance(Llamafile.from_context(context()), Provider)


def test_from_context_takes_the_base_url_and_passes_other_options_but_not_keys():
    provider = Llamafile.from_context(context(base_url="http://h:1/v1", key="sk", keys={}, region="eu"))
    assert provider.base_url == "http://h:1/v1"
    assert provider.options == {"region": "eu"}


def test_the_builtins_are_built_on_the_public_base():
    from aigw.builtins.providers import AnthropicProvider, GoogleAIStudioProvider, OpenAIProvider, WorkersAIProvider

    for cls in (AnthropicProvider, GoogleAIStudioProvider, OpenAIProvider, WorkersAIProvider):
        assert issubclass(cls, HttpProvider)


async def test_the_optional_capabilities_default_to_nothing():
    provider = Llamafile()
    call = Call("llamafile", "chat/completions", b"{}")
    request = provider.build_request(call, None)
    assert provider.key_alias(call) is None
    assert await provider.prepare(request, call, None, client=None) is request


def _call(endpoint: str = "chat/completions", query: str = "") -> Call:
    return Call(provider="llamafile", endpoint=endpoint, body=b"{}", headers={"content-type": "application/json"}, query=query)


def test_build_request_joins_the_base_url_and_the_endpoint():
    request = Llamafile(base_url="http://h:1/v1").build_request(_call("v1/chat/completions"), "sk")
    assert request.url == "http://h:1/v1/chat/completions"
    assert ("authorization", "Bearer sk") in request.headers


def test_build_request_keeps_the_query():
    request = Llamafile(base_url="http://h:1/v1").build_request(_call(query="a=1"), None)
    assert request.url == "http://h:1/v1/chat/completions?a=1"


class Pinned(Llamafile):
    """Overrides both request hooks."""

    def url_for(self, call: Call) -> str:
        return "http://pinned/" + call.endpoint

    def add_headers(self, call: Call, headers: list[tuple[str, str]]) -> None:
        headers.append(("x-pinned", "1"))


class PinnedChild(Pinned):
    """Inherits the overrides."""


def test_a_subclass_url_for_and_add_headers_are_used_by_build_request():
    for cls in (Pinned, PinnedChild):
        request = cls().build_request(_call(), None)
        assert request.url == "http://pinned/chat/completions"
        assert ("x-pinned", "1") in request.headers


def test_overrides_name_the_hooks_a_subclass_replaces():
    from aigw.providers import OVERRIDES, Overrides

    class OwnFraming(Llamafile):
        def framing(self, call, status, content_type):
            return super().framing(call, status, content_type)

    assert OVERRIDES[Llamafile] == Overrides(False, False, False, False, False)
    assert OVERRIDES[OwnFraming].framing and not OVERRIDES[OwnFraming].usage_from_body


def test_a_provider_not_built_on_the_base_has_every_hook_called():
    from aigw.providers import OVERRIDES

    class Bare:
        name = "bare"

    found = OVERRIDES[Bare]
    assert found.has_client_auth and found.framing and found.usage_from_body
    assert not found.prepare and not found.usage_from_headers  # hooks it lacks are not called
