"""new_log_id: RFC 9562 UUIDv7, lowercase, time-ordered."""

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
