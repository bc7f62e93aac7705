"""AWS Signature Version 4 for requests the gateway sends to AWS (Bedrock), in plain hashlib/hmac.

`sign()` returns the headers to add: `x-amz-date`, `x-amz-security-token` (temporary
credentials) and `authorization`. The canonical request follows AWS's rules for every service
but S3 (providers.md §5.2):

* canonical URI: the path as sent on the wire, URI-encoded once more (`%3A` → `%253A`), no
  dot-segment normalisation (endpoints with dot segments never get this far);
* canonical query: each name and value decoded then encoded with only `A-Za-z0-9-_.~` left
  as is, pairs sorted by encoded name, then value;
* signed headers: `host` (the URL's authority, default port dropped) plus every header given
  (lowercase names, values trimmed with inner whitespace runs collapsed, repeated names joined
  by `,`);
* payload hash: hex SHA-256 of the body.

Tested against AWS's published SigV4 test suite and, differentially, against botocore's
`SigV4Auth` on random requests (tests/providers/test_sigv4.py).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import SplitResult, quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
_SPACES = re.compile(r"\s+")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Headers `sign` computes itself: a caller's copies (a client's own signature) are not signed.
_REPLACED = frozenset({"host", "authorization", "x-amz-date", "x-amz-security-token"})


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An access key pair, with the session token of temporary credentials."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def host_of(url: str) -> str:
    """The `host` header value for `url`: its authority without a default port."""
    return _host_of(urlsplit(url))


def _host_of(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and str(port) != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    return host


def canonical_query(query: str) -> str:
    """Name=value pairs decoded, re-encoded with the unreserved set only, sorted."""
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


@functools.lru_cache(maxsize=256)
def _url_parts(url: str) -> tuple[str, str, str]:
    """(host header, canonical URI, canonical query) of `url`. A gateway signs the same few
    URLs over and over (one per model and operation), so they are cached: parsing and quoting
    were half the cost of a signature."""
    parts = urlsplit(url)
    return _host_of(parts), quote(parts.path or "/", safe="/~"), canonical_query(parts.query)


@functools.lru_cache(maxsize=64)
def _derive_key(secret: str, day: str, region: str, service: str) -> bytes:
    """The signing key: valid for a day, so cached (five HMACs saved per request)."""
    key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: float | None = None,
) -> list[tuple[str, str]]:
    """The headers that authenticate this request to AWS: `x-amz-date`, `x-amz-security-token`
    (when the credentials carry one) and `authorization`. Every header in `headers` is signed,
    so pass exactly those the request will carry unchanged (not hop-by-hop ones); `host`,
    `authorization`, `x-amz-date` and `x-amz-security-token` among them are ignored (the
    caller replaces them with the returned ones)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    day = stamp[:8]
    added = [("x-amz-date", stamp)]
    if credentials.session_token:
        added.append(("x-amz-security-token", credentials.session_token))
    host, canonical_uri, query = _url_parts(url)
    signed: dict[str, list[str]] = {"host": [host]}
    for name, value in headers:
        lname = name.lower()
        if lname not in _REPLACED:
            signed.setdefault(lname, []).append(_SPACES.sub(" ", value.strip()))
    for name, value in added:
        signed[name] = [value]
    names = sorted(signed)
    canonical = "\n".join(
        (
            method.upper(),
            canonical_uri,
            query,
            "".join(f"{name}:{','.join(signed[name])}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _derive_key(credentials.secret_access_key, day, region, service)
    signature = hmac.digest(key, to_sign.encode(), "sha256").hex()
    authorization = f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    return [*added, ("authorization", authorization)]
