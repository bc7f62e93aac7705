"""The router: one table of (method, path pattern) → handler for every door of the gateway.

    router = Router()
    router.add(WEBSOCKET, "/v1/{account}/{gateway}", universal, owner=BUILTIN)
    router.add("GET", "/health", health, owner=BUILTIN, public=True)
    router.add("POST", "/__echo/chat/completions", echo, owner="'echo' (aigw-echo 0.1.0)")
    router.freeze()                               # start-up: conflicts refused, patterns compiled
    found = router.resolve("POST", "/v1/acct/default", websocket=False)
    # RouteMatch(route, params) or RouteMiss(404 | 405 + allow | 426)

Patterns are absolute paths whose segments are literals, ``{name}`` (one non-empty segment) or,
as the last segment only, ``{name:path}`` (the rest of the path, slashes included). A request
path may end with one extra ``/`` unless the pattern ends with a ``{name:path}``. The method is
an HTTP method, ``"*"`` (any HTTP method) or ``WEBSOCKET`` (an upgrade request).

Built-in and plugin routes share the table: two routes with the same method and the same
pattern shape (parameter names aside) stop start-up with an error naming both owners. Where
patterns overlap, the more specific one wins (literal before ``{name}`` before ``{name:path}``,
segment by segment). Resolution is a dict look-up on the first path segment plus one
precompiled regex per candidate pattern: no pluggy, no allocation beyond the match.

A path no pattern matches is a 404; a matching path without the method is a 405 (with the
methods it has, for ``Allow``); a plain GET to a path whose only GET is a WebSocket upgrade is a 426 (``Upgrade:
websocket``). An upgrade request to a path with no WebSocket route is routed as a plain GET (RFC
9110 §7.8: a server may ignore ``Upgrade``).

`public` marks a route that skips gateway resolution and authentication; every other route is
authenticated (see `aigw.api.gateway_context`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from aigw.errors import PluginError

__all__ = ["ANY", "BUILTIN", "WEBSOCKET", "Route", "RouteMatch", "RouteMiss", "Router", "compile_pattern"]

#: The "method" of a WebSocket upgrade route.
WEBSOCKET = "WEBSOCKET"
#: Any HTTP method (not WebSocket).
ANY = "*"
#: The owner label of aigw's own routes (in conflict messages and `aigw plugins`).
BUILTIN = "aigw (built-in)"

_METHOD = re.compile(r"[A-Z]+|\*")
_LITERAL = re.compile(r"[A-Za-z0-9._~!$&'()+,;=:@%-]+")  # RFC 3986 pchar, no braces
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")
# Segment kinds, in the order specificity prefers them.
_LIT, _ONE, _REST = 0, 1, 2
#: How many resolved paths the router remembers (cleared when full).
_HITS_MAX = 1024


@dataclass(frozen=True, slots=True)
class Route:
    """One route: who answers `method pattern`, who registered it, whether it skips auth."""

    method: str
    pattern: str
    handler: Any
    owner: str
    #: True: no gateway resolution and no authentication (an explicit opt-out, e.g. /health).
    public: bool = False

    @property
    def path(self) -> str:
        """The pattern (the name plugin code used before patterns had parameters)."""
        return self.pattern

    def describe(self) -> str:
        """ "METHOD /pattern", plus " (public)" for a route that skips authentication."""
        return f"{self.method} {self.pattern}" + (" (public: no gateway token)" if self.public else "")


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A resolved request: the route and the path parameters."""

    route: Route
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class RouteMiss:
    """No route answers: 404 (no such path), 405 (`allow` lists the path's methods) or 426
    (a plain request to a WebSocket-only path)."""

    status: int
    allow: tuple[str, ...] = ()
    #: The parameters of the most specific pattern the path matched (405/426), so that the
    #: caller can answer 404 for an unknown ``{gateway}`` before complaining about the method.
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """A parsed pattern: its regex, its shape (for conflicts) and its specificity key."""

    pattern: str
    regex: re.Pattern[str]
    shape: tuple[str, ...]
    specificity: tuple[int, ...]
    first: str | None  # the first segment when it is a literal (the bucket key)
    params: tuple[str, ...]


def compile_pattern(pattern: str) -> CompiledPattern:
    """Parse and compile `pattern`.

    Raises:
        ValueError: not absolute, an empty segment, a trailing "/", a malformed or duplicate
            parameter, or ``{name:path}`` anywhere but last.
    """
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r} must be an absolute path")
    if pattern == "/":
        return CompiledPattern("/", re.compile(r"/\Z"), (), (), None, ())
    segments = pattern[1:].split("/")
    regex, shape, kinds, names = [], [], [], []
    for i, seg in enumerate(segments):
        param = _PARAM.fullmatch(seg)
        if param is not None:
            name, rest = param.group(1), param.group(2) is not None
            if name in names:
                raise ValueError(f"route pattern {pattern!r} names parameter {name!r} twice")
            if rest and i != len(segments) - 1:
                raise ValueError(f"route pattern {pattern!r}: {{{name}:path}} must be the last segment")
            names.append(name)
            regex.append(f"/(?P<{name}>.+)" if rest else f"/(?P<{name}>[^/]+)")
            shape.append("{path}" if rest else "{}")
            kinds.append(_REST if rest else _ONE)
        elif _LITERAL.fullmatch(seg):
            regex.append("/" + re.escape(seg))
            shape.append(seg)
            kinds.append(_LIT)
        else:
            raise ValueError(f"route pattern {pattern!r} has an invalid segment {seg!r}")
    tail = "" if kinds[-1] == _REST else "/?"
    first = segments[0] if kinds[0] == _LIT else None
    return CompiledPattern(
        pattern, re.compile("".join(regex) + tail + r"\Z"), tuple(shape), tuple(kinds), first, tuple(names)
    )


@dataclass(slots=True)
class _PathEntry:
    """Every route of one pattern shape, by method."""

    compiled: CompiledPattern
    routes: dict[str, Route] = field(default_factory=dict)


class Router:
    """The gateway's route table (see the module docstring). Filled at start-up, then frozen."""

    # Slots: native code reads `_dirty` and `_hits` in place (rust/src/python/usual_door.rs).
    __slots__ = ("_entries", "_buckets", "_wild", "_frozen", "_dirty", "_hits")

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], _PathEntry] = {}
        self._buckets: dict[str, tuple[_PathEntry, ...]] = {}
        self._wild: tuple[_PathEntry, ...] = ()
        self._frozen = False
        self._dirty = False
        #: Built-in routes' matches once frozen, by (method, path, websocket): a client sends
        #: the same few paths again and again, and a hit skips a regex per candidate pattern.
        self._hits: dict[tuple[str, str, bool], RouteMatch] = {}

    def add(self, method: str, pattern: str, handler: Any, *, owner: str, public: bool = False) -> Route:
        """Add a route.

        Raises:
            PluginError: a bad method or pattern, the table is frozen, or another route has the
                same method and pattern shape (the message names both owners).
        """
        if self._frozen:
            raise PluginError(f"{owner} added route {method} {pattern} after start-up")
        method = method.upper() if isinstance(method, str) else method
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            raise PluginError(f"{owner} registered a route with an invalid method {method!r}")
        try:
            compiled = compile_pattern(pattern)
        except ValueError as exc:
            raise PluginError(f"{owner} registered an invalid route: {exc}") from None
        route = Route(method, pattern, handler, owner, bool(public))
        entry = self._entries.setdefault(compiled.shape, _PathEntry(compiled))
        clash = entry.routes.get(method)
        if clash is None and method == ANY:  # "*" covers every HTTP method of the shape
            clash = next((r for m, r in entry.routes.items() if m != WEBSOCKET), None)
        elif clash is None and method != WEBSOCKET:
            clash = entry.routes.get(ANY)
        if clash is not None:
            raise PluginError(
                f"route {method} {pattern} is registered twice: by {clash.owner} "
                f"({clash.method} {clash.pattern}) and by {owner}"
            )
        entry.routes[method] = route
        self._dirty = True
        return route

    def freeze(self) -> None:
        """Compile the look-up tables; further `add` calls fail."""
        self._compile()
        self._frozen = True

    @property
    def frozen(self) -> bool:
        """Whether start-up is over for this table."""
        return self._frozen

    def _compile(self) -> None:
        entries = sorted(self._entries.values(), key=lambda e: e.compiled.specificity)
        wild = tuple(e for e in entries if e.compiled.first is None)
        buckets: dict[str, list[_PathEntry]] = {}
        for e in entries:
            if e.compiled.first is not None:
                buckets.setdefault(e.compiled.first, []).append(e)
        # A literal first segment may also match a pattern that starts with a parameter.
        self._buckets = {
            first: tuple(sorted((*listed, *wild), key=lambda e: e.compiled.specificity))
            for first, listed in buckets.items()
        }
        self._wild = wild
        self._dirty = False

    def resolve(self, method: str, path: str, *, websocket: bool = False) -> RouteMatch | RouteMiss:
        """The route for a request (see the module docstring for the miss statuses)."""
        if self._dirty:
            self._compile()  # only before freeze(): tests and introspection
        hit = self._hits.get((method, path, websocket))
        if hit is not None:
            return hit
        end = path.find("/", 1)
        first = path[1:] if end < 0 else path[1:end]
        candidates = self._buckets.get(first, self._wild)
        matched: list[_PathEntry] | None = None
        params: dict[str, str] = {}
        for entry in candidates:
            m = entry.compiled.regex.match(path)
            if m is None:
                continue
            routes = entry.routes
            if websocket:
                route = routes.get(WEBSOCKET) or routes.get("GET") or routes.get(ANY)
            else:
                route = routes.get(method) or routes.get(ANY)
                if route is None and method == "HEAD":
                    route = routes.get("GET")
            if route is not None:
                found = RouteMatch(route, m.groupdict())
                # Only aigw's own handlers, which never modify `params`, share a cached match.
                if self._frozen and route.owner == BUILTIN:
                    if len(self._hits) >= _HITS_MAX:
                        self._hits.clear()
                    self._hits[(method, path, websocket)] = found
                return found
            if matched is None:
                matched = []
                params = m.groupdict()
            matched.append(entry)
        if matched is None:
            return RouteMiss(404)
        methods = {m for e in matched for m in e.routes}
        if WEBSOCKET in methods and "GET" not in methods and ANY not in methods and method in ("GET", "HEAD"):
            # The only GET this path takes is an upgrade (the Universal path also takes POST).
            return RouteMiss(426, ("GET",), params)
        allow = set()
        for m in methods:
            if m == WEBSOCKET:
                allow.add("GET")
            elif m == "GET":
                allow.update(("GET", "HEAD"))
            else:
                allow.add(m)
        return RouteMiss(405, tuple(sorted(allow)), params)

    def __iter__(self) -> Iterator[Route]:
        for entry in self._entries.values():
            yield from entry.routes.values()

    def __len__(self) -> int:
        return sum(len(e.routes) for e in self._entries.values())
