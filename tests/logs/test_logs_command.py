"""`aigw logs`: aligned rows, filters, --json, show, follow, and clear errors."""

from __future__ import annotations

import asyncio
import base64

import orjson
import pytest
from click.testing import CliRunner

from aigw.builtins.sqlite_log_query import LogQuery, SqliteLogReader
from aigw.builtins.sqlite_logs import SqliteLogger
from aigw.cli import cli
from aigw.commands.logs import COLUMNS, follow, parse_time


def write(path, records) -> None:
    async def run() -> None:
        logger = SqliteLogger(path)
        await logger.start()
        for r in records:
            logger.log(r)
        await logger.close()

    asyncio.run(run())


@pytest.fixture
def data_dir(tmp_path, make_record):
    records = [
        make_record(provider="openai", model="gpt-4o-mini", tokens_in=12, tokens_out=345, event_id="evt-1"),
        make_record(provider="anthropic", model="claude-sonnet-4-5", status=500, success=False, error="boom",
                    step=1, metadata={"user": "u1"}),
        make_record(provider="openai", model="gpt-4o", cache_status="HIT", duration_ms=15_500.0, ttfb_ms=None,
                    request_body=b'{"messages":[]}', request_content_type="application/json",
                    response_body=b"\x89PNG", response_content_type="image/png"),
    ]  # fmt: skip
    write(tmp_path / "logs.db", records)
    return tmp_path, records


def run(*args: str):
    result = CliRunner().invoke(cli, ["logs", *args], catch_exceptions=False)
    return result


def test_lists_logs_oldest_first_in_aligned_columns(data_dir):
    path, records = data_dir
    result = run("--data-dir", str(path))
    assert result.exit_code == 0
    header, *rows = result.output.splitlines()
    assert header.split("  ")[0] == "TIME (UTC)" and "LOG ID" in header
    assert [row.split()[-1] for row in rows] == [r.log_id for r in records]
    starts = [header.index(col) for col in COLUMNS]
    for row in rows:  # every cell starts under its column title
        assert all(i == 0 or row[i - 2 : i] == "  " and row[i] != " " for i in starts)


def test_row_shows_status_tokens_duration_cache_and_event(data_dir):
    path, _ = data_dir
    rows = run("--data-dir", str(path)).output.splitlines()[1:]
    assert "200" in rows[0] and "12/345" in rows[0] and "120ms" in rows[0] and "evt-1" in rows[0]
    assert "500 err" in rows[1]
    assert "HIT" in rows[2] and "15.5s" in rows[2]


def test_provider_filter(data_dir):
    path, records = data_dir
    rows = run("--data-dir", str(path), "--provider", "openai").output.splitlines()[1:]
    assert [row.split()[-1] for row in rows] == [records[0].log_id, records[2].log_id]


def test_errors_and_meta_filters(data_dir):
    path, records = data_dir
    for args in (["--errors"], ["--meta", "user=u1"], ["--status", "500"]):
        rows = run("--data-dir", str(path), *args).output.splitlines()[1:]
        assert [row.split()[-1] for row in rows] == [records[1].log_id], args


def test_limit_keeps_the_most_recent(data_dir):
    path, records = data_dir
    rows = run("--data-dir", str(path), "-n", "1").output.splitlines()[1:]
    assert [row.split()[-1] for row in rows] == [records[2].log_id]


def test_no_match_says_so(data_dir):
    path, _ = data_dir
    assert "(no logs match)" in run("--data-dir", str(path), "--model", "nope").output


def test_json_prints_one_object_per_log(data_dir):
    path, records = data_dir
    lines = [orjson.loads(line) for line in run("--data-dir", str(path), "--json").output.splitlines()]
    assert [line["log_id"] for line in lines] == [r.log_id for r in records]
    assert lines[1]["error"] == "boom" and lines[1]["metadata"] == {"user": "u1"}


def test_show_prints_fields_and_text_bodies(data_dir):
    path, records = data_dir
    out = run("--data-dir", str(path), "show", records[2].log_id).output
    assert records[2].log_id in out and "gpt-4o" in out
    assert '"messages": []' in out  # JSON body, pretty-printed
    assert "4 bytes of binary data" in out


def test_show_says_when_bodies_were_not_collected(data_dir):
    path, records = data_dir
    assert "(not collected)" in run("--data-dir", str(path), "show", records[0].log_id).output


def test_show_json_carries_bodies_in_base64(data_dir):
    path, records = data_dir
    line = orjson.loads(run("show", records[2].log_id, "--data-dir", str(path), "--json").output)
    assert base64.b64decode(line["response_body_base64"]) == b"\x89PNG"


def test_show_of_an_unknown_id_fails_clearly(data_dir):
    path, _ = data_dir
    result = CliRunner().invoke(cli, ["logs", "--data-dir", str(path), "show", "nope"])
    assert result.exit_code == 1 and "no log with id nope" in result.output


def test_missing_store_fails_clearly(tmp_path):
    result = CliRunner().invoke(cli, ["logs", "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no log store at" in result.output


def test_bad_meta_is_a_usage_error(data_dir):
    path, _ = data_dir
    result = CliRunner().invoke(cli, ["logs", "--data-dir", str(path), "--meta", "novalue"])
    assert result.exit_code == 2 and "key=value" in result.output


def test_since_accepts_durations_unix_times_and_iso_8601():
    assert parse_time("10m", now=1000.0) == 400.0
    assert parse_time("2h", now=10_000.0) == 2800.0
    assert parse_time("1790000000") == 1_790_000_000.0
    assert parse_time("2026-01-01T00:00:00") == parse_time("2026-01-01T00:00:00+00:00") == 1767225600.0
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_follow_yields_only_logs_stored_after_the_last_one_seen(data_dir, make_record):
    path, records = data_dir
    later = [make_record(provider="openai"), make_record(provider="anthropic")]
    polls = iter([lambda: write(path / "logs.db", later), lambda: None])
    with SqliteLogReader(path / "logs.db") as reader:
        batches = follow(reader, LogQuery(provider="openai"), records[-1].log_id, 1.0,
                         sleep=lambda _: next(polls)())  # fmt: skip
        assert [r.log_id for r in next(batches)] == [later[0].log_id]
        assert next(batches) == []


def test_data_dir_from_the_environment(data_dir, monkeypatch):
    path, records = data_dir
    monkeypatch.setenv("AIGW_DATA_DIR", str(path))
    monkeypatch.delenv("AIGW_CONFIG", raising=False)
    rows = run("-n", "1").output.splitlines()[1:]
    assert [row.split()[-1] for row in rows] == [records[2].log_id]
