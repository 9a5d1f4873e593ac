"""Sweeps: a grid of what-ifs, every point played on the same conversations.

A sweep varies one or more **axes** (``--vary PATH=VALUES``) and runs every point of their grid
(the Cartesian product) with the same replications. An axis is one of:

* ``volume``: a factor on every channel's mean volume (``1.2`` is 20% more conversations);
  ``channels.NAME.volume``: on one channel's. Factors are at least 0. A ``{mean, cv}`` volume
  keeps its cv: the factor moves its mean.
* ``agents``: agents added to (or, negative, taken from) every group; ``agents.GROUP``: to one
  group. The change goes to every shift of the group (``count``) or to every interval of its
  ``staffing``, never below 0. Values are whole numbers: ``-2:+3`` is -2, -1, 0, 1, 2, 3.
* ``reply.mean``, ``first_reply.mean``, ``patience.mean``, ``think.mean``, ``close_after.mean``
  (every channel that has it) and ``channels.NAME.FIELD.mean`` (one channel): the distribution's
  mean, with its family and cv kept (as :mod:`sim.calibrate` varies it). A **bare number is a
  factor** on the scenario's mean (``0.8:1.2:0.1``); a **duration with a unit is the mean
  itself** (``30s:90s:15s``, ``2m,3m``; over several channels: their plain average, the channels
  keeping their ratios). One axis takes factors or durations, not both.
* ``agents.GROUP.reply_factor``, ``agents.GROUP.slowdown`` (the curve's last factor): the value
  itself, as :mod:`sim.calibrate` reads these paths.

**Values** are ``START:STOP:STEP`` (STOP included when the steps reach it), ``START:STOP`` (step
1: for ``agents`` only), a list ``A,B,C`` or one value ``A``.

**Common random numbers.** Every point plays replication ``r`` of the same draw: the traces of
the scenario with each channel's volume at the *largest* factor of the grid (seed ``S``,
replication ``r``, exactly as ``simulate`` draws them), and roster draws from the same seed.
A point at a smaller volume factor ``f`` keeps each of a channel's conversations when its own
uniform (a stream of its own, from the seed, the replication and the channel) is below
``f / f_max``: independent thinning of a Poisson process is a Poisson process at the thinned
rate, and a conversation's other draws do not depend on whether it is kept, so each point's
traffic has exactly the distribution of the scenario at that volume, and the points are nested
(the conversations at 0.9 are among those at 1.0). Duration means rescale the drawn trace
(:class:`sim.calibrate.TraceScale`: the same draws, another mean); agents are read by the model
from the scenario. So the points differ only by what is varied, not by new draws, and
differences between points are far less noisy than their confidence intervals suggest. (The
points' traffic is not the trace ``simulate --seed S`` plays when the grid's largest volume
factor is not 1.)

Each point is measured in total (``all``) and per channel, without the percentile KPIs, and
summarised over the replications (:func:`sim.results.aggregate`). Its **agent-hours** are the
scheduled ones (:func:`sim.shifts.scheduled_agents`) and its **cost** their sum over groups
times each group's ``cost``, as the planner counts them. A point **meets the targets** when the
means meet the scenario's targets in total and each channel's own targets
(:func:`sim.capacity.target_checks`); the **cheapest** such point is the one of least cost
(the first in grid order on a tie).

The module does no I/O: :mod:`sim.cli.sweep` prints and writes, :mod:`sim.report.sweep` draws.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.calibrate import (
    CalibrationError,
    Parameter,
    TraceScale,
    apply,
    parse_vary,
    slowdown_curve,
)
from sim.capacity import target_checks
from sim.durations import parse_duration
from sim.kpi import ALL
from sim.results import Results, ResultsHeader, aggregate
from sim.runner import Play, Runner, Traffic
from sim.scenario import AgentGroup, Channel, Scenario, Volume
from sim.shifts import scheduled_agents
from sim.trace import Trace
from sim.traffic import channel_key, stream
from sim.verdict import Check

THIN_STREAM = 0x5EE9
"""Key of the thinning streams (beside the channels' own streams of a replication)."""

MAX_VALUES = 1000
"""The most values one axis may take."""

KPIS = (
    "offered",
    "answered",
    "missed",
    "missed_rate",
    "service_level",
    "frt_mean",
    "insession_mean",
    "bot_contained",
    "max_queue",
    "occupancy",
    "slot_utilisation",
    "paid_hours",
    "logged_in_hours",
    "productive_hours",
)
"""The KPIs of the sweep table (means and 95% half-widths)."""

FORMS = (
    "volume, channels.NAME.volume, agents, agents.GROUP, reply.mean, patience.mean (and "
    "first_reply, think, close_after), channels.NAME.FIELD.mean, agents.GROUP.reply_factor or "
    "agents.GROUP.slowdown"
)

Kind = Literal["volume", "agents", "parameter"]


class SweepError(ValueError):
    """A sweep that cannot be run as asked; ``parameter`` names the argument at fault."""

    def __init__(self, problem: str, *, parameter: str = "vary") -> None:
        super().__init__(problem)
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class Axis:
    """One varied thing and its values.

    ``targets`` are the channels (``volume``) or groups (``agents``) it moves; ``parameter``
    the calibration parameter of a ``parameter`` axis, whose values are factors on its value in
    the scenario when ``relative`` and the value itself otherwise.
    """

    name: str
    kind: Kind
    targets: tuple[str, ...]
    values: tuple[float, ...]
    relative: bool = True
    parameter: Parameter | None = None

    @property
    def touches(self) -> frozenset[tuple[str, str]]:
        """The (channel or group, key) pairs the axis moves: two axes may not share one."""
        if self.parameter is not None:
            return self.parameter.touches
        key = "volume" if self.kind == "volume" else "agents"
        return frozenset((target, key) for target in self.targets)

    @property
    def unit(self) -> str:
        """What the values are: ``factor``, ``agents added``, ``seconds`` or ``value``."""
        if self.kind == "volume" or (self.kind == "parameter" and self.relative):
            return "factor"
        if self.kind == "agents":
            return "agents added"
        assert self.parameter is not None
        return "seconds" if self.parameter.kind == "duration" else "value"

    def text(self, value: float) -> str:
        """A value as people read it: ``x1.2``, ``+3``, ``45 s``, ``1.250``."""
        if self.unit == "factor":
            return f"x{value:g}"
        if self.kind == "agents":
            return f"{value:+g}"
        if self.unit == "seconds":
            return f"{value:g} s"
        return f"{value:g}"


def parse_axis(scenario: Scenario, text: str) -> Axis:
    """A ``--vary`` argument ``PATH=VALUES`` (see the module's documentation)."""
    path, sep, spec = text.partition("=")
    path = path.strip()
    if not sep or not spec.strip():
        raise SweepError(f"{text!r}: expected PATH=VALUES, such as volume=0.8:1.5:0.1")
    parts = path.split(".")
    where = f"{path}={spec}"
    if path == "volume" or (len(parts) == 3 and parts[0] == "channels" and parts[2] == "volume"):
        targets = tuple(scenario.channels) if path == "volume" else (parts[1],)
        if targets[0] not in scenario.channels:
            raise SweepError(
                f"{path}: unknown channel {targets[0]!r} (channels: {', '.join(scenario.channels)})"
            )
        values = _numbers(where, spec)
        if min(values) < 0:
            raise SweepError(f"{where}: a volume factor must be at least 0")
        return Axis(path, "volume", targets, values)
    groups = [group.group for group in scenario.agents]
    if path == "agents" or (len(parts) == 2 and parts[0] == "agents"):
        targets = tuple(groups) if path == "agents" else (parts[1],)
        if targets[0] not in groups:
            raise SweepError(
                f"{path}: unknown agent group {targets[0]!r} (groups: {', '.join(groups)})"
            )
        values = _numbers(where, spec, step_one=True)
        if any(v != round(v) for v in values):
            raise SweepError(f"{where}: agents are added in whole numbers")
        return Axis(path, "agents", targets, tuple(float(round(v)) for v in values))
    try:
        parameter = parse_vary(scenario, path)
    except CalibrationError as error:
        message = str(error)
        if "a parameter is one of" in message:
            message = message.split(";")[0] + f"; an axis is one of {FORMS}"
        raise SweepError(message) from None
    if parameter.kind == "duration":
        values, relative = _durations(where, spec)
        if min(values) <= 0:
            raise SweepError(f"{where}: a mean must be above 0")
        return Axis(path, "parameter", parameter.targets, values, relative, parameter)
    values = _numbers(where, spec)
    if parameter.kind == "reply_factor" and min(values) <= 0:
        raise SweepError(f"{where}: a reply_factor must be above 0")
    if parameter.kind == "slowdown":
        group = next(g for g in scenario.agents if g.group == parameter.targets[0])
        if min(min(slowdown_curve(group.slowdown_factors, v)) for v in values) <= 0:
            raise SweepError(f"{where}: the curve would have a factor at or below 0")
    return Axis(path, "parameter", parameter.targets, values, False, parameter)


def _numbers(where: str, spec: str, *, step_one: bool = False) -> tuple[float, ...]:
    def number(token: str) -> float:
        try:
            value = float(token)
        except ValueError:
            raise SweepError(f"{where}: {token.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise SweepError(f"{where}: {token.strip()!r} is not a finite number")
        return value

    return _values(where, spec, number, step_one=step_one)


def _durations(where: str, spec: str) -> tuple[tuple[float, ...], bool]:
    """Factors (bare numbers) or means (durations with a unit), and whether they are factors."""
    kinds: set[bool] = set()

    def value(token: str) -> float:
        token = token.strip()
        try:
            number = float(token)
        except ValueError:
            pass
        else:
            kinds.add(True)
            if not math.isfinite(number):
                raise SweepError(f"{where}: {token!r} is not a finite number")
            return number
        try:
            seconds = parse_duration(token)
        except ValueError as error:
            raise SweepError(f"{where}: {error}") from None
        kinds.add(False)
        return seconds

    values = _values(where, spec, value)
    if len(kinds) > 1:
        raise SweepError(
            f"{where}: give factors (bare numbers) or means (durations such as 30s), not both"
        )
    return values, kinds.pop()


def _values(
    where: str, spec: str, read: Callable[[str], float], *, step_one: bool = False
) -> tuple[float, ...]:
    if "," in spec:
        tokens = [t for t in spec.split(",")]
        if any(not t.strip() for t in tokens):
            raise SweepError(f"{where}: an empty value in the list")
        return tuple(dict.fromkeys(read(t) for t in tokens))
    pieces = spec.split(":")
    if len(pieces) == 1:
        return (read(pieces[0]),)
    if len(pieces) == 2 and not step_one:
        raise SweepError(f"{where}: expected START:STOP:STEP (a step is needed), or A,B,C")
    if len(pieces) > 3:
        raise SweepError(f"{where}: expected START:STOP:STEP, START:STOP or A,B,C")
    start, stop = read(pieces[0]), read(pieces[1])
    step = read(pieces[2]) if len(pieces) == 3 else 1.0
    if step <= 0:
        raise SweepError(f"{where}: the step must be above 0")
    if stop < start:
        raise SweepError(f"{where}: STOP ({stop:g}) is below START ({start:g})")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_VALUES:
        raise SweepError(f"{where}: {count} values; at most {MAX_VALUES} per axis")
    return tuple(round(start + i * step, 9) for i in range(count))


def check_axes(axes: Sequence[Axis]) -> None:
    """At least one axis, and no two moving the same thing."""
    if not axes:
        raise SweepError("give at least one axis to vary")
    seen: dict[tuple[str, str], str] = {}
    for axis in axes:
        for touched in axis.touches:
            if touched in seen:
                owner, key = touched
                raise SweepError(f"{seen[touched]} and {axis.name} both move {owner}'s {key}")
            seen[touched] = axis.name


def grid(axes: Sequence[Axis]) -> list[tuple[float, ...]]:
    """Every point of the grid, the last axis varying fastest."""
    return list(itertools.product(*(axis.values for axis in axes)))


# -- a point: its scenario and the rewrite of the drawn traces ---------------------------------


@dataclass(frozen=True, slots=True)
class Thinning:
    """Keeps each conversation of a channel with probability ``share`` (per channel), by a
    uniform from the channel's thinning stream of the trace's seed and replication: the same
    uniforms at every share, so smaller shares keep subsets. Picklable."""

    shares: tuple[tuple[str, float], ...]

    def __bool__(self) -> bool:
        return any(share < 1.0 for _, share in self.shares)

    def __call__(self, trace: Trace) -> Trace:
        shares = {name: share for name, share in self.shares if share < 1.0}
        if not shares:
            return trace
        seed, replication = trace.header.seed, trace.header.replication
        columns = trace.columns
        dropped = np.zeros(len(columns), dtype=bool)
        for name in columns.channels:
            if name in shares:
                rows = np.flatnonzero(columns.on({name}))
                uniforms = stream(seed, replication, THIN_STREAM, channel_key(name)).random(
                    len(rows)
                )
                dropped[rows[uniforms >= shares[name]]] = True
        return trace.keeping(np.flatnonzero(~dropped))


@dataclass(frozen=True, slots=True)
class Rewrite:
    """What a point does to a drawn trace: thin it, then rescale its durations. Picklable."""

    thinning: Thinning
    scale: TraceScale

    def __bool__(self) -> bool:
        return bool(self.thinning) or bool(self.scale)

    def __call__(self, trace: Trace) -> Trace:
        return self.scale(self.thinning(trace))


def _volume_factors(axes: Sequence[Axis], values: Sequence[float]) -> dict[str, float]:
    factors: dict[str, float] = {}
    for axis, value in zip(axes, values, strict=True):
        if axis.kind == "volume":
            for name in axis.targets:
                factors[name] = value
    return factors


def _with_volume(channel: Channel, factor: float) -> Channel:
    if factor == 1.0:
        return channel
    volume = channel.volume
    if isinstance(volume, Volume):
        new: float | Volume = volume.model_copy(update={"mean": volume.mean * factor})
    else:
        new = volume * factor
    return channel.model_copy(update={"volume": new})


def top_volumes(axes: Sequence[Axis]) -> dict[str, float]:
    """Each varied channel's largest volume factor in the grid: the traces are drawn there."""
    top: dict[str, float] = {}
    for axis in axes:
        if axis.kind == "volume":
            for name in axis.targets:
                top[name] = max(axis.values)
    return top


def drawn_scenario(scenario: Scenario, axes: Sequence[Axis]) -> Scenario:
    """The scenario whose traces every point plays (volumes at the grid's largest factors)."""
    top = top_volumes(axes)
    channels = {
        name: _with_volume(channel, top.get(name, 1.0))
        for name, channel in scenario.channels.items()
    }
    return scenario.model_copy(update={"channels": channels})


def _with_agents(group: AgentGroup, added: int) -> AgentGroup:
    if added == 0:
        return group
    update: dict[str, object] = {}
    if group.shifts:
        update["shifts"] = [
            shift.model_copy(update={"count": max(0, shift.count + added)})
            for shift in group.shifts
        ]
    if group.staffing:
        update["staffing"] = [max(0, count + added) for count in group.staffing]
    return group.model_copy(update=update)


def point_scenario(
    scenario: Scenario, axes: Sequence[Axis], values: Sequence[float]
) -> tuple[Scenario, Rewrite]:
    """The scenario of the grid point ``values`` and the rewrite of the drawn traces that plays
    it."""
    parameters: list[Parameter] = []
    settings: list[float] = []
    added = dict.fromkeys((group.group for group in scenario.agents), 0)
    for axis, value in zip(axes, values, strict=True):
        if axis.kind == "agents":
            for group in axis.targets:
                added[group] += round(value)
        elif axis.parameter is not None:
            parameters.append(axis.parameter)
            settings.append(value * axis.parameter.start if axis.relative else value)
    candidate, scale = apply(scenario, parameters, settings)
    factors = _volume_factors(axes, values)
    top = top_volumes(axes)
    channels = {
        name: _with_volume(channel, factors.get(name, 1.0))
        for name, channel in candidate.channels.items()
    }
    agents = [_with_agents(group, added[group.group]) for group in candidate.agents]
    candidate = candidate.model_copy(update={"channels": channels, "agents": agents})
    shares = tuple(
        (name, factors[name] / top[name] if top[name] > 0 else 1.0) for name in sorted(factors)
    )
    return candidate, Rewrite(Thinning(shares), scale)


def agent_hours(scenario: Scenario) -> dict[str, float]:
    """Scheduled agent-hours of each group."""
    schedule = scheduled_agents(scenario)
    return {
        name: float(agents.sum()) * scenario.interval / 3600
        for name, agents in schedule.groups.items()
    }


# -- the sweep ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    """One grid point, simulated: its values (one per axis), KPIs, schedule and targets."""

    index: int
    values: tuple[float, ...]
    results: Results
    hours: dict[str, float]
    cost: float
    checks: tuple[Check, ...]

    @property
    def agent_hours(self) -> float:
        return sum(self.hours.values())

    @property
    def meets(self) -> bool:
        """Whether the means meet every target (True when the scenario sets none)."""
        return all(check.passed for check in self.checks)


@dataclass(frozen=True, slots=True)
class Sweep:
    """A grid of what-ifs of ``scenario``, each point on ``replications`` draws of ``seed``."""

    scenario: Scenario
    axes: tuple[Axis, ...]
    seed: int
    replications: int
    points: tuple[Point, ...]

    @property
    def has_targets(self) -> bool:
        return bool(self.scenario.targets.items()) or any(
            channel.targets is not None and channel.targets.items()
            for channel in self.scenario.channels.values()
        )

    def cheapest(self) -> Point | None:
        """The point of least cost meeting the targets (None: none does, or there are none)."""
        if not self.has_targets:
            return None
        meeting = [point for point in self.points if point.meets]
        return min(meeting, key=lambda p: (p.cost, p.index)) if meeting else None


def run_sweep(
    scenario: Scenario,
    axes: Sequence[Axis],
    *,
    replications: int = 3,
    seed: int = 1,
    jobs: int = 1,
    executor: Executor | None = None,
    on_run: Callable[[int], None] | None = None,
) -> Sweep:
    """Simulate every point of the grid on the same ``replications`` traces (common random
    numbers). With ``jobs > 1`` every point's replications run in that many processes, with an
    ``executor`` (such as a Dask client's) on it, all points at once; the results do not depend
    on either. ``on_run`` is called with the number of runs (points times replications) done."""
    check_axes(axes)
    if replications < 1:
        raise SweepError("replications must be at least 1", parameter="replications")
    traffic = Traffic(drawn_scenario(scenario, axes), seed, replications)
    values_of = grid(axes)
    plays = []
    for values in values_of:
        candidate, rewrite = point_scenario(scenario, axes, values)
        plays.append(Play(candidate, rewrite if rewrite else None))
    with Runner(
        traffic, jobs=jobs, executor=executor, keep_traces=True, width=len(plays)
    ) as runner:
        # The sweep reports the day, not its intervals: the runs come back without them.
        batches = runner.run_all(plays, quantiles=False, intervals=False, on_replication=on_run)
    points: list[Point] = []
    for index, (values, play, batch) in enumerate(zip(values_of, plays, batches, strict=True)):
        candidate = play.scenario
        results = aggregate(batch.measurements[0], ResultsHeader.of(candidate, seed=seed))
        hours = agent_hours(candidate)
        costs = {group.group: group.cost for group in candidate.agents}
        cost = sum(h * costs[g] for g, h in hours.items())
        checks = tuple(target_checks(results, candidate))
        points.append(Point(index, tuple(values), results, hours, cost, checks))
    return Sweep(scenario, tuple(axes), seed, replications, tuple(points))


Row = dict[str, str | float | int | bool | None]


def table(sweep: Sweep) -> list[Row]:
    """The tidy table: one row per grid point and channel (``all``, then each channel), with
    the axes' values, each KPI's mean and 95% half-width (``KPI`` and ``KPI_ci95``), the
    point's agent-hours, cost, whether it meets the targets and whether it is the cheapest that
    does (the point's columns repeat on its channel rows)."""
    cheapest = sweep.cheapest()
    rows: list[Row] = []
    for point in sweep.points:
        scopes = [(ALL, point.results.total), *point.results.channels.items()]
        for channel, kpis in scopes:
            row: Row = {"point": point.index}
            for axis, value in zip(sweep.axes, point.values, strict=True):
                row[axis.name] = round(value) if axis.kind == "agents" else value
            row["channel"] = channel
            row["replications"] = sweep.replications
            row["seed"] = sweep.seed
            for key in KPIS:
                stat = kpis.get(key, {})
                row[key] = stat.get("mean")
                row[f"{key}_ci95"] = stat.get("ci95")
            row["agent_hours"] = point.agent_hours
            row["cost"] = point.cost
            row["meets_targets"] = point.meets
            row["cheapest"] = cheapest is not None and point.index == cheapest.index
            rows.append(row)
    return rows
