"""JsonlLogger: one parseable JSON object per line, bodies omitted or base64."""

from __future__ import annotations

import base64

import orjson

from aigw.builtins.jsonl_logs import JsonlLogger
from aigw.interfaces import Logger


def read_lines(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_jsonl_logger_satisfies_the_logger_protocol(tmp_path):
    assert isinstance(JsonlLogger(tmp_path / "logs.jsonl"), Logger)


async def test_every_record_becomes_one_json_line(tmp_path, make_record):
    logger = JsonlLogger(tmp_path / "logs.jsonl")
    await logger.start()
    records = [make_record(metadata={"user": "u1"}) for _ in range(1000)]
    for r in records:
        logger.log(r)
    await logger.close()
    lines = read_lines(tmp_path / "logs.jsonl")
    assert [line["log_id"] for line in lines] == [r.log_id for r in records]
    assert lines[0]["metadata"] == {"user": "u1"} and lines[0]["status"] == 200


async def test_bodies_are_omitted_by_default_but_their_sizes_kept(tmp_path, make_record):
    logger = JsonlLogger(tmp_path / "logs.jsonl")
    logger.log(make_record(request_body=b"abc"))
    await logger.close()
    (line,) = read_lines(tmp_path / "logs.jsonl")
    assert line["request_body_size"] == 3 and line["response_body_size"] is None
    assert "request_body_base64" not in line and "request_body" not in line


async def test_bodies_base64_mode_writes_the_bodies(tmp_path, make_record):
    logger = JsonlLogger(tmp_path / "logs.jsonl", bodies="base64")
    logger.log(make_record(request_body=b"\x00\xffhi", response_body=None))
    await logger.close()
    (line,) = read_lines(tmp_path / "logs.jsonl")
    assert base64.b64decode(line["request_body_base64"]) == b"\x00\xffhi"
    assert line["response_body_base64"] is None


async def test_file_is_appended_to_across_restarts(tmp_path, make_record):
    for _ in range(2):
        logger = JsonlLogger(tmp_path / "logs.jsonl")
        await logger.start()
        logger.log(make_record())
        await logger.close()
    assert len(read_lines(tmp_path / "logs.jsonl")) == 2


async def test_stderr_target_writes_lines_to_stderr(make_record, capsys):
    logger = JsonlLogger("stderr")
    await logger.start()
    record = make_record()
    logger.log(record)
    await logger.close()
    err = capsys.readouterr().err
    assert orjson.loads(err.splitlines()[-1])["log_id"] == record.log_id
