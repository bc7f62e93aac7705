"""The cache (keyed by the request as a whole and by who could have obtained the answer) and
the log record (the answering step's body and usage, one attempt per upstream try)."""

from __future__ import annotations

from pipeline_fakes import FakeClient, Reply, anthropic_step, openai_body, openai_step, reset, runtime, send

TTL = {"cf-aig-cache-ttl": "60"}
ANTHROPIC_OK = Reply(200, b'{"type":"message","usage":{"input_tokens":7,"output_tokens":11}}')


async def test_a_fallback_answer_is_found_again_by_the_same_request():
    client = FakeClient(openai=[Reply(500, b"{}")], anthropic=[ANTHROPIC_OK])
    rt = runtime(client, cache=True)
    await send(rt, openai_step(headers=TTL), anthropic_step())
    sink, record = await send(rt, openai_step(headers=TTL), anthropic_step())
    assert record.cache_status == "HIT" and sink.delivered[0].cache_status == "HIT"
    assert sink.delivered[1] == ANTHROPIC_OK.body
    assert client.hosts() == ["openai", "anthropic"]


async def test_different_client_credentials_do_not_share_cached_answers():
    client = FakeClient(openai=[Reply(200, openai_body("for tenant A"))])
    rt = runtime(client, cache=True)
    await send(rt, openai_step(headers={**TTL, "authorization": "Bearer sk-tenant-A"}))
    sink, record = await send(rt, openai_step(headers={**TTL, "authorization": "Bearer sk-invalid"}))
    assert record.cache_status == "MISS" and len(client.requests) == 2
    assert client.requests[1]["headers"]["authorization"] == "Bearer sk-invalid"


async def test_the_same_client_credential_shares_cached_answers():
    client = FakeClient(openai=[Reply(200, openai_body())])
    rt = runtime(client, cache=True)
    await send(rt, openai_step(headers={**TTL, "authorization": "Bearer sk-a"}))
    sink, record = await send(rt, openai_step(headers={**TTL, "authorization": "Bearer sk-a"}))
    assert record.cache_status == "HIT" and len(client.requests) == 1


async def test_answers_with_a_stored_key_are_scoped_by_gateway_principal():
    client = FakeClient(openai=[Reply(200, openai_body())])
    rt = runtime(client, cache=True)
    await send(rt, openai_step(headers=TTL), principal="token-a")
    _, other = await send(rt, openai_step(headers=TTL), principal="token-b")
    _, same = await send(rt, openai_step(headers=TTL), principal="token-a")
    assert (other.cache_status, same.cache_status) == ("MISS", "HIT")


async def test_a_client_credential_does_not_hit_an_answer_obtained_with_the_stored_key():
    client = FakeClient(openai=[Reply(200, openai_body())])
    rt = runtime(client, cache=True)
    await send(rt, openai_step(headers=TTL))
    _, record = await send(rt, openai_step(headers={**TTL, "authorization": "Bearer sk-mine"}))
    assert record.cache_status == "MISS"


async def test_an_explicit_cache_key_is_shared_as_given():
    client = FakeClient(openai=[Reply(200, openai_body())])
    rt = runtime(client, cache=True)
    await send(rt, openai_step("one", headers={"cf-aig-cache-key": "k", "authorization": "Bearer sk-a"}))
    _, record = await send(rt, openai_step("two", headers={"cf-aig-cache-key": "k", "authorization": "Bearer sk-b"}))
    assert record.cache_status == "HIT" and len(client.requests) == 1
    assert await rt.cache.get("k") is not None


async def test_the_log_row_carries_the_answering_steps_body_and_every_attempt():
    client = FakeClient(openai=[Reply(503, b"{}"), Reply(200, broken=reset())], anthropic=[ANTHROPIC_OK])
    first, second = openai_step("first wording", config={"maxAttempts": 2}), anthropic_step("second wording")
    _, record = await send(runtime(client), first, second)
    assert record.step == 1 and record.provider == "anthropic" and record.model == "claude-x"
    assert record.request_body == client.requests[-1]["body"] and b"second wording" in record.request_body
    assert [(a.step, a.attempt, a.provider, a.status) for a in record.attempts] == [
        (0, 1, "openai", 503),
        (0, 2, "openai", 200),
        (1, 1, "anthropic", 200),
    ]
    assert record.attempts[0].error == "upstream answered 503"
    assert "reset by peer" in record.attempts[1].error
    assert record.attempts[2].error is None
    assert all(a.duration_ms >= 0 for a in record.attempts)


async def test_the_log_row_records_only_the_answering_steps_usage():
    client = FakeClient(openai=[Reply(200, broken=reset())], anthropic=[ANTHROPIC_OK])
    _, record = await send(runtime(client), openai_step(), anthropic_step())
    assert (record.tokens_in, record.tokens_out) == (7, 11)


async def test_a_request_that_failed_everywhere_logs_the_last_step_tried():
    client = FakeClient(openai=[Reply(200, broken=reset())], anthropic=[Reply(200, broken=reset())])
    _, record = await send(runtime(client), openai_step(), anthropic_step("last"))
    assert record.provider == "anthropic" and b"last" in record.request_body
    assert not record.success and record.tokens_in is None and len(record.attempts) == 2


async def test_the_record_reaches_the_loggers():
    client = FakeClient(openai=[Reply(200, openai_body())])
    rt = runtime(client)
    _, record = await send(rt, openai_step())
    assert rt.loggers[0].records == [record]
