"""Dynamic routes (`model: "dynamic/<name>"`): a small graph of Cloudflare's element types,
validated at start-up and evaluated per request into an ordered fallback chain of steps.

    [routes.support]
    start = "plan"
    [routes.support.elements.plan]          # conditional: on metadata, headers or body fields
    type = "conditional"
    when = { "metadata.plan" = "pro" }      # or { "body.max_tokens" = { "$gt" = 1000 } }
    then = "claude"
    else = "split"
    [routes.support.elements.split]         # percentage: weighted split, `else` takes the rest
    type = "percentage"
    branches = [{ weight = 70, next = "gpt" }, { weight = 30, next = "gemini" }]
    [routes.support.elements.limit]         # rate_limit: count per key, fallback when over
    type = "rate_limit"
    key = "metadata.user_id"
    limit = 100
    interval = 60
    success = "gpt"
    fallback = "cheap"
    [routes.support.elements.gpt]           # model: a step; `fallback` continues the chain
    type = "model"
    provider = "openai"
    model = "gpt-4o-mini"
    timeout = 10000                         # ms
    retries = 2
    fallback = "gemini"

Validation (`parse_routes`) reports every problem through an `error(path, message)` callback
(config.py gives file:line): unknown types or keys, references to missing elements, cycles,
branches that never reach a model, more than 5 percentage branches.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from aigw.errors import RateLimited

ErrorFn = Callable[[tuple, str], None]

#: Operators of conditional elements (MongoDB-style, as Cloudflare's).
OPERATORS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists")
MAX_PERCENTAGE_BRANCHES = 5
_SOURCES = ("metadata", "headers", "body")


@dataclass(frozen=True, slots=True)
class Condition:
    """`source.path op value`, e.g. ("metadata", ("plan",), "$eq", "pro")."""

    source: str
    path: tuple[str, ...]
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class ModelElement:
    provider: str
    model: str
    timeout_ms: int | None = None
    retries: int | None = None
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class ConditionalElement:
    when: tuple[Condition, ...]
    then: str
    otherwise: str


@dataclass(frozen=True, slots=True)
class PercentageElement:
    branches: tuple[tuple[float, str], ...]  # (weight in percent, next)
    otherwise: str | None


@dataclass(frozen=True, slots=True)
class RateLimitElement:
    key: str  # "metadata.user_id", "headers.x-team" ...
    limit: int
    interval: float
    technique: str
    success: str
    fallback: str | None


Element = ModelElement | ConditionalElement | PercentageElement | RateLimitElement


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    start: str
    elements: Mapping[str, Element]


@dataclass(frozen=True, slots=True)
class RouteStep:
    """One step of an evaluated route: a provider and model, with the element's options."""

    element: str
    provider: str
    model: str
    timeout_ms: int | None = None
    retries: int | None = None


@dataclass(slots=True)
class RouteInput:
    """What conditions and rate-limit keys read from a request."""

    metadata: Mapping[str, Any]
    headers: Mapping[str, str]
    body: Mapping[str, Any]


# ---- evaluation -------------------------------------------------------------------------------


def lookup(inp: RouteInput, source: str, path: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) of `source.path` in the request."""
    value: Any = {"metadata": inp.metadata, "headers": inp.headers, "body": inp.body}[source]
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _matches(cond: Condition, inp: RouteInput) -> bool:
    found, value = lookup(inp, cond.source, cond.path)
    op, want = cond.op, cond.value
    if op == "$exists":
        return found is bool(want)
    if not found:
        return op in ("$ne", "$nin")
    if op == "$eq":
        return value == want
    if op == "$ne":
        return value != want
    if op == "$in":
        return value in want
    if op == "$nin":
        return value not in want
    try:
        return {"$gt": value > want, "$gte": value >= want, "$lt": value < want, "$lte": value <= want}[op]
    except TypeError:
        return False  # a string compared with a number: no match


async def evaluate(route: Route, inp: RouteInput, limiter: Any, rng: Callable[[], float] = random.random) -> list[RouteStep]:
    """The ordered steps (a fallback chain) `route` chooses for this request. `limiter` is a
    RateLimiter (`await hit(key, limit, interval, technique)`) for rate_limit elements.
    Raises RateLimited (429/2003) when a rate limit without a fallback branch is exceeded."""
    steps: list[RouteStep] = []
    name: str | None = route.start
    while name is not None:
        el = route.elements[name]
        if isinstance(el, ModelElement):
            steps.append(RouteStep(name, el.provider, el.model, el.timeout_ms, el.retries))
            name = el.fallback
        elif isinstance(el, ConditionalElement):
            name = el.then if all(_matches(c, inp) for c in el.when) else el.otherwise
        elif isinstance(el, PercentageElement):
            roll, acc, chosen = rng() * 100.0, 0.0, el.otherwise
            for weight, nxt in el.branches:
                acc += weight
                if roll < acc:
                    chosen = nxt
                    break
            name = chosen
            if name is None:
                raise AssertionError("validated routes always have a branch here")
        else:
            source, _, rest = el.key.partition(".")
            found, value = lookup(inp, source, tuple(rest.split(".")) if rest else ())
            key = f"route:{route.name}:{name}:{value if found else ''}"
            decision = await limiter.hit(key, el.limit, el.interval, el.technique)
            if decision.allowed:
                name = el.success
            elif el.fallback is not None:
                name = el.fallback
            else:
                raise RateLimited(f"dynamic route {route.name!r}: rate limit {name!r} of {el.limit} per {el.interval:g}s exceeded")
    return steps


# ---- validation -------------------------------------------------------------------------------

_KEYS = {
    "model": {"type", "provider", "model", "timeout", "retries", "fallback"},
    "conditional": {"type", "when", "then", "else"},
    "percentage": {"type", "branches", "else"},
    "rate_limit": {"type", "key", "limit", "interval", "technique", "limit_type", "success", "fallback"},
}


def parse_routes(raw: Any, error: ErrorFn, provider_exists: Callable[[str], bool] | None = None) -> dict[str, Route]:
    """Validate the `[routes]` table; every problem goes to `error(path, message)`. Routes
    with problems are left out of the answer (start-up stops anyway)."""
    if not isinstance(raw, dict):
        error(("routes",), "expected a table of routes by name")
        return {}
    out = {}
    for name, table in raw.items():
        route = _route(name, table, error, provider_exists)
        if route is not None:
            out[name] = route
    return out


def _route(name: str, table: Any, error: ErrorFn, provider_exists: Callable[[str], bool] | None) -> Route | None:
    here = ("routes", name)
    if not isinstance(table, dict):
        error(here, "expected a table with `start` and `elements`")
        return None
    ok = True
    for key in table:
        if key not in ("start", "elements"):
            error(here + (key,), "unknown key (a route has `start` and `elements`)")
            ok = False
    raw_elements = table.get("elements")
    if not isinstance(raw_elements, dict) or not raw_elements:
        error(here, "needs [routes.<name>.elements.<element>] tables")
        return None
    elements: dict[str, Element] = {}
    for el_name, spec in raw_elements.items():
        el = _element(here + ("elements", el_name), spec, error, provider_exists)
        if el is None:
            ok = False
        else:
            elements[el_name] = el
    start = table.get("start")
    if not isinstance(start, str):
        error(here + ("start",) if "start" in table else here, "needs `start`, the name of the first element")
        return None
    if not ok:
        return None
    refs_ok = True
    for el_name, el in elements.items():
        for key, target in _edges(el):
            if target not in elements:
                error(here + ("elements", el_name, key), f"names element {target!r}, which does not exist")
                refs_ok = False
    if start not in elements:
        error(here + ("start",), f"names element {start!r}, which does not exist")
        return None
    if not refs_ok:
        return None
    cycle = _find_cycle(start, elements)
    if cycle:
        error(here + ("elements", cycle[0]), "the route has a cycle: " + " → ".join(cycle))
        return None
    reached = _reachable(start, elements)
    for el_name in elements:
        if el_name not in reached:
            error(here + ("elements", el_name), "is never reached from `start`")
            return None
    return Route(name, start, elements)


def _edges(el: Element) -> list[tuple[str, str]]:
    if isinstance(el, ModelElement):
        return [("fallback", el.fallback)] if el.fallback else []
    if isinstance(el, ConditionalElement):
        return [("then", el.then), ("else", el.otherwise)]
    if isinstance(el, PercentageElement):
        edges = [("branches", nxt) for _, nxt in el.branches]
        return edges + ([("else", el.otherwise)] if el.otherwise else [])
    return [("success", el.success)] + ([("fallback", el.fallback)] if el.fallback else [])


def _find_cycle(start: str, elements: Mapping[str, Element]) -> list[str] | None:
    path: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> list[str] | None:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        path.append(name)
        for _, nxt in _edges(elements[name]):
            found = visit(nxt)
            if found:
                return found
        path.pop()
        done.add(name)
        return None

    return visit(start)


def _reachable(start: str, elements: Mapping[str, Element]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(nxt for _, nxt in _edges(elements[name]))
    return seen


def _element(here: tuple, spec: Any, error: ErrorFn, provider_exists: Callable[[str], bool] | None) -> Element | None:
    if not isinstance(spec, dict):
        error(here, "expected a table with a `type`")
        return None
    kind = spec.get("type")
    if kind not in _KEYS:
        error(here + ("type",) if "type" in spec else here, "type must be model, conditional, percentage or rate_limit")
        return None
    bad = [k for k in spec if k not in _KEYS[kind]]
    for key in bad:
        error(here + (key,), f"unknown key for a {kind} element (known: {', '.join(sorted(_KEYS[kind] - {'type'}))})")
    if bad:
        return None
    return _BUILDERS[kind](here, spec, error, provider_exists)  # None when it reported a problem


class _Counting:
    """Wraps an error callback to count calls (an element is valid when it reported nothing)."""

    def __init__(self, error: ErrorFn) -> None:
        self.error, self.n = error, 0

    def __call__(self, path: tuple, message: str) -> None:
        self.n += 1
        self.error(path, message)


def _name(here: tuple, spec: dict, key: str, error: ErrorFn, required: bool = True) -> str | None:
    value = spec.get(key)
    if value is None:
        if required:
            error(here, f"needs `{key}` (the name of the next element)")
        return None
    if not isinstance(value, str) or not value:
        error(here + (key,), "expected the name of an element")
        return None
    return value


def _model(here: tuple, spec: dict, error: ErrorFn, provider_exists: Callable[[str], bool] | None) -> Element | None:
    err = _Counting(error)
    provider, model = spec.get("provider"), spec.get("model")
    if not isinstance(provider, str) or not provider:
        err(here + ("provider",) if "provider" in spec else here, "needs `provider`, a provider slug")
    elif provider_exists is not None and not provider_exists(provider):
        err(here + ("provider",), f"unknown provider {provider!r} (configure [providers.{provider}] or install its plugin)")
    if not isinstance(model, str) or not model:
        err(here + ("model",) if "model" in spec else here, "needs `model`, the provider's model name")
    timeout = spec.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= 600_000):
        err(here + ("timeout",), "expected milliseconds between 1 and 600000")
    retries = spec.get("retries")
    if retries is not None and (not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 5):
        err(here + ("retries",), "expected an integer between 0 and 5")
    fallback = _name(here, spec, "fallback", err, required=False)
    if err.n:
        return None
    return ModelElement(provider, model, timeout, retries, fallback)  # type: ignore[arg-type]


def _conditional(here: tuple, spec: dict, error: ErrorFn, _p: Any) -> Element | None:
    err = _Counting(error)
    when = spec.get("when")
    conditions: list[Condition] = []
    if not isinstance(when, dict) or not when:
        err(here + ("when",) if "when" in spec else here, 'needs `when`, a table such as { "metadata.plan" = "pro" }')
    else:
        for field, test in when.items():
            source, _, rest = field.partition(".")
            if source not in _SOURCES or not rest:
                err(here + ("when", field), "a field is metadata.<name>, headers.<name> or body.<path>")
                continue
            path = (rest.lower(),) if source == "headers" else tuple(rest.split("."))
            if isinstance(test, dict):
                for op, value in test.items():
                    if op not in OPERATORS:
                        err(here + ("when", field, op), f"unknown operator (known: {', '.join(OPERATORS)})")
                    elif op in ("$in", "$nin") and not isinstance(value, list):
                        err(here + ("when", field, op), "expected an array")
                    else:
                        conditions.append(Condition(source, path, op, value))
            else:
                conditions.append(Condition(source, path, "$eq", test))
    then = _name(here, spec, "then", err)
    otherwise = _name(here, spec, "else", err)
    if err.n:
        return None
    return ConditionalElement(tuple(conditions), then, otherwise)  # type: ignore[arg-type]


def _percentage(here: tuple, spec: dict, error: ErrorFn, _p: Any) -> Element | None:
    err = _Counting(error)
    raw = spec.get("branches")
    branches: list[tuple[float, str]] = []
    if not isinstance(raw, list) or not raw:
        err(here + ("branches",) if "branches" in spec else here, "needs `branches`, an array of { weight, next }")
    elif len(raw) > MAX_PERCENTAGE_BRANCHES:
        err(here + ("branches",), f"at most {MAX_PERCENTAGE_BRANCHES} branches (plus `else`)")
    else:
        for i, b in enumerate(raw):
            weight = b.get("weight") if isinstance(b, dict) else None
            nxt = b.get("next") if isinstance(b, dict) else None
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 100 or not isinstance(nxt, str):
                err(here + ("branches", i), "expected { weight = <percent, 0 < w <= 100>, next = <element> }")
            else:
                branches.append((float(weight), nxt))
    total = sum(w for w, _ in branches)
    otherwise = _name(here, spec, "else", err, required=False)
    if total > 100.0001:
        err(here + ("branches",), f"weights add up to {total:g}, more than 100")
    elif total < 99.9999 and otherwise is None and not err.n:
        err(here, f"weights add up to {total:g}: add `else` for the other {100 - total:g}%")
    if err.n:
        return None
    return PercentageElement(tuple(branches), otherwise)


def _rate_limit(here: tuple, spec: dict, error: ErrorFn, _p: Any) -> Element | None:
    err = _Counting(error)
    limit_type = spec.get("limit_type", "count")
    if limit_type != "count":
        err(here + ("limit_type",), 'only "count" is supported (cost budgets are not tracked per route yet)')
    key = spec.get("key")
    if not isinstance(key, str) or key.partition(".")[0] not in _SOURCES or not key.partition(".")[2]:
        err(here + ("key",) if "key" in spec else here, "needs `key`, e.g. metadata.user_id or headers.x-team")
    limit = spec.get("limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        err(here + ("limit",) if "limit" in spec else here, "needs `limit`, a positive integer")
    interval = spec.get("interval", 60)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        err(here + ("interval",), "expected seconds > 0")
    technique = spec.get("technique", "sliding")
    if technique not in ("sliding", "fixed"):
        err(here + ("technique",), 'expected "sliding" or "fixed"')
    success = _name(here, spec, "success", err)
    fallback = _name(here, spec, "fallback", err, required=False)
    if err.n:
        return None
    if key.startswith("headers."):
        key = key.lower()
    return RateLimitElement(key, limit, float(interval), technique, success, fallback)  # type: ignore[arg-type]


_BUILDERS: dict[str, Callable[..., Element | None]] = {
    "model": _model,
    "conditional": _conditional,
    "percentage": _percentage,
    "rate_limit": _rate_limit,
}


def describe(route: Route) -> str:
    """`route` as a readable tree (what `aigw check-config` prints)."""
    lines = [f"dynamic/{route.name}"]

    def walk(name: str, indent: str, label: str) -> None:
        el = route.elements[name]
        if isinstance(el, ModelElement):
            extra = "".join(f", {k}={v}" for k, v in (("timeout", el.timeout_ms), ("retries", el.retries)) if v is not None)
            lines.append(f"{indent}{label}{name}: model {el.provider}/{el.model}{extra}")
            if el.fallback:
                walk(el.fallback, indent + "  ", "fallback → ")
        elif isinstance(el, ConditionalElement):
            conds = " and ".join(f"{c.source}.{'.'.join(c.path)} {c.op} {c.value!r}" for c in el.when)
            lines.append(f"{indent}{label}{name}: if {conds}")
            walk(el.then, indent + "  ", "then → ")
            walk(el.otherwise, indent + "  ", "else → ")
        elif isinstance(el, PercentageElement):
            lines.append(f"{indent}{label}{name}: percentage")
            for weight, nxt in el.branches:
                walk(nxt, indent + "  ", f"{weight:g}% → ")
            if el.otherwise:
                walk(el.otherwise, indent + "  ", "else → ")
        else:
            lines.append(f"{indent}{label}{name}: rate_limit {el.limit}/{el.interval:g}s per {el.key} ({el.technique})")
            walk(el.success, indent + "  ", "within → ")
            if el.fallback:
                walk(el.fallback, indent + "  ", "over → ")

    walk(route.start, "  ", "")
    return "\n".join(lines)
