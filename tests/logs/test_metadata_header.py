"""parse_metadata_header: Cloudflare's cf-aig-metadata rules, one rule per test."""

import orjson

from aigw.logrecords import MAX_METADATA_HEADER_BYTES, parse_metadata_header


def test_flat_object_of_strings_numbers_and_booleans_is_kept():
    assert parse_metadata_header('{"user": "u1", "n": 3, "f": 1.5, "beta": true}') == {
        "user": "u1", "n": 3, "f": 1.5, "beta": True,
    }


def test_only_the_first_five_entries_are_kept():
    header = orjson.dumps({f"k{i}": i for i in range(8)})
    assert parse_metadata_header(header) == {f"k{i}": i for i in range(5)}


def test_a_nested_object_makes_the_whole_header_ignored():
    assert parse_metadata_header('{"a": 1, "b": {"c": 2}}') is None


def test_an_array_value_makes_the_whole_header_ignored():
    assert parse_metadata_header('{"a": 1, "b": [1, 2]}') is None


def test_keys_starting_cf_dot_are_reserved_and_dropped():
    assert parse_metadata_header('{"cf.user_id": "x", "team": "a"}') == {"team": "a"}


def test_reserved_keys_do_not_use_up_the_five_entries():
    header = '{"cf.a": 1, "cf.b": 2, "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5}'
    assert parse_metadata_header(header) == {"k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5}


def test_null_values_are_dropped():
    assert parse_metadata_header('{"a": null, "b": "x"}') == {"b": "x"}


def test_invalid_json_is_ignored():
    assert parse_metadata_header("{user: 1") is None


def test_a_json_value_that_is_not_an_object_is_ignored():
    assert parse_metadata_header('["a", "b"]') is None
    assert parse_metadata_header('"text"') is None


def test_missing_or_empty_header_gives_none():
    assert parse_metadata_header(None) is None
    assert parse_metadata_header("") is None
    assert parse_metadata_header("{}") is None


def test_oversized_header_is_ignored():
    header = orjson.dumps({"a": "x" * MAX_METADATA_HEADER_BYTES})
    assert parse_metadata_header(header) is None
