"""The results files of a report, labelled, and their per-interval KPIs as numpy series.

A report shows one or more results files (a prediction, a measurement, or several of either);
each is a :class:`Run`. Per-interval values are placed on one common time axis in hours of
the day (the first run's start, unwrapped past midnight) so that runs line up by clock time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.capacity import IntervalMiss, interval_misses
from sim.durations import DAY, parse_day_clock
from sim.kpi import ALL
from sim.report.style import channel_colours
from sim.results import Results
from sim.scenario import Scenario

#: How each source is called in legends and tables.
SOURCE_LABELS = {"model": "predicted (model)", "replay": "measured (replay)"}


@dataclass(frozen=True, slots=True)
class Run:
    """One results file of the report, with its label, position and first-run records."""

    index: int
    label: str
    results: Results
    conversations: list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class Series:
    """A KPI per interval: start of each interval (hours of the day), mean and ci95 half-width.

    Missing values (a KPI undefined in an interval, or no ci95 for a single run) are NaN.
    """

    x: np.ndarray
    width: float
    mean: np.ndarray
    ci: np.ndarray

    @property
    def has_ci(self) -> bool:
        return bool(np.isfinite(self.ci).any())


def make_runs(
    results: Sequence[Results], conversations: dict[int, list[dict[str, Any]]] | None
) -> list[Run]:
    """Label the results: by source, numbered when a source repeats, with the scenario name
    when the files are of different scenarios."""
    scenarios = {r.scenario for r in results}
    counts = Counter(r.source for r in results)
    seen: Counter[str] = Counter()
    runs = []
    for i, result in enumerate(results):
        seen[result.source] += 1
        label = SOURCE_LABELS.get(result.source, result.source)
        if counts[result.source] > 1:
            label += f" #{seen[result.source]}"
        if len(scenarios) > 1:
            label += f" · {result.scenario}"
        runs.append(Run(i, label, result, (conversations or {}).get(i)))
    return runs


def channel_names(runs: Sequence[Run]) -> list[str]:
    """Channels of all runs, in the order they first appear."""
    names: list[str] = []
    for run in runs:
        names.extend(name for name in run.results.channels if name not in names)
    return names


def start_hours(results: Results) -> float:
    """Clock time of the run's first interval, in hours after midnight."""
    try:
        return parse_day_clock(results.start) % DAY / 3600.0
    except ValueError:
        return 0.0


def run_origin(run: Run, origin: float) -> float:
    """Start of ``run`` on the common axis whose origin is the first run's start."""
    return origin + (start_hours(run.results) - origin) % 24.0


def value(stat: Any, key: str = "mean") -> float:
    """A KPI's mean (or ci95) as a float, NaN when absent or null."""
    if not isinstance(stat, dict):
        return float("nan")
    number = stat.get(key)
    return float(number) if isinstance(number, int | float) else float("nan")


def interval_series(run: Run, kpi: str, origin: float, channel: str = ALL) -> Series:
    """Per-interval mean and ci95 of ``kpi`` for one channel (or ``"all"``)."""
    results = run.results
    width = results.interval / 3600.0
    first = run_origin(run, origin)
    rows = [row for row in results.intervals if row.get("channel") == channel]
    x = np.array([first + _position(row, i) * width for i, row in enumerate(rows)], dtype=float)
    mean = np.array([value(row.get(kpi)) for row in rows], dtype=float)
    ci = np.array([value(row.get(kpi), "ci95") for row in rows], dtype=float)
    order = np.argsort(x, kind="stable")
    return Series(x[order], width, mean[order], ci[order])


def _position(row: dict[str, Any], fallback: int) -> int:
    index = row.get("index")
    return int(index) if isinstance(index, int) else fallback


def time_span(runs: Sequence[Run], origin: float) -> tuple[float, float]:
    """First and last hour covered by any run's intervals."""
    first, last = origin, origin
    for run in runs:
        begin = run_origin(run, origin)
        count = 1 + max((_position(row, 0) for row in run.results.intervals), default=0)
        last = max(last, begin + count * run.results.interval / 3600.0)
        first = min(first, begin)
    return first, last


def model_and_replay(runs: Sequence[Run]) -> tuple[Run, Run] | None:
    """The first prediction and the first measurement, if the report has both."""
    model = next((r for r in runs if r.results.source == "model"), None)
    replay = next((r for r in runs if r.results.source == "replay"), None)
    return (model, replay) if model and replay else None


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a figure or table needs: the runs, the scenario, colours and the time axis."""

    runs: list[Run]
    scenario: Scenario | None
    channels: list[str]
    colours: dict[str, str]
    origin: float
    span: tuple[float, float]
    misses: list[IntervalMiss] = field(default_factory=list)
    """The first file's intervals whose mean misses a target (with a scenario)."""

    @property
    def primary(self) -> Run:
        """The run whose per-channel detail is drawn when only one fits (the first file)."""
        return self.runs[0]

    def missed_spans(self) -> list[tuple[float, float]]:
        """``(start, width)`` on the time axis, in hours, of each interval that misses a target."""
        width = self.primary.results.interval / 3600.0
        first = run_origin(self.primary, self.origin)
        return [(first + j * width, width) for j in sorted({m.index for m in self.misses})]


def make_context(
    results: Sequence[Results],
    conversations: dict[int, list[dict[str, Any]]] | None,
    scenario: Scenario | None,
) -> Context:
    """Label the runs and fix the channel colours and time axis of one report."""
    if not results:
        raise ValueError("a report needs at least one results file")
    runs = make_runs(results, conversations)
    names = channel_names(runs)
    origin = start_hours(results[0])
    misses = interval_misses(results[0], scenario) if scenario is not None else []
    span = time_span(runs, origin)
    return Context(runs, scenario, names, channel_colours(names), origin, span, misses)
