"""new_log_id: RFC 9562 UUIDv7, lowercase, time-ordered."""

import os
import re
import time
import uuid

import pytest

from aigw.logrecords import new_log_id, uuid7_time

UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_log_id_is_lowercase_canonical_uuid_text():
    assert UUID_TEXT.match(new_log_id())


def test_log_id_has_version_7_and_rfc_variant():
    u = uuid.UUID(new_log_id())
    assert u.version == 7
    assert u.variant == uuid.RFC_4122


def test_log_id_embeds_the_current_unix_millisecond():
    before = time.time_ns() // 1_000_000
    log_id = new_log_id()
    after = time.time_ns() // 1_000_000
    assert before <= round(uuid7_time(log_id) * 1000) <= after


def test_log_ids_sort_in_creation_order_even_within_one_millisecond():
    ids = [new_log_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_uuid7_time_rejects_other_uuid_versions():
    with pytest.raises(ValueError):
        uuid7_time(str(uuid.uuid4()))


def _random_starts(count: int) -> list[str]:
    """The random fields of `count` ids that each start a new millisecond."""
    starts = []
    for _ in range(count):
        time.sleep(0.0015)
        log_id = new_log_id()
        starts.append(log_id[15:18] + log_id[19:])  # rand_a, and rand_b with its variant bits
    return starts


def test_each_new_millisecond_starts_from_new_random_bits():
    starts = _random_starts(40)  # more than one fill of the pool of OS randomness
    assert len(set(starts)) == len(starts)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_starts_from_its_parents_random_bits():
    new_log_id()  # the parent's pool is filled before the fork
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its starts to the parent through the pipe, then out at once
        try:
            os.write(write_end, "\n".join(_random_starts(8)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    parent = _random_starts(8)
    with os.fdopen(read_end, "rb") as pipe:
        child = pipe.read().decode().split("\n")
    os.waitpid(pid, 0)
    assert len(child) == 8
    assert not set(parent) & set(child)
