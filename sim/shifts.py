r"""Shifts: blocks of agents working whole intervals, the cheapest set covering a requirement,
and the agents a scenario has logged in per interval.

A scenario staffs a group with ``shifts`` (clock times) or ``staffing`` (a head count per
interval). The planner thinks in :class:`ShiftBlock`\ s of whole intervals and writes them back
as clock-time shifts; :func:`scheduled_agents` reads either form back as agents per interval
(the schedule, not the drain: agents finishing chats after their shift are not counted).

A block rostered from a shift template (:mod:`sim.templates`) also names its ``template`` and
carries its :class:`BreakBlock`\ s; one that runs past the end of a horizon of whole days
(a night shift) wraps to its start, as a roster repeated every day does, and is written as two
scenario shifts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp

from sim.errors import PlanningError
from sim.kpi import time_in_bins
from sim.scenario import Scenario, Shift


@dataclass(frozen=True, slots=True)
class BreakBlock:
    """A break of a shift: intervals ``[first, first + length)`` (absolute interval indices
    of the horizon; at or past its end for a shift that wraps past it), ``paid`` or not."""

    first: int
    length: int
    paid: bool = True


@dataclass(frozen=True, slots=True)
class ShiftBlock:
    """``count`` agents on shift over intervals ``[first, first + length)``, away on their
    ``breaks``. ``first + length`` past the horizon's ``n`` intervals means the shift wraps to
    the horizon's start (:func:`head_count`); a shift cut at the horizon has ``length`` up to it
    and ``paid_length`` its whole length. ``template`` names the shift template it follows."""

    first: int
    length: int
    count: int
    template: str | None = None
    breaks: tuple[BreakBlock, ...] = ()
    paid_length: int | None = None
    """Paid intervals of one agent's shift, when not ``length``: the whole shift even where it
    is cut at the horizon, less its unpaid breaks."""

    @property
    def paid(self) -> int:
        """Paid intervals of one agent of the block."""
        return self.length if self.paid_length is None else self.paid_length

    def at_work(self) -> list[int]:
        """The intervals (unwrapped: ``first`` up to ``first + length``) in which the block's
        agents are on shift and not on a break."""
        away = {j for pause in self.breaks for j in range(pause.first, pause.first + pause.length)}
        return [j for j in range(self.first, self.first + self.length) if j not in away]


def cover(required: Sequence[int], lengths: Sequence[int]) -> list[ShiftBlock]:
    """The cheapest shifts (in interval-slots worked) covering ``required`` agents per interval.

    A shift of length ``L`` intervals may start at any interval. One that would run past the
    end of the horizon is written cut at it (a scenario's shift cannot end later) but costs its
    full length: the agent works it all, the rest falls outside what is planned. Solved exactly
    as an integer program with HiGHS through ``scipy.optimize.milp``.
    """
    n = len(required)
    if any(r < 0 for r in required):
        raise PlanningError("required agents must not be negative")
    if not lengths or any(length < 1 for length in lengths):
        raise PlanningError("shift lengths must be at least one interval")
    if not any(required):
        return []
    paid: dict[
        tuple[int, int], int
    ] = {}  # (first, length within the horizon): cheapest full length
    for length in lengths:
        for first in range(n):
            key = (first, min(length, n - first))
            paid[key] = min(paid.get(key, length), length)
    options = sorted(paid)
    coverage = np.zeros((n, len(options)))
    for i, (first, length) in enumerate(options):
        coverage[first : first + length, i] = 1.0
    cost = np.array([paid[option] for option in options], dtype=float)
    solution = milp(
        cost,
        constraints=LinearConstraint(coverage, lb=np.asarray(required, dtype=float), ub=np.inf),
        integrality=np.ones(len(options)),
        bounds=(0, np.inf),
    )
    if solution.x is None:  # cannot happen: one-interval shifts always cover
        raise PlanningError(f"no shift plan found: {solution.message}")
    counts = np.rint(solution.x).astype(int)
    return [
        ShiftBlock(first, length, int(c))
        for (first, length), c in zip(options, counts, strict=True)
        if c > 0
    ]


def head_count(shifts: Sequence[ShiftBlock], n: int) -> list[int]:
    """Agents at work (on shift and not on a break) in each of ``n`` intervals; a block past
    the horizon's end wraps to its start."""
    counts = [0] * n
    for block in shifts:
        for j in block.at_work():
            counts[j % n] += block.count
    return counts


def paid_intervals(shifts: Sequence[ShiftBlock]) -> int:
    """Paid agent-intervals of ``shifts``: whole shifts (also where cut at the horizon) less
    unpaid breaks."""
    return sum(block.count * block.paid for block in shifts)


def with_staffing(scenario: Scenario, group: str, staffing: Sequence[int]) -> Scenario:
    """``scenario`` with ``group`` staffed per interval (its shifts replaced)."""
    return _replace_group(scenario, group, {"staffing": list(staffing), "shifts": None})


def with_shifts(scenario: Scenario, group: str, shifts: Sequence[ShiftBlock]) -> Scenario:
    """``scenario`` with ``group`` working ``shifts`` (its staffing replaced), breaks included,
    so that a model run plays them (with the group's shrinkage and absence)."""
    blocks = [shift for block in shifts for shift in scenario_shifts(scenario, block)]
    return _replace_group(scenario, group, {"shifts": blocks, "staffing": None})


def _clock(scenario: Scenario, index: int) -> str:
    """The clock time at which interval ``index`` of the horizon starts, as a scenario writes
    it, with a day (``"Tue 07:00"``) or without as its start is (``index`` may be the horizon's
    end)."""
    return scenario.clock(index * scenario.interval)


def scenario_shifts(scenario: Scenario, block: ShiftBlock) -> list[Shift]:
    """A block as the scenario's shifts: one, or two where it wraps past the horizon's end (the
    part up to the end, and the rest from the start). Breaks are written at their clock times
    (``at``); a part begins after, or ends at, a break that its edge cuts (the agent is away
    then anyway), since a scenario's break lies inside its shift."""
    n = scenario.n_intervals
    end = block.first + block.length
    parts = [(block.first, min(end, n))] + ([(n, end)] if end > n else [])
    work = set(block.at_work())
    shifts = []
    for begin, stop in parts:
        inside = [j for j in range(begin, stop) if j in work]
        if not inside:
            continue
        first, last = inside[0], inside[-1] + 1
        offset = n if begin >= n else 0  # the part after the horizon's end wraps to its start
        pauses = [
            {"length": p.length * scenario.interval, "at": _clock(scenario, p.first - offset),
             "paid": p.paid}
            for p in block.breaks
            if first < p.first and p.first + p.length < last
        ]  # fmt: skip
        data: dict[str, object] = {
            "start": _clock(scenario, first - offset),
            "end": _clock(scenario, last - offset),
            "count": block.count,
        }
        if pauses:
            data["breaks"] = pauses
        shifts.append(Shift.model_validate(data))
    return shifts


def _replace_group(scenario: Scenario, group: str, update: dict[str, object]) -> Scenario:
    agents = [g.model_copy(update=update) if g.group == group else g for g in scenario.agents]
    return scenario.model_copy(update={"agents": agents})


def shift_intervals(scenario: Scenario, shift_lengths: Sequence[float]) -> list[int]:
    """Shift lengths (seconds) as whole numbers of the scenario's intervals."""
    lengths = []
    for seconds in shift_lengths:
        intervals = seconds / scenario.interval
        if seconds <= 0 or abs(intervals - round(intervals)) > 1e-9:
            raise PlanningError(
                f"{seconds:g}s is not a positive whole number of intervals "
                f"({scenario.interval:g}s)",
                parameter="shift_lengths",
            )
        lengths.append(round(intervals))
    return lengths


@dataclass(frozen=True, slots=True)
class Schedule:
    """Agents logged in per interval (time-averaged) for each group, and their chat slots."""

    groups: dict[str, np.ndarray]
    slots: np.ndarray

    @property
    def agents(self) -> np.ndarray:
        total = np.zeros_like(self.slots)
        for agents in self.groups.values():
            total = total + agents
        return total

    @property
    def slots_per_agent(self) -> float:
        """Chat slots per logged-in agent, averaged over the day (agent time weighted)."""
        total = float(self.agents.sum())
        return float(self.slots.sum()) / total if total > 0 else 1.0


def scheduled_agents(scenario: Scenario) -> Schedule:
    """Agents each group has logged in during each interval, from its shifts or staffing."""
    count = scenario.n_intervals
    edges = np.arange(count + 1) * scenario.interval
    groups: dict[str, np.ndarray] = {}
    slots = np.zeros(count)
    for group in scenario.agents:
        agents = np.zeros(count)
        for shift in group.shifts or []:
            begin, end = scenario.shift_window(shift)
            inside = time_in_bins(
                np.array([begin]), np.array([end]), edges, np.array([float(shift.count)])
            )
            agents += inside / scenario.interval
        if group.staffing:
            listed = np.array(group.staffing[:count], dtype=float)
            agents[: listed.size] += listed
        groups[group.group] = agents
        slots += agents * group.max_chats
    return Schedule(groups, slots)
