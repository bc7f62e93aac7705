"""Google AI Studio simulator checked on the raw wire against providers.md §4."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aigw.testing.simulators import GoogleAIStudioSimulator

PROMPT = "red green blue yellow"
BODY = {
    "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
}


async def post(
    sim: GoogleAIStudioSimulator,
    path: str,
    body: Any = BODY,
    *,
    key: str | None = "sim",
    **params: str,
) -> tuple[int, Any, bytes]:
    headers = {"x-goog-api-key": sim.key if key == "sim" else key} if key else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            sim.base_url() + path, json=body, headers=headers, params=params
        ) as resp:
            return resp.status, resp.headers.copy(), await resp.read()


@pytest.mark.parametrize("version", ["v1", "v1beta"])
async def test_generate_content_on_both_versions(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator, version: str
) -> None:
    status, _, body = await post(
        aigw_sim_google_ai_studio, f"/{version}/models/gemini-2.5-flash:generateContent"
    )
    response = json.loads(body)
    assert status == 200
    assert response["candidates"][0]["content"]["parts"][0]["text"] == PROMPT
    assert response["candidates"][0]["finishReason"] == "STOP"
    assert response["usageMetadata"] == {
        "promptTokenCount": 6,
        "candidatesTokenCount": 4,
        "totalTokenCount": 10,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 6}],
    }


async def test_stream_sse_is_crlf_framed_without_done(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    status, headers, body = await post(
        aigw_sim_google_ai_studio,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        alt="sse",
    )
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    frames = body.split(b"\r\n\r\n")
    assert frames[-1] == b"" and len(frames) == 4
    assert all(f.startswith(b"data: ") and b"\n" not in f for f in frames[:-1])
    assert b"[DONE]" not in body
    chunks = [json.loads(f[len(b"data: ") :]) for f in frames[:-1]]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == PROMPT
    assert [c["usageMetadata"]["candidatesTokenCount"] for c in chunks][-1] == 4
    assert (
        "finishReason" in chunks[-1]["candidates"][0]
        and "finishReason" not in chunks[0]["candidates"][0]
    )


async def test_stream_without_alt_sse_is_one_json_array(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    _, _, body = await post(
        aigw_sim_google_ai_studio, "/v1/models/gemini-2.5-flash:streamGenerateContent"
    )
    chunks = json.loads(body)
    assert isinstance(chunks, list) and len(chunks) == 3


async def test_key_in_query_string_is_accepted(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    url = aigw_sim_google_ai_studio.base_url() + "/v1beta/models/g:generateContent"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, json=BODY, params={"key": aigw_sim_google_ai_studio.key}
        ) as resp:
            assert resp.status == 200


async def test_invalid_key_is_400_api_key_invalid(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    status, _, body = await post(
        aigw_sim_google_ai_studio, "/v1beta/models/g:generateContent", key="AIzaWrong"
    )
    error = json.loads(body)["error"]
    assert (status, error["code"], error["status"]) == (400, 400, "INVALID_ARGUMENT")
    assert error["details"][0]["reason"] == "API_KEY_INVALID"


async def test_missing_key_is_403_permission_denied(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    status, _, body = await post(
        aigw_sim_google_ai_studio, "/v1beta/models/g:generateContent", key=None
    )
    assert (status, json.loads(body)["error"]["status"]) == (403, "PERMISSION_DENIED")


async def test_rate_limit_has_retry_info_and_no_retry_after_header(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    aigw_sim_google_ai_studio.fail_next(429)
    status, headers, body = await post(
        aigw_sim_google_ai_studio, "/v1beta/models/g:generateContent"
    )
    error = json.loads(body)["error"]
    assert (status, error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["details"][0]["retryDelay"] == "1s"
    assert "retry-after" not in headers


async def test_magic_model_in_the_path_fails_the_request(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    status, _, body = await post(
        aigw_sim_google_ai_studio, "/v1beta/models/gemini-sim-fail-500:generateContent"
    )
    assert (status, json.loads(body)["error"]["status"]) == (500, "INTERNAL")


async def test_mid_stream_error_is_a_final_rpc_error_frame(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    aigw_sim_google_ai_studio.fault_next("error", after=1)
    _, _, body = await post(
        aigw_sim_google_ai_studio, "/v1beta/models/g:streamGenerateContent", alt="sse"
    )
    frames = [f for f in body.split(b"\r\n\r\n") if f]
    assert len(frames) == 2
    assert json.loads(frames[-1][len(b"data: ") :])["error"]["status"] == "INTERNAL"


async def test_unknown_method_is_404_not_found(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    status, _, body = await post(aigw_sim_google_ai_studio, "/v1beta/models/g:frobnicate")
    assert (status, json.loads(body)["error"]["status"]) == (404, "NOT_FOUND")


async def test_count_tokens_and_embed_content(
    aigw_sim_google_ai_studio: GoogleAIStudioSimulator,
) -> None:
    _, _, body = await post(aigw_sim_google_ai_studio, "/v1beta/models/g:countTokens")
    assert json.loads(body) == {"totalTokens": 6}
    _, _, body = await post(
        aigw_sim_google_ai_studio,
        "/v1beta/models/e:embedContent",
        {"content": {"parts": [{"text": "x"}]}},
    )
    assert len(json.loads(body)["embedding"]["values"]) == 8
