"""What a client may put on the upstream wire, checked before any byte is written.

A step's `headers` and `endpoint` become part of an HTTP/1.1 request on a connection that is
pooled and shared by every client, so they are checked here, once, where the pipeline plans a
step (every surface goes through it) and again where provider URLs are joined:

* header names are RFC 9110 tokens and values are field-values (no CR, LF, NUL or other
  controls; characters above U+00FF are refused rather than guessed at);
* the headers that frame the message or describe one hop belong to the gateway and are never
  taken from a client (`GATEWAY_OWNED`, and any `proxy-*`);
* an endpoint is a relative path of URI characters with no dot segments, plain or
  percent-encoded, so it can never leave the provider's configured base path.

A mistake is the client's: BadRequest (400, code 2010) naming the field. Messages never repeat a
header value or an endpoint (either may carry a credential); they name the offending character
by code point and position.
"""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import unquote

from aigw.errors import BadRequest

# Framing and hop-by-hop headers (RFC 9110 §7.6.1, §6.4.1, §10.1.1): the gateway writes its
# own Host and Content-Length; the rest describe a connection the client does not share.
GATEWAY_OWNED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive", "expect"}
)

# RFC 9110 §5.6.2 tchar: a field name is one or more of these.
_NOT_TCHAR = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
# RFC 9110 §5.5 field-value: VCHAR, SP, HTAB and obs-text (U+0080..U+00FF, sent as its byte).
_NOT_FIELD_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
# RFC 3986 path and query characters (pchar, "/", "?") and percent escapes. No backslash, no
# space or controls, no "#", nothing outside ASCII: such an endpoint must be percent-encoded;
# a "%" must start an escape.
_NOT_ENDPOINT = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]|%(?![0-9A-Fa-f]{2})")
_SHOWN_NAME = 64  # at most this much of a bad header name is repeated in an error


def _char(ch: str) -> str:
    """A character as an error message shows it: quoted when printable ASCII, else U+XXXX."""
    return repr(ch) if " " < ch < "\x7f" else f"U+{ord(ch):04X}"


class CheckedHeaders(dict):
    """Headers already in `header_fields`' form: lowercase token names the gateway does not
    own, string field values without surrounding spaces. An HTTP door builds them from what its
    parser accepted (which enforces the same rules on the wire) minus the client's hop, so the
    pipeline need not check every header a second time. Only build one from such headers.

    As a step's headers (the provider route's) they hold no per-request option: the door put
    every `cf-aig-*` header, and a copy of `traceparent`, in the request's options."""

    __slots__ = ()


def header_fields(headers: Mapping[str, Any], where: str) -> dict[str, str]:
    """`headers` checked and normalised: lowercase names, string values (booleans and numbers
    as JSON spells them), surrounding spaces and tabs removed from values.

    Raises BadRequest, with `where` (e.g. "step 0") in the message, for a name that is not a
    token, a gateway-owned name, a value that is not a string, number or boolean, or a value
    with a character a field-value cannot hold. The message names the header (or, for a bad
    name, the part before the bad character) and never its value."""
    if headers.__class__ is CheckedHeaders:
        return dict(headers)  # checked where they were parsed (see CheckedHeaders)
    out: dict[str, str] = {}
    for name, value in headers.items():
        lower = _ACCEPTED_NAMES.get(name)
        if lower is None:
            lower = _accepted_name(name, where)
        if value.__class__ is str:
            value = value.strip(" \t")
            # Printable ASCII (the common case) is settled by two C-speed checks.
            if not (value.isascii() and value.isprintable()):
                bad = _NOT_FIELD_VALUE.search(value)
                if bad is not None:
                    raise BadRequest(
                        f"{where}: header {name!r} has a value with {_char(bad.group())} at position {bad.start()} "
                        "(control characters and characters above U+00FF are not allowed)"
                    )
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        else:
            raise BadRequest(f"{where}: header {name!r} must be a string")
        out[lower] = value
    return out


# Names already accepted, with their lowercase form: the same few names come in every request.
_ACCEPTED_NAMES: dict[str, str] = {}
_ACCEPTED_NAMES_MAX = 1024


def _accepted_name(name: Any, where: str) -> str:
    """`name` lowercased once it is checked to be a token the gateway does not own."""
    if not isinstance(name, str):
        raise BadRequest(f"{where}: a header name is not a string")
    if not name:
        raise BadRequest(f"{where}: a header name is empty")
    bad = _NOT_TCHAR.search(name)
    if bad is not None:
        i = bad.start()
        shown = name[: min(i, _SHOWN_NAME)]
        raise BadRequest(
            f"{where}: header name {shown!r}{'…' if i else ''} is not valid: {_char(name[i])} at position {i} "
            "(a header name is a token: letters, digits and !#$%&'*+-.^_`|~)"
        )
    lower = name.lower()
    if lower in GATEWAY_OWNED or lower.startswith("proxy-"):
        raise BadRequest(f"{where}: header {name!r} is set by the gateway and cannot be sent by a client")
    if len(_ACCEPTED_NAMES) < _ACCEPTED_NAMES_MAX:
        _ACCEPTED_NAMES[name] = lower
    return lower


def check_endpoint(endpoint: str, where: str) -> None:
    """Refuse an endpoint that could leave the provider's base path or is not a clean URI path:
    a character outside RFC 3986's path and query set (spaces, controls, DEL, backslash,
    non-ASCII), or a `.` / `..` segment, however percent-encoded. Raises BadRequest naming the
    endpoint field, never repeating it (a query string may carry a key)."""
    if "?" in endpoint:  # a query string may carry a key: never kept in the memo
        _check_endpoint(endpoint, where)
    elif endpoint not in _PASSED_ENDPOINTS:
        _check_endpoint(endpoint, where)
        if len(_PASSED_ENDPOINTS) < _PASSED_ENDPOINTS_MAX:
            _PASSED_ENDPOINTS.add(endpoint)


def _check_endpoint(endpoint: str, where: str) -> None:
    bad = _NOT_ENDPOINT.search(endpoint)
    if bad is not None:
        raise BadRequest(
            f"{where}: endpoint has {_char(endpoint[bad.start()])} at position {bad.start()} "
            "(an endpoint is a percent-encoded ASCII path, without spaces, controls or backslashes)"
        )
    path = endpoint.split("?", 1)[0]
    if "." not in path and "%" not in path:
        return  # the common case: nothing that could spell a dot segment
    # Decode until stable (so %252e%252e counts too); an encoded "/" or "\" separates as well.
    decoded, previous = path, None
    while decoded != previous:
        previous, decoded = decoded, unquote(decoded)
    for segment in re.split(r"[/\\]", decoded):
        if segment in (".", ".."):
            raise BadRequest(f"{where}: endpoint must not contain '.' or '..' path segments (also percent-encoded)")


#: Endpoints without a query that `_check_endpoint` passed (a gateway calls few); a refusal
#: raises and is not remembered.
_PASSED_ENDPOINTS: set[str] = set()
_PASSED_ENDPOINTS_MAX = 4096


def checked_step_headers(request_headers: Mapping[str, Any], step_headers: Mapping[str, Any] | None, endpoint: str, where: str) -> dict[str, str]:
    """Check what the client wrote for one step before any I/O (see `header_fields` and
    `check_endpoint`) and return its headers over the request-level ones, lowercase names.

    `request_headers` are the request-level headers a surface hands in; a surface that received
    them over HTTP drops its own hop's headers (Host, Content-Length, Connection...) first."""
    if endpoint not in _PASSED_ENDPOINTS:  # check_endpoint's memo, read without its call
        check_endpoint(endpoint, where)
    merged = header_fields(request_headers, f"{where} (request headers)") if request_headers else {}
    if step_headers:
        # Checked headers are merged as they are: header_fields' copy of them would be a
        # second one, thrown away after the update.
        merged.update(step_headers if step_headers.__class__ is CheckedHeaders else header_fields(step_headers, where))
    return merged
