"""The fitted horizon's intervals on the operator's clock, and what the logs saw in each.

Logs cover some stretch of time, rarely whole days: an export from Tuesday 10:00 to Friday
18:00 sees Tuesday's morning not at all. So a rate is never "count / days": each interval of
the day (of the week, for a week horizon) counts how much of it the logs covered, its
*coverage* (3.5 when three whole Tuesdays and half of a fourth were in the logs), and its rate is
its count divided by its coverage. Everything is on local clock time, ``created_at +
utc_offset``, so a profile peaks at the operator's 11:00 whatever the time zone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from sim.durations import DAY

_THURSDAY = 3
"""1970-01-01, day 0 of the epoch, was a Thursday (Monday is 0)."""


def weekday_of(local: float) -> int:
    """0 (Monday) to 6 of a local time in seconds since the epoch."""
    return (math.floor(local / DAY) + _THURSDAY) % 7


@dataclass(frozen=True, slots=True)
class Calendar:
    """Intervals of ``interval`` seconds of a day (``week=False``) or of a week from Monday
    00:00 (``week=True``), over the span ``[first, last]`` of local times the logs cover."""

    interval: float
    week: bool
    first: float
    last: float

    @property
    def per_day(self) -> int:
        return round(DAY / self.interval)

    @property
    def slots(self) -> int:
        """Intervals of the horizon: a day's, or a week's."""
        return self.per_day * (7 if self.week else 1)

    @property
    def days(self) -> float:
        """Length of the span in days."""
        return (self.last - self.first) / DAY

    def slot(self, local: float) -> int:
        """The interval of the horizon a local time falls in."""
        within = int((local % DAY) // self.interval)
        return weekday_of(local) * self.per_day + within if self.week else within

    def instances(self) -> Iterator[tuple[int, int, float]]:
        """``(day number, slot, covered share)`` of every interval the span touches."""
        for day in range(math.floor(self.first / DAY), math.floor(self.last / DAY) + 1):
            for j in range(self.per_day):
                begin = day * DAY + j * self.interval
                covered = min(begin + self.interval, self.last) - max(begin, self.first)
                if covered > 0:
                    key = ((day + _THURSDAY) % 7) * self.per_day + j if self.week else j
                    yield day, key, covered / self.interval

    def coverage(self) -> np.ndarray:
        """How many times each interval of the horizon was covered (fractions for the ends)."""
        total = np.zeros(self.slots)
        for _, key, share in self.instances():
            total[key] += share
        return total

    def full_days(self) -> list[int]:
        """Day numbers the span covers whole."""
        return [
            day
            for day in range(math.floor(self.first / DAY), math.floor(self.last / DAY) + 1)
            if day * DAY >= self.first and (day + 1) * DAY <= self.last
        ]


@dataclass(frozen=True, slots=True)
class Arrivals:
    """A channel's arrivals per interval of the horizon: ``rate`` (expected conversations per
    interval, count / coverage) with its Poisson ``variance``; ``filled`` marks intervals the
    logs never covered (a week fitted from less than a week), given the mean rate of the same
    time on the days seen."""

    rate: np.ndarray
    variance: np.ndarray
    count: int
    filled: np.ndarray
    daily: list[int]
    """Conversations on each day the logs cover whole."""

    @property
    def volume(self) -> float:
        """Expected conversations over the horizon."""
        return float(self.rate.sum())

    @property
    def volume_ci(self) -> tuple[float, float]:
        """95% interval of the volume, counts taken as Poisson."""
        half = 1.959963984540054 * math.sqrt(float(self.variance.sum()))
        return max(self.volume - half, 0.0), self.volume + half


def arrivals(calendar: Calendar, local_times: Sequence[float]) -> Arrivals:
    """Rates per interval of the horizon from the local creation times of one channel."""
    counts = np.zeros(calendar.slots)
    per_day: dict[int, int] = {}
    for local in local_times:
        counts[calendar.slot(local)] += 1
        day = math.floor(local / DAY)
        per_day[day] = per_day.get(day, 0) + 1
    coverage = calendar.coverage()
    seen = coverage > 1e-9
    rate = np.zeros(calendar.slots)
    variance = np.zeros(calendar.slots)
    rate[seen] = counts[seen] / coverage[seen]
    variance[seen] = counts[seen] / coverage[seen] ** 2
    filled = ~seen if calendar.week else np.zeros(calendar.slots, dtype=bool)
    if np.any(filled):
        by_time = counts.reshape(7, calendar.per_day).sum(axis=0)
        times_covered = coverage.reshape(7, calendar.per_day).sum(axis=0)
        pooled = np.divide(
            by_time, times_covered, out=np.zeros_like(by_time), where=times_covered > 0
        )
        pooled_var = np.divide(
            by_time, times_covered**2, out=np.zeros_like(by_time), where=times_covered > 0
        )
        for key in np.nonzero(filled)[0]:
            rate[key] = pooled[key % calendar.per_day]
            variance[key] = pooled_var[key % calendar.per_day]
    daily = [per_day.get(day, 0) for day in calendar.full_days()]
    return Arrivals(rate, variance, len(local_times), filled, daily)


def active_window(rates: Sequence[np.ndarray], per_day: int) -> tuple[int, int]:
    """First and one-past-last interval of the day in which any channel has arrivals (the
    whole day when none has)."""
    busy = np.zeros(per_day, dtype=bool)
    for rate in rates:
        busy |= rate[:per_day] > 0
    if not np.any(busy):
        return 0, per_day
    where = np.nonzero(busy)[0]
    return int(where[0]), int(where[-1]) + 1
