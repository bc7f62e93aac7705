"""The stubs in _codec.pyi describe the HTTP/stream part of the extension truthfully."""

import ast
import inspect
from pathlib import Path

import aigw
from aigw import _codec

UPSTREAM_NAMES = {
    "HttpParseError": [],
    "parse_request_head": [],
    "parse_response_head": [],
    "ChunkedDecoder": ["feed", "done", "unused_data"],
    "SseDecoder": ["feed", "finish", "retry", "last_event_id"],
    "NdjsonDecoder": ["feed", "finish"],
}


def stub_tree():
    return ast.parse((Path(aigw.__file__).parent / "_codec.pyi").read_text())


def test_every_stubbed_name_and_member_exists():
    stubbed = {n.name: n for n in stub_tree().body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    for name, members in UPSTREAM_NAMES.items():
        assert name in stubbed, name
        assert hasattr(_codec, name), name
        stub_members = {m.name for m in stubbed[name].body if isinstance(m, ast.FunctionDef)} if members else set()
        for m in members:
            assert m in stub_members and hasattr(getattr(_codec, name), m), f"{name}.{m}"


def test_function_signatures_match_the_stubs():
    stubbed = {n.name: n for n in stub_tree().body if isinstance(n, ast.FunctionDef)}
    for name in ("parse_request_head", "parse_response_head"):
        stub = stubbed[name].args
        stub_params = [a.arg for a in stub.args] + [a.arg for a in stub.kwonlyargs]
        assert list(inspect.signature(getattr(_codec, name)).parameters) == stub_params


def test_every_public_name_of_the_extension_has_a_stub():
    tree = stub_tree()
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    stubbed |= {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    stubbed |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert sorted(n for n in dir(_codec) if not n.startswith("_") and n not in stubbed) == []
