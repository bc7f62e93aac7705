"""boto3's `bedrock-runtime` client pointed at the gateway's provider route: boto3 signs for the
gateway's URL with credentials of its own; the gateway re-signs for the upstream with the
stored ones, and the binary event streams come back byte for byte for boto3 to parse."""

import orjson
import pytest
from sdk_helpers import blocking, provider_url

from aigw.testing.simulators.aws_bedrock import ACCESS_KEY_ID

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
INVOKE = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": "north south east"}]}
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "north south east"}]}], "inferenceConfig": {"maxTokens": 64}}


def bedrock_via(gw, region="us-east-1"):
    """A boto3 client whose endpoint is the gateway; its own (fake) credentials only sign the
    hop to the gateway, and the gateway token rides along in `cf-aig-authorization`."""
    client = boto3.client(
        "bedrock-runtime",
        region_name=region,
        endpoint_url=provider_url(gw, "aws-bedrock", "bedrock-runtime", region),
        aws_access_key_id="AKIDCLIENTONLY",
        aws_secret_access_key="not-the-stored-secret",
        config=Config(retries={"max_attempts": 1}),
    )

    def add_gateway_token(request, **_):
        for name, value in gw.headers.items():
            request.headers[name] = value

    client.meta.events.register("before-send.bedrock-runtime.*", add_gateway_token)
    return client


async def test_invoke_model_is_re_signed_with_the_stored_credentials(gateway, sims):
    async with gateway() as gw:
        response = await blocking(bedrock_via(gw).invoke_model, modelId=MODEL, body=orjson.dumps(INVOKE))
        answer = orjson.loads(await blocking(response["body"].read))
    assert answer["content"][0]["text"] == "north south east"
    upstream = sims["aws-bedrock"].last_request
    assert f"Credential={ACCESS_KEY_ID}/" in upstream.headers["Authorization"]
    assert upstream.raw_path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"


async def test_converse_answers_with_usage_logged(gateway, sims):
    async with gateway() as gw:
        answer = await blocking(bedrock_via(gw, "us-west-2").converse, modelId=MODEL, **CONVERSE)
    assert answer["output"]["message"]["content"][0]["text"] == "north south east"
    assert answer["usage"] == {"inputTokens": 3, "outputTokens": 3, "totalTokens": 6}
    (record,) = gw.records
    assert (record.tokens_in, record.tokens_out) == (3, 3)


async def test_invoke_model_with_response_stream_is_parsed_by_boto3(gateway, sims):
    async with gateway() as gw:
        client = bedrock_via(gw)

        def read_stream():
            body = client.invoke_model_with_response_stream(modelId=MODEL, body=orjson.dumps(INVOKE))["body"]
            return [orjson.loads(event["chunk"]["bytes"]) for event in body]

        docs = await blocking(read_stream)
    assert "".join(d["delta"]["text"] for d in docs if d["type"] == "content_block_delta") == "north south east"
    assert docs[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3
    (record,) = gw.records
    assert (record.tokens_in, record.tokens_out) == (3, 3)


async def test_converse_stream_passes_through_byte_for_byte(gateway, sims):
    async with gateway() as gw:
        client = bedrock_via(gw)

        def read_stream():
            return list(client.converse_stream(modelId=MODEL, **CONVERSE)["stream"])

        events = await blocking(read_stream)
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == "north south east"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 3
    (record,) = gw.records
    assert (record.tokens_in, record.tokens_out) == (3, 3)


async def test_bedrocks_errors_reach_boto3_with_their_codes(gateway, sims):
    sims["aws-bedrock"].fail_next(400)
    async with gateway() as gw:
        with pytest.raises(ClientError) as refused:
            await blocking(bedrock_via(gw).converse, modelId=MODEL, **CONVERSE)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert refused.value.response["Error"]["Code"] == "ValidationException"


async def test_anthropics_bedrock_client_through_the_gateway(gateway, sims):
    anthropic = pytest.importorskip("anthropic")
    async with gateway() as gw:
        client = anthropic.AnthropicBedrock(
            aws_access_key="AKIDCLIENTONLY", aws_secret_key="not-the-stored-secret", aws_region="us-east-1",
            base_url=provider_url(gw, "aws-bedrock", "bedrock-runtime", "us-east-1"), default_headers=gw.headers, max_retries=0,
        )
        ask = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "c d"}]}
        answer = await blocking(client.messages.create, **ask)

        def streamed():
            with client.messages.stream(**ask) as stream:
                return stream.get_final_text()

        text = await blocking(streamed)
    assert answer.content[0].text == "c d" and text == "c d"


# ---- usage from Bedrock's token-count response headers ----


def test_usage_is_read_from_the_token_count_headers_in_any_form():
    from aigw.builtins.providers.aws_bedrock import AwsBedrockProvider
    from aigw.types import Usage

    provider = AwsBedrockProvider()
    assert provider.usage_from_headers({"X-Amzn-Bedrock-Input-Token-Count": "12", "X-Amzn-Bedrock-Output-Token-Count": "7"}) == Usage(12, 7)
    assert provider.usage_from_headers([(b"x-amzn-bedrock-input-token-count", b"5")]) == Usage(5, None)
    assert provider.usage_from_headers({"x-amzn-bedrock-input-token-count": "-1", "content-type": "application/json"}) is None
    assert provider.usage_from_headers({}) is None


async def test_the_token_count_headers_reach_the_client_and_agree_with_the_body(gateway, sims):
    from aigw.builtins.providers.aws_bedrock import AwsBedrockProvider

    async with gateway() as gw:
        response = await blocking(bedrock_via(gw).invoke_model, modelId=MODEL, body=orjson.dumps(INVOKE))
        body = await blocking(response["body"].read)
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    provider = AwsBedrockProvider()
    assert provider.usage_from_headers(headers) == provider.usage_from_body(body)
    assert headers["x-amzn-bedrock-output-token-count"] == "3"


async def test_a_mid_stream_exception_reaches_boto3_and_the_log_records_a_failure(gateway, sims):
    sims["aws-bedrock"].fault_next("error", after=1)
    async with gateway() as gw:
        client = bedrock_via(gw)

        def read_stream():
            return list(client.converse_stream(modelId=MODEL, **CONVERSE)["stream"])

        with pytest.raises(Exception, match="(?i)throttling"):
            await blocking(read_stream)
    (record,) = gw.records
    assert record.stream and not record.success
