"""`response_writer` (the server's per-request writer, built in one native call) makes what
`ResponseWriter(...)` makes."""

from __future__ import annotations

import itertools

import pytest

from aigw.server.http_response import ResponseWriter, response_writer

SLOTS = ResponseWriter.__slots__


@pytest.mark.parametrize("method, http_version, keep_alive", list(itertools.product(("GET", "HEAD", "POST"), ("1.0", "1.1"), (False, True))))
def test_response_writer_leaves_every_slot_as_the_constructor_does(method, http_version, keep_alive):
    channel = object()
    made = response_writer(channel, method, http_version, keep_alive)  # type: ignore[arg-type]
    built = ResponseWriter(channel, method=method, http_version=http_version, keep_alive=keep_alive)  # type: ignore[arg-type]
    assert type(made) is ResponseWriter
    assert {name: getattr(made, name) for name in SLOTS} == {name: getattr(built, name) for name in SLOTS}
