"""Durations with units and clock times (sim.durations)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.durations import format_clock, format_duration, parse_clock, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45.0),
        ("15m", 900.0),
        ("8h", 28_800.0),
        ("1h30m", 5_400.0),
        ("1h 30m", 5_400.0),
        ("1d", 86_400.0),
        ("2d12h", 216_000.0),
        ("1.5h", 5_400.0),
        (".5m", 30.0),
        ("500ms", 0.5),
        ("10min", 600.0),
        ("  2m ", 120.0),
        ("0s", 0.0),
        ("120", 120.0),
        ("2.5", 2.5),
        (90, 90.0),
        (2.5, 2.5),
        (0, 0.0),
    ],
)
def test_parse_duration_units_and_numbers(text: object, seconds: float) -> None:
    value = parse_duration(text)
    assert isinstance(value, float)
    assert value == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize(
    "bad",
    [
        -1,
        -0.5,
        "-5m",
        "-1",
        "-1h30m",
        "abc",
        "",
        "   ",
        "5x",
        "1h30",
        "m",
        "h1",
        "1h-30m",
        "5m garbage",
        "inf",
        "nan",
        float("nan"),
        float("inf"),
        True,
        None,
        [1],
        {"m": 1},
    ],
)
def test_parse_duration_rejects_negative_and_garbage(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_parse_duration_message_names_the_input() -> None:
    with pytest.raises(ValueError, match="5x"):
        parse_duration("5x")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00", 0.0),
        ("09:30", 34_200.0),
        ("12:05", 43_500.0),
        ("23:59", 86_340.0),
        ("24:00", 86_400.0),
        (" 08:00 ", 28_800.0),
    ],
)
def test_parse_clock(text: str, seconds: float) -> None:
    assert parse_clock(text) == seconds


@pytest.mark.parametrize(
    "bad",
    [
        "24:01",
        "25:00",
        "12:60",
        "1230",
        "12:3",
        "ab:cd",
        "",
        "12:30:00",
        "-1:00",
        "12h30",
        600,
        None,
        9.5,
    ],
)
def test_parse_clock_rejects_bad_clocks(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_clock(bad)


def test_format_clock_and_wrap_past_midnight() -> None:
    assert format_clock(0) == "00:00"
    assert format_clock(34_200) == "09:30"
    assert format_clock(86_400 + 60) == "00:01"
    assert format_clock(86_400) == "00:00"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45s"),
        (0, "0s"),
        (90, "90s"),
        (900, "15m"),
        (5_400, "1h30m"),
        (28_800, "8h"),
        (0.5, "0.5s"),
    ],
)
def test_format_duration_examples(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=999_999))
def test_format_then_parse_round_trips_whole_seconds(seconds: int) -> None:
    # Applicable domain: whole seconds below 10**6 (6 significant digits, what "%g" prints).
    assert parse_duration(format_duration(float(seconds))) == seconds


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**7))
def test_format_then_parse_round_trips_whole_minutes(minutes: int) -> None:
    seconds = minutes * 60.0
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=999_999))
def test_format_then_parse_round_trips_milliseconds_below_1000s(millis: int) -> None:
    # Trace values are rounded to milliseconds; below 1000 s they have at most 6 significant
    # digits, so the short form is exact.
    seconds = millis / 1000
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=0, max_value=23),
    st.integers(min_value=0, max_value=59),
    st.integers(min_value=0, max_value=59),
)
def test_parse_composed_units(days: int, hours: int, minutes: int, seconds: int) -> None:
    text = f"{days}d{hours}h{minutes}m{seconds}s"
    assert parse_duration(text) == days * 86_400 + hours * 3_600 + minutes * 60 + seconds


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_numbers_parse_to_themselves(seconds: float) -> None:
    assert parse_duration(seconds) == seconds
    assert parse_duration(repr(seconds)) == seconds


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=1e-300, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_negative_numbers_always_rejected(seconds: float) -> None:
    with pytest.raises(ValueError):
        parse_duration(-seconds)
    with pytest.raises(ValueError):
        parse_duration(f"-{seconds!r}")


@pytest.mark.parametrize("seconds", [1_000_001.0, 1_234_567.0, 1e-7])
def test_format_duration_output_is_always_parseable(seconds: float) -> None:
    parsed = parse_duration(format_duration(seconds))
    assert math.isclose(parsed, seconds, rel_tol=1e-9)
