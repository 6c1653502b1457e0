"""The one duration grammar (capi_sysext/durations.py) and the three readers built on it: values
keys, `apply --timeout` / `--apply-timeout`, and `--max-age`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capi_sysext.cli.apply import parse_duration as parse_timeout
from capi_sysext.durations import DAY, format_duration, parse_seconds
from capi_sysext.errors import InputError
from capi_sysext.index import parse_max_age
from capi_sysext.inputs import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("1h30m", 5400),
        ("1H30M", 5400),
        ("30m1h", 5400),  # Go's order-free sum
        ("2d", 2 * DAY),
        ("90min", 5400),
        ("24 h", 86400),
        ("0s", 0),
    ],
)
def test_accepted_human(text: str, seconds: int) -> None:
    assert parse_seconds(text, human=True) == seconds


@pytest.mark.parametrize("text", ["2d", "90min", "24 h", "1h 30m"])
def test_go_spelling_only_without_human(text: str) -> None:
    assert parse_seconds(text) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("1h30m", 5400), ("1H30M", 5400), ("30m1h", 5400)]
)
def test_accepted(text: str, seconds: int) -> None:
    assert parse_seconds(text, human=True) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "soon",
        "30",  # a bare number only with bare_seconds
        "1.5h",  # fractions only with fractions
        "1hour",
        "h",
        "-5m",
        "5m-",
        "1e3s",
        "\u0663s",  # ARABIC-INDIC DIGIT THREE: only ASCII digits
        "1234567890s",  # more than 9 digits
        "1h\n",
    ],
)
def test_refused(text: str) -> None:
    assert parse_seconds(text) is None
    assert parse_seconds(text, human=True) is None


def test_bare_seconds_and_fractions_are_opt_in() -> None:
    assert parse_seconds("45", bare_seconds=True) == 45
    assert parse_seconds(45, bare_seconds=True) is None  # text only
    assert parse_seconds("1.5", bare_seconds=True) is None
    assert parse_seconds("1.5", bare_seconds=True, fractions=True) == 1.5
    assert parse_seconds("1.5h", fractions=True) == 5400


def test_values_durations_are_whole_bounded_seconds() -> None:
    parse = parse_duration(60, DAY)
    assert parse("1h30m") == 5400
    with pytest.raises(ValueError, match="like 30m, 1h30m or 90s"):
        parse("45")
    with pytest.raises(ValueError, match="at least 1m"):
        parse("30s")
    with pytest.raises(ValueError, match="at most 24h"):
        parse("25h")
    with pytest.raises(ValueError, match="like 30m"):
        parse("1d")  # not a Go duration


def test_apply_timeouts() -> None:
    assert parse_timeout("20m") == 1200
    assert parse_timeout("1h30s") == 3630
    assert parse_timeout("45") == 45
    assert parse_timeout("2.5") == 2.5
    with pytest.raises(InputError, match="is not a duration"):
        parse_timeout("soon")
    with pytest.raises(InputError, match="longer than 7 days"):
        parse_timeout("8d", "--apply-timeout")


def test_max_age() -> None:
    assert parse_max_age("24h") == timedelta(hours=24)
    assert parse_max_age("90m") == timedelta(minutes=90)
    assert parse_max_age("2d") == timedelta(days=2)
    assert parse_max_age("0") == timedelta(0)
    assert parse_max_age(" 1.5h ") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="not a duration"):
        parse_max_age("soon")


@given(st.integers(min_value=0, max_value=7 * DAY))
def test_format_then_parse_round_trips(seconds: int) -> None:
    assert parse_seconds(format_duration(seconds)) == seconds
