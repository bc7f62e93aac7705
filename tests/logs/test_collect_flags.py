"""collect_flags: cf-aig-collect-log flips the gateway default; -payload false strips bodies."""

import pytest

from aigw.logrecords import collect_flags


@pytest.mark.parametrize(
    ("gateway_default", "headers", "expected"),
    [
        (True, {}, (True, True)),
        (False, {}, (False, False)),
        (True, {"cf-aig-collect-log": "false"}, (False, False)),
        (False, {"cf-aig-collect-log": "true"}, (True, True)),
        (True, {"cf-aig-collect-log-payload": "false"}, (True, False)),
        (True, {"cf-aig-collect-log-payload": "true"}, (True, True)),
        (False, {"cf-aig-collect-log": "true", "cf-aig-collect-log-payload": "false"}, (True, False)),
        (True, {"cf-aig-collect-log": "false", "cf-aig-collect-log-payload": "true"}, (False, False)),
        (False, {"cf-aig-collect-log-payload": "true"}, (False, False)),
        (True, {"cf-aig-collect-log": " FALSE "}, (False, False)),
    ],
)
def test_collect_flags_matrix(gateway_default, headers, expected):
    assert collect_flags(gateway_default, headers) == expected


def test_unrecognised_values_are_ignored_like_a_missing_header():
    assert collect_flags(True, {"cf-aig-collect-log": "no", "cf-aig-collect-log-payload": "0"}) == (True, True)
    assert collect_flags(False, {"cf-aig-collect-log": "yes"}) == (False, False)
