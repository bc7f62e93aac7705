"""Dynamic routes: each element type, the percentage split, rate-limit switching, and start-up
validation with file:line errors."""

from __future__ import annotations

import asyncio
import random
import textwrap

import pytest

from aigw.builtins.window_limiter import WindowRateLimiter
from aigw.compat.routes import RouteInput, describe, evaluate, parse_routes
from aigw.config import ConfigError, load_settings
from aigw.errors import RateLimited

GPT = {"type": "model", "provider": "openai", "model": "gpt-4o-mini"}
CLAUDE = {"type": "model", "provider": "anthropic", "model": "claude-sonnet-4-5", "timeout": 5000, "retries": 1}
GEMINI = {"type": "model", "provider": "google-ai-studio", "model": "gemini-2.5-flash"}


def route(start: str, **elements):
    errors: list = []
    routes = parse_routes({"r": {"start": start, "elements": elements}}, lambda path, msg: errors.append((path, msg)))
    assert errors == []
    return routes["r"]


def run(r, metadata=None, headers=None, body=None, limiter=None, rng=random.random):
    inp = RouteInput(metadata or {}, headers or {}, body or {})
    steps = asyncio.run(evaluate(r, inp, limiter if limiter is not None else WindowRateLimiter(), rng))
    return [f"{s.provider}/{s.model}" for s in steps]


def test_a_model_element_is_one_step_with_its_options():
    r = route("claude", claude=CLAUDE)
    steps = asyncio.run(evaluate(r, RouteInput({}, {}, {}), WindowRateLimiter()))
    assert [(s.provider, s.model, s.timeout_ms, s.retries) for s in steps] == [("anthropic", "claude-sonnet-4-5", 5000, 1)]


def test_model_fallbacks_make_an_ordered_chain():
    r = route("claude", claude={**CLAUDE, "fallback": "gpt"}, gpt={**GPT, "fallback": "gemini"}, gemini=GEMINI)
    assert run(r) == ["anthropic/claude-sonnet-4-5", "openai/gpt-4o-mini", "google-ai-studio/gemini-2.5-flash"]


@pytest.mark.parametrize(
    ("when", "inp", "chosen"),
    [
        ({"metadata.plan": "pro"}, {"metadata": {"plan": "pro"}}, "claude"),
        ({"metadata.plan": "pro"}, {"metadata": {"plan": "free"}}, "gpt"),
        ({"headers.X-Team": {"$in": ["a", "b"]}}, {"headers": {"x-team": "b"}}, "claude"),
        ({"body.max_tokens": {"$gt": 1000}}, {"body": {"max_tokens": 2000}}, "claude"),
        ({"body.max_tokens": {"$gt": 1000}}, {"body": {}}, "gpt"),
        ({"metadata.user_id": {"$exists": False}}, {"metadata": {}}, "claude"),
        ({"metadata.plan": {"$ne": "free"}, "body.stream": True}, {"metadata": {"plan": "pro"}, "body": {"stream": True}}, "claude"),
    ],
)
def test_a_conditional_element_chooses_by_metadata_headers_or_body(when, inp, chosen):
    r = route("c", c={"type": "conditional", "when": when, "then": "claude", "else": "gpt"}, claude=CLAUDE, gpt=GPT)
    assert run(r, **inp) == [f"{(CLAUDE if chosen == 'claude' else GPT)['provider']}/{(CLAUDE if chosen == 'claude' else GPT)['model']}"]


def test_a_percentage_split_is_within_tolerance_over_1000_evaluations():
    r = route("p", p={"type": "percentage", "branches": [{"weight": 70, "next": "gpt"}, {"weight": 20, "next": "claude"}], "else": "gemini"}, gpt=GPT, claude=CLAUDE, gemini=GEMINI)
    rng = random.Random(1234).random
    counts: dict[str, int] = {}
    for _ in range(1000):
        (step,) = run(r, rng=rng)
        counts[step] = counts.get(step, 0) + 1
    assert abs(counts["openai/gpt-4o-mini"] - 700) <= 45
    assert abs(counts["anthropic/claude-sonnet-4-5"] - 200) <= 40
    assert abs(counts["google-ai-studio/gemini-2.5-flash"] - 100) <= 30


def test_a_rate_limit_switches_to_its_fallback_after_n_requests_per_key():
    r = route("l", l={"type": "rate_limit", "key": "metadata.user_id", "limit": 3, "interval": 60, "success": "gpt", "fallback": "gemini"}, gpt=GPT, gemini=GEMINI)
    limiter = WindowRateLimiter()
    alice = [run(r, metadata={"user_id": "alice"}, limiter=limiter)[0] for _ in range(5)]
    assert alice == ["openai/gpt-4o-mini"] * 3 + ["google-ai-studio/gemini-2.5-flash"] * 2
    assert run(r, metadata={"user_id": "bob"}, limiter=limiter) == ["openai/gpt-4o-mini"]


def test_a_rate_limit_without_fallback_is_429():
    r = route("l", l={"type": "rate_limit", "key": "headers.x-team", "limit": 1, "success": "gpt"}, gpt=GPT)
    limiter = WindowRateLimiter()
    run(r, headers={"x-team": "a"}, limiter=limiter)
    with pytest.raises(RateLimited) as info:
        run(r, headers={"x-team": "a"}, limiter=limiter)
    assert (info.value.status, info.value.code) == (429, 2003)


def test_describe_prints_a_readable_tree():
    r = route("c", c={"type": "conditional", "when": {"metadata.plan": "pro"}, "then": "claude", "else": "gpt"}, claude={**CLAUDE, "fallback": "gpt2"}, gpt=GPT, gpt2=GPT)
    assert describe(r) == textwrap.dedent(
        """\
        dynamic/r
          c: if metadata.plan $eq 'pro'
            then → claude: model anthropic/claude-sonnet-4-5, timeout=5000, retries=1
              fallback → gpt2: model openai/gpt-4o-mini
            else → gpt: model openai/gpt-4o-mini"""
    )


def _load(tmp_path, text: str):
    path = tmp_path / "aigw.toml"
    path.write_text(textwrap.dedent(text))
    return load_settings(path, environ={})


def test_routes_load_from_toml(tmp_path):
    settings = _load(tmp_path, """
        [routes.support]
        start = "gpt"
        [routes.support.elements.gpt]
        type = "model"
        provider = "openai"
        model = "gpt-4o-mini"
        """)
    assert run(settings.routes["support"]) == ["openai/gpt-4o-mini"]


@pytest.mark.parametrize(
    ("toml", "line", "fragment"),
    [
        ('[routes.r]\nstart = "a"\n[routes.r.elements.a]\ntype = "model"\nprovider = "openai"\nmodel = "m"\nfallback = "b"\n[routes.r.elements.b]\ntype = "model"\nprovider = "openai"\nmodel = "m"\nfallback = "a"\n', None, "cycle"),
        ('[routes.r]\nstart = "a"\n[routes.r.elements.a]\ntype = "conditional"\nwhen = { "metadata.x" = 1 }\nthen = "nope"\nelse = "a"\n', 6, "does not exist"),
        ('[routes.r]\nstart = "a"\n[routes.r.elements.a]\ntype = "teleport"\n', 4, "type must be"),
        ('[routes.r]\nstart = "a"\n[routes.r.elements.a]\ntype = "percentage"\nbranches = [{ weight = 60, next = "b" }]\n[routes.r.elements.b]\ntype = "model"\nprovider = "openai"\nmodel = "m"\n', 3, "add `else`"),
        ('[routes.r]\nstart = "a"\n[routes.r.elements.a]\ntype = "model"\nprovider = "openai"\nmodel = "m"\n[routes.r.elements.orphan]\ntype = "model"\nprovider = "openai"\nmodel = "m"\n', 7, "never reached"),
        ('[routes.r]\nstart = "a"\n[routes.r.elements.a]\ntype = "rate_limit"\nkey = "metadata.u"\nlimit = 5\nlimit_type = "cost"\nsuccess = "a"\n', 7, "only \"count\""),
        ('[routes.r]\nstart = "a"\n[routes.r.elements.a]\ntype = "model"\nprovider = "openai"\nmodel = "m"\nretries = 9\n', 7, "between 0 and 5"),
    ],
    ids=["cycle", "missing-element", "unknown-type", "weights-without-else", "unreachable", "cost-limit", "retries-out-of-range"],
)
def test_invalid_routes_stop_start_up_with_file_and_line(tmp_path, toml, line, fragment):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, toml)
    message = str(info.value)
    assert fragment in message
    assert f"aigw.toml:{line}:" in message if line else "aigw.toml:" in message
