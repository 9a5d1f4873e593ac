r"""Shifts: blocks of agents working whole intervals, the cheapest set covering a requirement,
and the agents a scenario has logged in per interval.

A scenario staffs a group with ``shifts`` (clock times) or ``staffing`` (a head count per
interval). The planner thinks in :class:`ShiftBlock`\ s of whole intervals and writes them back
as clock-time shifts; :func:`scheduled_agents` reads either form back as agents per interval
(the schedule, not the drain: agents finishing chats after their shift are not counted).
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
class ShiftBlock:
    """``count`` agents working intervals ``[first, first + length)``."""

    first: int
    length: int
    count: int


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
    """Agents on shift in each of ``n`` intervals."""
    counts = [0] * n
    for block in shifts:
        for j in range(block.first, block.first + block.length):
            counts[j] += block.count
    return counts


def with_staffing(scenario: Scenario, group: str, staffing: Sequence[int]) -> Scenario:
    """``scenario`` with ``group`` staffed per interval (its shifts replaced)."""
    return _replace_group(scenario, group, {"staffing": list(staffing), "shifts": None})


def with_shifts(scenario: Scenario, group: str, shifts: Sequence[ShiftBlock]) -> Scenario:
    """``scenario`` with ``group`` working ``shifts`` (its staffing replaced); their clocks are
    written as the scenario's start is, with a day (``"Tue 07:00"``) or without."""
    clock = [scenario.clock(j * scenario.interval) for j in range(scenario.n_intervals + 1)]
    blocks = [
        Shift.model_validate(
            {"start": clock[b.first], "end": clock[b.first + b.length], "count": b.count}
        )
        for b in shifts
    ]
    return _replace_group(scenario, group, {"shifts": blocks, "staffing": None})


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
