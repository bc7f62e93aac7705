"""SigV4 signing cost per request (issue 11; target ≤ 20 µs): a Bedrock InvokeModel request
with a 1 KiB JSON body, signed as `AwsBedrockProvider.build_request` signs it (content-type
and the stored credentials, region of the path, service `bedrock`).

* `aigw sign`: `sigv4.sign` alone (what the target is about);
* `aigw build_request`: the provider's whole request build with a stored key
  (`ACCESS_KEY_ID:SECRET` parsed, headers filtered, URL built, signed);
* `botocore SigV4Auth`: botocore's signer on the same request, the reference measured in the
  same run (`add_auth` on an `AWSRequest`, which is what boto3 does per call).
"""

from __future__ import annotations

import orjson
import pytest

from aigw.builtins.providers.aws_bedrock import AwsBedrockProvider
from aigw.builtins.providers.sigv4 import AwsCredentials, sign
from aigw.types import Call

REGION = "us-east-1"
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1%3A0"
URL = f"https://bedrock-runtime.{REGION}.amazonaws.com/model/{MODEL}/invoke"
CREDENTIALS = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def body_of(size: int) -> bytes:
    """An Anthropic-on-Bedrock InvokeModel body of exactly `size` bytes."""
    doc = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256, "messages": [{"role": "user", "content": ""}]}
    filler = size - len(orjson.dumps(doc))
    doc["messages"][0]["content"] = "x" * filler
    body = orjson.dumps(doc)
    assert len(body) == size
    return body


BODY = body_of(1024)
HEADERS = [("content-type", "application/json")]


def label(benchmark, impl: str) -> None:
    benchmark.extra_info.update(frames=1, payload_bytes=len(BODY), impl=impl, op="sigv4", size="1KiB")


@pytest.mark.benchmark(group="sigv4")
def test_sign(benchmark):
    label(benchmark, "aigw sign")
    out = benchmark(sign, "POST", URL, HEADERS, BODY, CREDENTIALS, REGION, "bedrock")
    assert [n for n, _ in out] == ["x-amz-date", "authorization"]


@pytest.mark.benchmark(group="sigv4")
def test_build_request(benchmark):
    provider = AwsBedrockProvider()
    call = Call("aws-bedrock", f"bedrock-runtime/{REGION}/model/{MODEL}/invoke", BODY, {"content-type": "application/json"})
    key = f"{CREDENTIALS.access_key_id}:{CREDENTIALS.secret_access_key}"
    label(benchmark, "aigw build_request")
    req = benchmark(provider.build_request, call, key)
    assert any(n == "authorization" for n, _ in req.headers)


@pytest.mark.benchmark(group="sigv4")
def test_botocore_sigv4auth(benchmark):
    botocore = pytest.importorskip("botocore")
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signer = SigV4Auth(Credentials(CREDENTIALS.access_key_id, CREDENTIALS.secret_access_key), "bedrock", REGION)

    def sign_with_botocore() -> AWSRequest:
        request = AWSRequest("POST", URL, headers={"content-type": "application/json"}, data=BODY)
        signer.add_auth(request)
        return request

    label(benchmark, f"botocore {botocore.__version__} SigV4Auth")
    assert "Authorization" in benchmark(sign_with_botocore).headers
