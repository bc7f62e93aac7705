"""SigV4: AWS's published test suite, and botocore's signer on random requests (differential)."""

import calendar
import datetime
import random
import string
from unittest import mock
from urllib.parse import quote

import pytest

from aigw.builtins.providers.sigv4 import AwsCredentials, canonical_query, host_of, sign

SUITE_CREDENTIALS = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = calendar.timegm((2015, 8, 30, 12, 36, 0))
STS_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/"
    "qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)
UNRESERVED = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# AWS Signature Version 4 test suite (2015-08-30 edition: region us-east-1, service "service",
# the suite's example credentials). name → (method, path, query, headers, body, signature).
SUITE = {
    "get-vanilla": ("GET", "/", "", [], b"", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    "get-vanilla-query-order-key-case": ("GET", "/", "Param2=value2&Param1=value1", [], b"", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    "get-vanilla-query-unreserved": ("GET", "/", f"{UNRESERVED}={UNRESERVED}", [], b"", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    "get-vanilla-utf8-query": ("GET", "/", "ሴ=bar", [], b"", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    "get-unreserved": ("GET", "/" + UNRESERVED, "", [], b"", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    "get-utf8": ("GET", "/ሴ", "", [], b"", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    "get-header-key-duplicate": ("GET", "/", "", [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")], b"", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
    "get-header-value-order": ("GET", "/", "", [("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"), ("My-Header1", "value2")], b"", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
    "get-header-value-trim": ("GET", "/", "", [("My-Header1", " value1"), ("My-Header2", ' "a   b   c"')], b"", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    "post-vanilla": ("POST", "/", "", [], b"", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    "post-vanilla-query": ("POST", "/", "Param1=value1", [], b"", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    "post-vanilla-query-nonunreserved": ("POST", "/", quote("@#$%^", safe="") + "=&" + quote("+", safe="") + "=" + quote('/,?><`";:\\|][{}', safe=""), [], b"", "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"),
    "post-header-key-sort": ("POST", "/", "", [("My-Header1", "value1")], b"", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
    "post-header-value-case": ("POST", "/", "", [("My-Header1", "VALUE1")], b"", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    "post-x-www-form-urlencoded": ("POST", "/", "", [("Content-Type", "application/x-www-form-urlencoded")], b"Param1=value1", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    "post-x-www-form-urlencoded-parameters": ("POST", "/", "", [("Content-Type", "application/x-www-form-urlencoded; charset=utf8")], b"Param1=value1", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
}


@pytest.mark.parametrize("name", sorted(SUITE))
def test_aws_sigv4_test_suite(name):
    method, path, query, headers, body, signature = SUITE[name]
    url = "https://example.amazonaws.com" + path + ("?" + query if query else "")
    added = dict(sign(method, url, headers, body, SUITE_CREDENTIALS, "us-east-1", "service", now=SUITE_TIME))
    assert added["x-amz-date"] == "20150830T123600Z"
    assert added["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=")
    assert added["authorization"].endswith(f"Signature={signature}")


def test_aws_sigv4_test_suite_temporary_credentials_sign_the_token():
    creds = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", STS_TOKEN)
    added = dict(sign("POST", "https://example.amazonaws.com/", [], b"", creds, "us-east-1", "service", now=SUITE_TIME))
    assert added["x-amz-security-token"] == STS_TOKEN
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in added["authorization"]
    assert added["authorization"].endswith("Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")


def test_a_clients_own_signature_headers_are_replaced_not_signed():
    stale = [("Authorization", "AWS4-HMAC-SHA256 old"), ("X-Amz-Date", "20150830T123600Z"), ("Host", "gateway.local")]
    fresh = dict(sign("GET", "https://example.amazonaws.com/", stale, b"", SUITE_CREDENTIALS, "us-east-1", "service", now=SUITE_TIME))
    assert fresh["authorization"].endswith("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")


def test_host_drops_only_default_ports():
    assert host_of("https://h.example:443/x") == "h.example"
    assert host_of("http://127.0.0.1:8080/x") == "127.0.0.1:8080"


def test_the_canonical_query_is_sorted_and_uniformly_encoded():
    assert canonical_query("b=2&a=%3a&c=x y") == "a=%3A&b=2&c=x%20y"


# ---- differential: botocore's SigV4Auth on random requests ----

_SAFE_PATH = string.ascii_letters + string.digits + "-._~:@!$'()*+,;="


def _random_request(rng: random.Random):
    segments = ["".join(rng.choice(_SAFE_PATH + "ሴé ") for _ in range(rng.randint(1, 12))) for _ in range(rng.randint(1, 4))]
    path = "/" + "/".join(quote(s, safe="") for s in segments)  # encoded once, as on the wire
    params = sorted({"".join(rng.choice(string.ascii_letters + "-_") for _ in range(rng.randint(1, 6))): "".join(rng.choice(string.printable[:94]) for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(0, 3))}.items())
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params)
    headers = [("content-type", rng.choice(["application/json", "application/x-amz-json-1.1"]))]
    headers += [(f"x-amz-meta-{i}", "  ".join(rng.choice(["a", "b  c", "d"]) for _ in range(2))) for i in range(rng.randint(0, 2))]
    host = rng.choice(["bedrock-runtime.us-east-1.amazonaws.com", "127.0.0.1:" + str(rng.randint(1024, 65535))])
    scheme = "https" if "amazonaws" in host else "http"
    url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
    return rng.choice(["GET", "POST", "PUT"]), url, headers, body


@pytest.mark.parametrize("seed", range(200))
def test_signatures_match_botocores_sigv4auth(seed):
    botocore_auth = pytest.importorskip("botocore.auth")
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    rng = random.Random(seed)
    method, url, headers, body = _random_request(rng)
    token = rng.choice([None, "FwoGZXIvYXdzEXAMPLETOKEN"])
    region = rng.choice(["us-east-1", "eu-west-3", "ap-southeast-2"])
    when = rng.randint(1_600_000_000, 1_900_000_000)
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    frozen = datetime.datetime.fromtimestamp(when, datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch.object(botocore_auth, "get_current_datetime", return_value=frozen):
        botocore_auth.SigV4Auth(Credentials("AKIDTEST", "secret/" + str(seed), token), "bedrock", region).add_auth(request)
    ours = dict(sign(method, url, headers, body, AwsCredentials("AKIDTEST", "secret/" + str(seed), token), region, "bedrock", now=when))
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
