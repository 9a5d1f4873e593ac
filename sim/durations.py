"""Durations with units and clock times, as scenario files write them.

A duration is a number of seconds or a string with a unit: ``"45s"``, ``"15m"``, ``"8h"``,
``"1d"``, or a combination such as ``"1h30m"``. A clock time is ``"HH:MM"`` (``"24:00"`` is
the end of a day), or a day and time ``"Mon 08:00"`` (an English weekday, three letters or in
full, any case): a :class:`WeekTime`, seconds after Monday 00:00.
"""

from __future__ import annotations

import re
from decimal import Decimal

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|min|s|m|h|d)")
_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
_DAY_CLOCK = re.compile(r"^([A-Za-z]+)\s+(\S+)$")

DAY = 86400.0
WEEK = 7 * DAY
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a non-negative number, or a string like ``"2m"`` or ``"1h30m"``.

    Raises ``ValueError`` with a message fit to show the user.
    """
    if isinstance(value, bool):
        raise ValueError(
            f"expected a duration such as '45s', '15m' or a number of seconds, got {value!r}"
        )
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        sign = -1.0 if text.startswith("-") else 1.0
        try:
            seconds = float(text)
        except ValueError:
            seconds = sign * _parse_units(text.lstrip("-").strip(), value)
    else:
        raise ValueError(
            f"expected a duration such as '45s', '15m' or a number of seconds, got {value!r}"
        )
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"duration must be finite, got {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return seconds


def _parse_units(text: str, original: str) -> float:
    position, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != position and text[position : match.start()].strip():
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position == 0 or text[position:].strip():
        raise ValueError(
            f"cannot read duration {original!r}: use a number of seconds or units s, m, h, d "
            "(for example '45s', '15m', '1h30m')"
        )
    return total


def parse_clock(value: object) -> float:
    """Seconds after midnight of a clock time ``"HH:MM"`` (``"24:00"`` is allowed)."""
    if not isinstance(value, str):
        raise ValueError(f'expected a clock time "HH:MM" in quotes, got {value!r}')
    match = _CLOCK.match(value.strip())
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f'expected a clock time "HH:MM" (00:00 to 24:00), got {value!r}')
    return int(match.group(1)) * 3600.0 + int(match.group(2)) * 60.0


class WeekTime(float):
    """A clock time with its weekday, as seconds after Monday 00:00 (``"Tue 07:00"`` is
    111600.0; ``"Sun 24:00"``, the end of a week, is 604800.0).

    It is a ``float`` so that arithmetic and comparisons treat it as one; its type is what says
    that the day was given (a plain float clock is seconds after midnight of no particular day).
    """

    __slots__ = ()

    @property
    def day(self) -> int:
        """0 for Monday to 6 for Sunday (``"Sun 24:00"`` is on Sunday)."""
        return min(int(self // DAY), 6)

    def __repr__(self) -> str:
        return f"WeekTime({format_day_clock(self)!r})"


def weekday(value: object) -> int:
    """0 to 6 for an English weekday name (``"Mon"``, ``"monday"``, any case)."""
    if isinstance(value, str):
        name = value.strip().lower()
        for number, (short, full) in enumerate(zip(WEEKDAYS, _FULL_NAMES, strict=True)):
            if name in (short.lower(), full):
                return number
    raise ValueError(
        f"unknown weekday {value!r}: use {', '.join(WEEKDAYS)} (or the full English name)"
    )


def parse_day_clock(value: object) -> float:
    """A clock time with or without a day: ``"08:00"`` is seconds after midnight (a ``float``),
    ``"Mon 08:00"`` a :class:`WeekTime` (seconds after Monday 00:00)."""
    if isinstance(value, str):
        match = _DAY_CLOCK.match(value.strip())
        if match:
            day = weekday(match.group(1))
            try:
                seconds = parse_clock(match.group(2))
            except ValueError:
                raise ValueError(
                    f'expected a day and time such as "Mon 08:00" (00:00 to 24:00), got {value!r}'
                ) from None
            return WeekTime(day * DAY + seconds)
    try:
        return parse_clock(value)
    except ValueError:
        raise ValueError(
            f'expected a clock time "HH:MM" (00:00 to 24:00) or a day and time "Mon 08:00", '
            f"got {value!r}"
        ) from None


def format_day_clock(seconds_after_monday: float) -> str:
    """``"Tue 07:00"`` of a time in the week; wraps past Sunday midnight, except that the end of
    the week itself is ``"Sun 24:00"`` (so that :func:`parse_day_clock` reads back the same)."""
    minutes = round(seconds_after_monday / 60.0)
    if minutes == 7 * 24 * 60:
        return "Sun 24:00"
    day, minute = divmod(minutes % (7 * 24 * 60), 24 * 60)
    return f"{WEEKDAYS[day]} {minute // 60:02d}:{minute % 60:02d}"


def format_clock(seconds_after_midnight: float) -> str:
    """``"HH:MM"`` of a time of day; wraps past midnight."""
    minutes = round(seconds_after_midnight / 60.0) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_duration(seconds: float) -> str:
    """A short human form: ``"45s"``, ``"15m"``, ``"1h30m"``."""
    if seconds < 60 or seconds % 60:
        # Shortest exact digits, never exponent notation ("1e-07s" would not parse back).
        text = f"{Decimal(repr(float(seconds))):f}"
        return f"{text.removesuffix('.0')}s"
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours}h{minutes}m"
    return f"{hours}h" if hours else f"{minutes}m"
