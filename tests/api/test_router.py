"""The router on its own: patterns, precedence, conflicts, and the 404 / 405 / 426 misses."""

from __future__ import annotations

import pytest

from aigw.api.router import ANY, BUILTIN, WEBSOCKET, Router, RouteMatch, RouteMiss, compile_pattern
from aigw.errors import PluginError


def handler(*args):  # the router never calls handlers
    return None


def router(*routes: tuple[str, str], public: bool = False) -> Router:
    r = Router()
    for method, pattern in routes:
        r.add(method, pattern, handler, owner=BUILTIN, public=public)
    r.freeze()
    return r


def test_parameters_are_taken_from_their_segments():
    found = router((WEBSOCKET, "/v1/{account}/{gateway}")).resolve("GET", "/v1/acct/default", websocket=True)
    assert isinstance(found, RouteMatch)
    assert found.params == {"account": "acct", "gateway": "default"}


def test_a_path_parameter_takes_the_rest_of_the_path_slashes_included():
    r = router(("*", "/v1/{account}/{gateway}/{provider}/{rest:path}"))
    found = r.resolve("POST", "/v1/a/g/openai/v1/chat/completions")
    assert found.params == {"account": "a", "gateway": "g", "provider": "openai", "rest": "v1/chat/completions"}


def test_one_trailing_slash_is_accepted():
    r = router((WEBSOCKET, "/v1/{account}/{gateway}"))
    assert isinstance(r.resolve("GET", "/v1/a/g/", websocket=True), RouteMatch)
    assert r.resolve("GET", "/v1/a/g//", websocket=True) == RouteMiss(404)


def test_a_parameter_never_matches_an_empty_segment():
    assert router((WEBSOCKET, "/v1/{account}/{gateway}")).resolve("GET", "/v1//g", websocket=True) == RouteMiss(404)


def test_a_literal_segment_wins_over_a_parameter():
    r = Router()
    r.add("GET", "/v1/{account}/{gateway}/{provider}/{rest:path}", "generic", owner=BUILTIN)
    r.add("GET", "/v1/{account}/{gateway}/logs/{rest:path}", "logs", owner="plugin 'logs'")
    r.freeze()
    assert r.resolve("GET", "/v1/a/g/logs/x").route.handler == "logs"
    assert r.resolve("GET", "/v1/a/g/openai/x").route.handler == "generic"


def test_an_unknown_path_is_404_whatever_the_method():
    r = router((WEBSOCKET, "/v1/{account}/{gateway}"), ("GET", "/health"))
    assert r.resolve("POST", "/nope") == RouteMiss(404)
    assert r.resolve("POST", "/v1/only-two") == RouteMiss(404)


def test_a_plain_get_to_a_websocket_only_path_is_426():
    found = router((WEBSOCKET, "/v1/{account}/{gateway}")).resolve("GET", "/v1/a/g")
    assert (found.status, found.allow) == (426, ("GET",))


def test_another_method_on_a_known_path_is_405_listing_the_allowed_ones():
    r = router(("GET", "/health"), ("DELETE", "/health"))
    found = r.resolve("POST", "/health")
    assert (found.status, found.allow) == (405, ("DELETE", "GET", "HEAD"))


def test_a_post_to_a_websocket_only_path_is_405_allowing_get():
    found = router((WEBSOCKET, "/v1/{account}/{gateway}")).resolve("POST", "/v1/a/g")
    assert (found.status, found.allow, found.params) == (405, ("GET",), {"account": "a", "gateway": "g"})


def test_head_is_answered_by_the_get_route():
    assert isinstance(router(("GET", "/health")).resolve("HEAD", "/health"), RouteMatch)


def test_an_upgrade_to_a_path_without_a_websocket_route_is_routed_as_a_get():
    found = router(("GET", "/health")).resolve("GET", "/health", websocket=True)
    assert isinstance(found, RouteMatch) and found.route.method == "GET"


def test_any_method_route_answers_every_http_method_but_not_upgrades():
    r = router((ANY, "/proxy/{rest:path}"))
    assert isinstance(r.resolve("PATCH", "/proxy/x"), RouteMatch)
    assert isinstance(r.resolve("GET", "/proxy/x", websocket=True), RouteMatch)  # as a plain GET


def test_the_same_method_and_pattern_shape_twice_is_refused_naming_both_owners():
    r = Router()
    r.add("GET", "/health", handler, owner=BUILTIN, public=True)
    with pytest.raises(PluginError, match=r"GET /health is registered twice: by aigw \(built-in\) .* and by plugin 'x'"):
        r.add("GET", "/health", handler, owner="plugin 'x'")


def test_parameter_names_do_not_make_a_different_route():
    r = Router()
    r.add("GET", "/v1/{account}/{gateway}/x", handler, owner="plugin 'a'")
    with pytest.raises(PluginError, match="plugin 'a'.*plugin 'b'"):
        r.add("GET", "/v1/{acct}/{gw}/x", handler, owner="plugin 'b'")


def test_an_any_method_route_clashes_with_every_http_method_of_its_pattern():
    r = Router()
    r.add("POST", "/x/{rest:path}", handler, owner="plugin 'a'")
    with pytest.raises(PluginError, match="registered twice"):
        r.add("*", "/x/{rest:path}", handler, owner="plugin 'b'")


def test_a_websocket_route_and_an_http_route_share_a_path():
    r = router((WEBSOCKET, "/v1/{account}/{gateway}"), ("POST", "/v1/{account}/{gateway}"))
    assert r.resolve("POST", "/v1/a/g").route.method == "POST"
    assert r.resolve("GET", "/v1/a/g", websocket=True).route.method == WEBSOCKET
    # A plain GET can only mean the upgrade here: 426 (with Upgrade: websocket), not 405.
    assert r.resolve("GET", "/v1/a/g") == RouteMiss(426, ("GET",), {"account": "a", "gateway": "g"})
    assert r.resolve("DELETE", "/v1/a/g") == RouteMiss(405, ("GET", "POST"), {"account": "a", "gateway": "g"})


@pytest.mark.parametrize(
    "pattern", ["relative", "/a//b", "/a/", "/{x}/{x}", "/{rest:path}/more", "/{1bad}", "/has space", "/a{b}"]
)
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(ValueError):
        compile_pattern(pattern)


def test_a_frozen_router_refuses_routes():
    r = router(("GET", "/health"))
    with pytest.raises(PluginError, match="after start-up"):
        r.add("GET", "/late", handler, owner="plugin 'p'")


def test_a_path_resolved_again_gets_the_same_route_and_parameters_for_each_method():
    # Resolved matches are remembered per (method, path, upgrade): a repeat must not mix them up.
    r = router(("POST", "/v1/{account}/{gateway}"), (WEBSOCKET, "/v1/{account}/{gateway}"))
    for _ in range(2):
        post = r.resolve("POST", "/v1/a/g")
        ws = r.resolve("GET", "/v1/a/g", websocket=True)
        assert post.route.method == "POST" and ws.route.method == WEBSOCKET
        assert post.params == ws.params == {"account": "a", "gateway": "g"}
        assert r.resolve("GET", "/v1/a/g") == RouteMiss(426, ("GET",), {"account": "a", "gateway": "g"})
    assert r.resolve("POST", "/v1/b/h").params == {"account": "b", "gateway": "h"}


def test_a_plugin_route_gets_parameters_of_its_own_each_time():
    r = Router()
    r.add("POST", "/x/{name}", handler, owner="'p' (plugin)")
    r.freeze()
    first = r.resolve("POST", "/x/n")
    first.params["name"] = "changed by the plugin"
    assert r.resolve("POST", "/x/n").params == {"name": "n"}
