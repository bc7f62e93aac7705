"""aws-bedrock: Cloudflare's URL form, SigV4 re-signing with stored credentials, Bearer API keys
passed as is, event streams decoded to relayable JSON, usage; the simulator checked with boto3."""

import base64

import aiohttp
import orjson
import pytest
import yarl
from provider_helpers import ask

from aigw import _codec
from aigw.builtins.providers.aws_bedrock import AwsBedrockProvider, BedrockCredentials, BedrockStreamDecoder, relayable
from aigw.errors import BadRequest, ProviderFailed
from aigw.testing.simulators.aws_bedrock import ACCESS_KEY_ID, API_KEY, SECRET, SESSION, es_message
from aigw.types import Call, Framing, Usage

MODEL = "anthropic.claude-3-haiku-20240307-v1%3A0"
INVOKE = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": "north south east"}]}
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "north south east"}]}], "inferenceConfig": {"maxTokens": 64}}


def call(operation, body=INVOKE, headers=None, region="us-east-1"):
    return Call("aws-bedrock", f"bedrock-runtime/{region}/model/{MODEL}/{operation}", orjson.dumps(body), headers or {})


# ---- requests ----


def test_the_path_goes_to_the_regional_host_with_the_model_id_still_encoded():
    req = AwsBedrockProvider().build_request(call("invoke", region="eu-west-3"), f"{ACCESS_KEY_ID}:{SECRET}")
    assert req.url == f"https://bedrock-runtime.eu-west-3.amazonaws.com/model/{MODEL}/invoke"


@pytest.mark.parametrize("endpoint", ["model/x/invoke", "bedrock-runtime/us-east-1", "bedrock-runtime/us east/model/x/invoke", "bedrock-runtime/us-east-1/model/../../x"])
def test_other_endpoints_are_client_errors(endpoint):
    with pytest.raises(BadRequest):
        AwsBedrockProvider().build_request(Call("aws-bedrock", endpoint, b"{}"), f"{ACCESS_KEY_ID}:{SECRET}")


def test_stored_credentials_sign_for_the_upstream_region_and_service():
    req = AwsBedrockProvider().build_request(call("converse", CONVERSE, region="ap-southeast-2"), f"{ACCESS_KEY_ID}:{SECRET}")
    headers = dict(req.headers)
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
    assert "/ap-southeast-2/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, " in headers["authorization"]


def test_a_clients_own_signature_is_replaced_not_forwarded():
    client = {"authorization": "AWS4-HMAC-SHA256 Credential=CLIENT/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64, "x-amz-date": "20250101T000000Z", "x-amz-security-token": "client-token"}
    provider = AwsBedrockProvider()
    assert not provider.has_client_auth(client)
    req = provider.build_request(call("invoke", headers=client), f"{ACCESS_KEY_ID}:{SECRET}")
    names = [n for n, _ in req.headers]
    assert names.count("authorization") == 1 and names.count("x-amz-date") == 1 and "x-amz-security-token" not in names
    assert "CLIENT" not in dict(req.headers)["authorization"]


def test_a_bedrock_api_key_from_the_client_is_passed_as_is():
    provider = AwsBedrockProvider()
    headers = {"authorization": "Bearer ABSKclient"}
    assert provider.has_client_auth(headers)
    assert ("authorization", "Bearer ABSKclient") in provider.build_request(call("invoke", headers=headers), None).headers


@pytest.mark.parametrize(
    "stored,aws,api_key",
    [
        ("AKID:SECRET", ("AKID", "SECRET", None), None),
        ("AKID:SECRET:TOKEN", ("AKID", "SECRET", "TOKEN"), None),
        ('{"access_key_id":"AKID","secret_access_key":"S","session_token":"T"}', ("AKID", "S", "T"), None),
        ('{"api_key":"ABSKx"}', None, "ABSKx"),
    ],
)
def test_stored_key_forms(stored, aws, api_key):
    creds = BedrockCredentials(stored)
    assert (creds.aws and (creds.aws.access_key_id, creds.aws.secret_access_key, creds.aws.session_token)) == aws
    assert creds.api_key == api_key


def test_a_malformed_stored_key_fails_without_echoing_it():
    with pytest.raises(ProviderFailed) as failed:
        AwsBedrockProvider().build_request(call("invoke"), "not-a-key-s3cr3t")
    assert "s3cr3t" not in str(failed.value)


# ---- answers ----


def test_streams_are_framed_as_event_streams():
    assert AwsBedrockProvider().framing(call("converse-stream"), 200, "application/vnd.amazon.eventstream") is Framing.EVENTSTREAM


def test_invoke_chunks_relay_the_decoded_model_event():
    event = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}'
    payload = orjson.dumps({"bytes": base64.b64encode(event).decode(), "p": "abc"})
    assert relayable({":message-type": "event", ":event-type": "chunk"}, payload) == event


DELTA = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi???"}}'
B64 = base64.b64encode(DELTA).decode()
assert "/" in B64  # the escaped-slash case below needs one


@pytest.mark.parametrize(
    "payload",
    [
        orjson.dumps({"bytes": B64, "p": "abc"}),  # as AWS sends it
        orjson.dumps({"p": "abc", "bytes": B64}),  # another key order
        b'{ "bytes" : "' + B64.encode() + b'" }',  # whitespace
        b'{"bytes":"' + B64.replace("/", "\\/").encode() + b'","p":"a"}',  # an escaped "/"
    ],
    ids=["aws", "key-order", "spaces", "escaped-slash"],
)
def test_the_stream_decoder_decodes_a_chunk_in_any_json_spelling(payload):
    message = es_message({":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload)
    assert BedrockStreamDecoder().feed(message) == [DELTA]


def test_a_chunk_with_bad_base64_fails_the_stream():
    message = es_message({":event-type": "chunk", ":message-type": "event"}, b'{"bytes":"not*base64","p":"a"}')
    with pytest.raises(ValueError, match="invalid base64"):
        BedrockStreamDecoder().feed(message)


def test_an_exception_message_shaped_like_a_chunk_still_fails_the_stream():
    message = es_message({":message-type": "exception", ":exception-type": "modelStreamErrorException"}, b'{"bytes":"' + B64.encode() + b'"}')
    with pytest.raises(ValueError, match="modelStreamErrorException"):
        BedrockStreamDecoder().feed(message)


def test_converse_events_relay_keyed_by_their_type_as_boto3_shows_them():
    data = relayable({":message-type": "event", ":event-type": "contentBlockDelta"}, b'{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"ab"}')
    assert orjson.loads(data) == {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi"}, "p": "ab"}}


def test_an_exception_message_fails_the_stream_naming_the_exception():
    with pytest.raises(ValueError, match="throttlingException"):
        relayable({":message-type": "exception", ":exception-type": "throttlingException"}, b'{"message":"slow down"}')


# The relays use the Rust `StreamRelay` (framing "eventstream"); `BedrockStreamDecoder` is the
# same conversion for Python callers. Both must give every message the same JSON, or fail alike.
SPELLINGS = [
    ({":event-type": "chunk", ":message-type": "event"}, orjson.dumps({"bytes": B64, "p": "abc"})),
    ({":event-type": "chunk", ":message-type": "event"}, orjson.dumps({"p": "abc", "bytes": B64})),
    ({":event-type": "chunk", ":message-type": "event"}, b'{"bytes":"' + B64.replace("/", "\\/").encode() + b'"}'),
    ({":event-type": "chunk"}, orjson.dumps({"bytes": B64})),
    ({":event-type": "chunk", ":message-type": "event"}, b'{"other":1}'),
    ({":event-type": "chunk", ":message-type": "event"}, b"not json"),
    ({":event-type": "chunk", ":message-type": "event"}, b'{"bytes":""}'),
    ({":event-type": "contentBlockDelta", ":message-type": "event"}, b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}'),
    ({":event-type": "metadata", ":message-type": "event"}, b'{"usage":{"inputTokens":3,"outputTokens":3}}'),
    ({":message-type": "event"}, b'{"plain":true}'),
]
FAILURES = [
    ({":event-type": "chunk", ":message-type": "event"}, b'{"bytes":"not*base64","p":"a"}'),
    ({":event-type": "chunk", ":message-type": "event"}, b'{"bytes":"QQ"}'),
    ({":message-type": "exception", ":exception-type": "modelStreamErrorException"}, b'{"bytes":"' + B64.encode() + b'"}'),
    ({":message-type": "exception"}, b'{"message":"secret"}'),
    ({":message-type": "error", ":error-code": "InternalFailure"}, b""),
]


def rust_relayed(reads):
    """The payloads the Rust relay sends for `reads` (kept as its first payloads)."""
    relay = _codec.StreamRelay("e", "eventstream", keep_first=64, keep_last=0)
    for read in reads:
        relay.feed(read)
    assert relay.finish() is False
    return list(relay.first)


def test_the_rust_relay_sends_what_the_python_decoder_gives_however_the_stream_is_cut():
    wire = b"".join(es_message(h, p) for h, p in SPELLINGS)
    want = BedrockStreamDecoder().feed(wire)
    assert len(want) == len(SPELLINGS)
    for cut in range(0, len(wire) + 1, 3):
        assert rust_relayed([wire[:cut], wire[cut:]]) == want, cut


@pytest.mark.parametrize("headers,payload", FAILURES, ids=["bad-base64", "bad-padding", "exception-like-chunk", "exception", "error"])
def test_the_rust_relay_fails_where_the_python_decoder_fails_with_the_same_message(headers, payload):
    wire = es_message({":event-type": "chunk", ":message-type": "event"}, orjson.dumps({"bytes": B64})) + es_message(headers, payload)
    with pytest.raises(ValueError) as python:
        BedrockStreamDecoder().feed(wire)
    relay = _codec.StreamRelay("e", "eventstream")
    with pytest.raises(ValueError) as rust:
        relay.feed(wire)
    assert str(rust.value) == str(python.value) and b"secret" not in str(rust.value).encode()
    assert relay.events == 1, "the event before the failure was relayed"


def test_usage_of_converse_and_of_invoke_bodies():
    provider = AwsBedrockProvider()
    assert provider.usage_from_body(b'{"usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7}}') == Usage(5, 2)
    assert provider.usage_from_body(b'{"type":"message","usage":{"input_tokens":4,"output_tokens":3}}') == Usage(4, 3)


def test_stream_usage_from_the_metadata_event_or_the_invocation_metrics():
    provider = AwsBedrockProvider()
    assert provider.usage_from_events([], [b'{"messageStop":{}}', b'{"metadata":{"usage":{"inputTokens":5,"outputTokens":2}}}']) == Usage(5, 2)
    assert provider.usage_from_events([], [b'{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":9,"outputTokenCount":4}}']) == Usage(9, 4)


# ---- the provider's requests against the simulator (signature checked there) ----


async def send(sim, provider_request):
    async with aiohttp.ClientSession() as http:
        url = yarl.URL(provider_request.url, encoded=True)  # as the gateway sends it: %3A stays
        async with http.request(provider_request.method, url, headers=provider_request.headers, data=provider_request.body) as resp:
            return resp.status, resp.headers.get("content-type", ""), await resp.read()


@pytest.mark.parametrize("operation,body", [("converse-stream", CONVERSE), ("invoke-with-response-stream", INVOKE)])
async def test_a_signed_stream_from_the_simulator_decodes_to_relayable_events_with_usage(sims, operation, body):
    sim = sims["aws-bedrock"]
    provider = AwsBedrockProvider(base_url=sim.base_url())
    status, content_type, wire = await send(sim, provider.build_request(call(operation, body), sim.key))
    assert (status, content_type) == (200, "application/vnd.amazon.eventstream")
    decoder = BedrockStreamDecoder()
    events = [e for i in range(0, len(wire), 7) for e in decoder.feed(wire[i : i + 7])]
    assert decoder.finish() is False
    docs = [orjson.loads(e) for e in events]
    if operation == "converse-stream":
        text = "".join(d["contentBlockDelta"]["delta"]["text"] for d in docs if "contentBlockDelta" in d)
    else:
        text = "".join(d["delta"]["text"] for d in docs if d["type"] == "content_block_delta")
    assert text == "north south east"
    assert provider.usage_from_events(events[:1], events[-2:]) == Usage(3, 3)


async def test_the_simulator_refuses_a_request_signed_for_another_body(sims):
    sim = sims["aws-bedrock"]
    request = AwsBedrockProvider(base_url=sim.base_url()).build_request(call("converse", CONVERSE), sim.key)
    request.body = request.body.replace(b"north", b"NORTH")
    status, _, body = await send(sim, request)
    assert status == 403 and b"signature we calculated does not match" in body


# ---- through the gateway ----


async def test_invoke_through_the_gateway_is_signed_with_the_stored_credentials(gateway, sims):
    sim = sims["aws-bedrock"]
    async with gateway() as gw:
        (msg,) = await ask(gw, "aws-bedrock", f"bedrock-runtime/us-east-1/model/{MODEL}/invoke", INVOKE)
    assert msg["metadata"]["status"] == 200, msg
    assert msg["response"]["content"][0]["text"] == "north south east"
    assert msg["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}
    assert sim.last_request.raw_path == f"/model/{MODEL}/invoke"


async def test_converse_with_a_client_signature_is_re_signed(gateway, sims):
    client_sig = {"authorization": "AWS4-HMAC-SHA256 Credential=AKIDCLIENT/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "1" * 64, "x-amz-date": "20250101T000000Z"}
    async with gateway() as gw:
        (msg,) = await ask(gw, "aws-bedrock", f"bedrock-runtime/us-west-2/model/{MODEL}/converse", CONVERSE, headers=client_sig)
    assert msg["metadata"]["status"] == 200, msg
    assert msg["response"]["output"]["message"]["content"][0]["text"] == "north south east"
    assert f"Credential={ACCESS_KEY_ID}/" in sims["aws-bedrock"].last_request.headers["Authorization"]


async def test_a_client_bedrock_api_key_is_used_as_is(gateway, sims):
    async with gateway() as gw:
        (ok,) = await ask(gw, "aws-bedrock", f"bedrock-runtime/us-east-1/model/{MODEL}/converse", CONVERSE, headers={"authorization": f"Bearer {API_KEY}"})
        (bad,) = await ask(gw, "aws-bedrock", f"bedrock-runtime/us-east-1/model/{MODEL}/converse", CONVERSE, headers={"authorization": "Bearer ABSKwrong"})
    assert ok["metadata"]["status"] == 200
    assert bad["metadata"]["status"] == 403


async def test_throttling_is_retried(gateway, sims):
    sims["aws-bedrock"].fail_next(429)
    async with gateway() as gw:
        (msg,) = await ask(gw, "aws-bedrock", f"bedrock-runtime/us-east-1/model/{MODEL}/converse", CONVERSE, config={"maxAttempts": 2})
    assert msg["metadata"]["status"] == 200 and len(sims["aws-bedrock"].requests) == 2


# ---- boto3 against the simulator (the simulator is wire-faithful) ----


@pytest.fixture
def bedrock(sims):
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    def client(key_id=ACCESS_KEY_ID, secret=SECRET, token=None):
        return boto3.client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=sims["aws-bedrock"].url,
            aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
            config=Config(retries={"max_attempts": 1}),
        )

    return client


def test_boto3_invoke_and_converse(bedrock):
    client = bedrock()
    answer = orjson.loads(client.invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=orjson.dumps(INVOKE))["body"].read())
    assert answer["content"][0]["text"] == "north south east"
    converse = client.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", **CONVERSE)
    assert converse["output"]["message"]["content"][0]["text"] == "north south east"
    assert converse["usage"] == {"inputTokens": 3, "outputTokens": 3, "totalTokens": 6}


def test_boto3_both_streams(bedrock):
    client = bedrock(*SESSION)
    stream = client.converse_stream(modelId="anthropic.claude-3-haiku-20240307-v1:0", **CONVERSE)["stream"]
    events = list(stream)
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == "north south east"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 3
    chunks = client.invoke_model_with_response_stream(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=orjson.dumps(INVOKE))["body"]
    docs = [orjson.loads(e["chunk"]["bytes"]) for e in chunks]
    assert docs[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3


def test_anthropics_bedrock_client_talks_to_the_simulator(sims):
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.AnthropicBedrock(aws_access_key=ACCESS_KEY_ID, aws_secret_key=SECRET, aws_region="us-east-1", base_url=sims["aws-bedrock"].url)
    answer = client.messages.create(model="anthropic.claude-3-haiku-20240307-v1:0", max_tokens=50, messages=[{"role": "user", "content": "c d"}])
    assert answer.content[0].text == "c d"
    with client.messages.stream(model="anthropic.claude-3-haiku-20240307-v1:0", max_tokens=50, messages=[{"role": "user", "content": "c d"}]) as stream:
        assert stream.get_final_text() == "c d"


def test_boto3_sees_bedrocks_errors(bedrock):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as bad_secret:
        bedrock(secret="wrong").converse(modelId="m", **CONVERSE)
    assert bad_secret.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as throttled:
        bedrock().converse(modelId="sim-fail-429", **CONVERSE)
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"


@pytest.mark.parametrize("operation,body", [("converse-stream", CONVERSE), ("invoke-with-response-stream", INVOKE)])
async def test_a_bedrock_stream_is_relayed_one_message_per_event_with_usage(gateway, sims, operation, body):
    async with gateway() as gw:
        created, *events, done = await ask(gw, "aws-bedrock", f"bedrock-runtime/us-east-1/model/{MODEL}/{operation}", body)
    assert created["metadata"]["contentType"] == "application/vnd.amazon.eventstream"
    docs = [e["response"] for e in events]
    if operation == "converse-stream":
        assert "".join(d["contentBlockDelta"]["delta"]["text"] for d in docs if "contentBlockDelta" in d) == "north south east"
    else:
        assert "".join(d["delta"]["text"] for d in docs if d["type"] == "content_block_delta") == "north south east"
    assert done["type"] == "universal.done" and "error" not in done["metadata"]
    assert done["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}


async def test_a_mid_stream_exception_ends_the_relayed_stream_with_an_error(gateway, sims):
    sims["aws-bedrock"].fault_next("error", after=1)
    async with gateway() as gw:
        *_, done = await ask(gw, "aws-bedrock", f"bedrock-runtime/us-east-1/model/{MODEL}/converse-stream", CONVERSE)
    assert done["type"] == "universal.done" and "throttlingException" in done["metadata"]["error"]["message"]
