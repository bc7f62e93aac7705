"""The upstream client's own guard on request heads (defence in depth behind aigw.validation):
a header it cannot encode is refused naming the header, and nothing it raises carries the value."""

from __future__ import annotations

import traceback

import pytest

from aigw.upstream import UpstreamClient

SECRET = "sk-live-SECRET0123456789abcdef"


async def test_an_unencodable_header_value_is_refused_naming_the_header_not_the_value():
    async with UpstreamClient() as client:
        with pytest.raises(ValueError) as info:
            await client.request("POST", "http://127.0.0.1:9/v1/x", {"Authorization": f"Bearer {SECRET}\u2028"}, b"{}")
    assert "'Authorization'" in str(info.value)
    shown = "".join(traceback.format_exception(info.value)) + repr(info.value.args)
    assert SECRET not in shown and info.value.__context__ is None and info.value.__cause__ is None
