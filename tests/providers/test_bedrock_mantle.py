"""aws-bedrock's Anthropic Messages "mantle" form (cloudflare-aigw.md §4):
`…/aws-bedrock/bedrock-mantle/{region}/anthropic/v1/messages` passes through untranslated to
`bedrock-mantle.{region}.api.aws`, signed for service `bedrock-mantle` with stored credentials,
or with the client's Bedrock API key as `x-api-key`."""

from __future__ import annotations

import aiohttp
import anthropic
import orjson
import pytest

from aigw.builtins.providers.aws_bedrock import AwsBedrockProvider
from aigw.testing.simulators.aws_bedrock import ACCESS_KEY_ID, API_KEY, SECRET
from aigw.types import Call

BODY = {"model": "anthropic.claude-sonnet-4-5-20250929-v1:0", "max_tokens": 50, "messages": [{"role": "user", "content": "north south east"}]}
MANTLE = "bedrock-mantle/us-east-1/anthropic/v1/messages"


def test_the_mantle_path_goes_to_the_regional_mantle_host_signed_for_bedrock_mantle():
    req = AwsBedrockProvider().build_request(Call("aws-bedrock", "bedrock-mantle/eu-west-1/anthropic/v1/messages", orjson.dumps(BODY)), f"{ACCESS_KEY_ID}:{SECRET}")
    assert req.url == "https://bedrock-mantle.eu-west-1.api.aws/anthropic/v1/messages"
    auth = dict(req.headers)["authorization"]
    assert "/eu-west-1/bedrock-mantle/aws4_request" in auth


def test_a_client_bearer_key_goes_to_the_mantle_host_as_x_api_key():
    req = AwsBedrockProvider().build_request(Call("aws-bedrock", MANTLE, orjson.dumps(BODY), {"authorization": f"Bearer {API_KEY}"}), None)
    headers = dict(req.headers)
    assert headers["x-api-key"] == API_KEY and "authorization" not in headers


def test_a_stored_bedrock_api_key_goes_to_the_mantle_host_as_x_api_key():
    req = AwsBedrockProvider().build_request(Call("aws-bedrock", MANTLE, orjson.dumps(BODY)), orjson.dumps({"api_key": API_KEY}).decode())
    assert dict(req.headers)["x-api-key"] == API_KEY


async def test_the_anthropic_sdk_talks_to_the_mantle_host_with_its_bedrock_api_key(gateway):
    async with gateway() as gw:
        client = anthropic.AsyncAnthropic(base_url=f"{gw.http_url}/aws-bedrock/bedrock-mantle/us-east-1/anthropic", api_key=API_KEY, default_headers=gw.headers, max_retries=0)
        message = await client.messages.create(**BODY)
        async with client.messages.stream(**BODY) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert message.content[0].text == "north south east" and message.usage.output_tokens == 3
    assert text == "north south east" and final.stop_reason == "end_turn"


@pytest.mark.parametrize("stream", [False, True])
async def test_stored_credentials_sign_a_mantle_request_and_usage_is_logged(gateway, sims, stream):
    async with gateway() as gw:
        async with aiohttp.ClientSession() as http:
            url = f"{gw.http_url}/aws-bedrock/{MANTLE}"
            async with http.post(url, json={**BODY, "stream": stream}, headers={**gw.headers, "anthropic-version": "2023-06-01"}) as resp:
                assert resp.status == 200, await resp.text()
                body = await resp.read()
    assert b"north" in body
    assert "/bedrock-mantle/aws4_request" in sims["aws-bedrock"].last_request.headers["authorization"]
    record = gw.records[-1]
    assert record.tokens_out == 3 and record.tokens_in > 0


async def test_a_wrong_mantle_api_key_is_the_providers_403(gateway):
    async with gateway() as gw:
        client = anthropic.AsyncAnthropic(base_url=f"{gw.http_url}/aws-bedrock/bedrock-mantle/us-east-1/anthropic", api_key="ABSKwrong", default_headers=gw.headers, max_retries=0)
        with pytest.raises(anthropic.PermissionDeniedError):
            await client.messages.create(**BODY)
