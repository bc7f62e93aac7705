"""`whole_request` (the reader's usual request, built in one native call) makes what
`Request(...)` makes."""

from __future__ import annotations

from hypothesis import given, strategies as st

from aigw.protocol.http11 import Headers, Request, whole_request

SLOTS = Request.__slots__

targets = st.one_of(
    st.sampled_from(["/", "/v1/a/b/openai/chat/completions", "/x?y=1&z", "/caf%C3%A9?q=%20", "/a%2Fb", "/%zz?", "?only"]),
    st.text(alphabet="/%?&=abc2F", max_size=12),
)


@given(targets, st.sampled_from(["GET", "POST", "HEAD"]), st.sampled_from(["1.0", "1.1"]), st.booleans(), st.booleans(), st.binary(max_size=8))
def test_whole_request_leaves_every_slot_as_the_constructor_does(target, method, version, tls, keep_alive, body):
    headers = Headers([(b"host", b"h")])
    made = whole_request(method, target, version, headers, ("127.0.0.1", 1), body, tls, keep_alive)
    built = Request(method, target, version, headers, client=("127.0.0.1", 1), body=body, tls=tls, keep_alive=keep_alive)
    assert type(made) is Request
    assert {name: getattr(made, name) for name in SLOTS} == {name: getattr(built, name) for name in SLOTS}
    assert made.subprotocols is not whole_request(method, target, version, headers, None, body, tls, keep_alive).subprotocols
