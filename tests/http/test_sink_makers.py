"""The doors' per-request objects made in one native call (slot writers) are what their
classes' `__init__` makes: the HTTP sink, the /compat pass-through sink, the streamed response."""

from __future__ import annotations

import pytest

from aigw.api.compat_routes import _passthrough_sink
from aigw.api.http_sink import HttpSink, plain_http_sink
from aigw.errors import RateLimited
from aigw.pipeline import Answer
from aigw.server.app import StreamedResponse, streamed_response

ANSWER = Answer("evt-1", "log-1", 2, 200, "application/json", "MISS")
ANSWERING = [("cf-aig-provider", "openai"), ("cf-aig-model", "gpt-4o-mini")]


class Response:
    """Records what a sink sends."""

    started = False

    def __init__(self) -> None:
        self.sent: list[tuple[int, list, bytes]] = []

    def send_whole(self, status, headers, body) -> None:
        self.sent.append((status, headers, body))


@pytest.mark.parametrize("step_header", [False, True])
def test_a_plain_http_sink_says_what_an_http_sink_says(step_header):
    made, built = plain_http_sink(Response(), step_header), HttpSink(Response(), step_header=step_header)
    assert made.gateway_headers(ANSWER) == built.gateway_headers(ANSWER)
    assert made.step_header is step_header and type(made) is HttpSink


def test_a_plain_http_sink_delivers_as_an_http_sink_does():
    made, built = plain_http_sink(Response(), False), HttpSink(Response(), step_header=False)
    for sink in (made, built):
        sink.deliver(ANSWER, b"{}")
        sink.fail(ANSWER, RateLimited("too many"))
    assert made.response.sent == built.response.sent


def test_the_passthrough_sink_adds_the_answering_step_and_keeps_its_list_as_it_was():
    sink = _passthrough_sink(Response(), "openai", ANSWERING)
    expected = HttpSink(Response(), step_header=False, extra_headers=ANSWERING).gateway_headers(ANSWER)
    assert sink.gateway_headers(ANSWER) == sink.gateway_headers(ANSWER) == expected
    assert ANSWERING == [("cf-aig-provider", "openai"), ("cf-aig-model", "gpt-4o-mini")]


def test_a_streamed_response_made_natively_is_a_streamed_response():
    async def produce(response) -> None:
        return None

    made = streamed_response(produce)
    assert type(made) is StreamedResponse and made.produce is produce
