r"""Shift templates: the cheapest roster of a group's templates, its breaks placed, that covers a
requirement of agents at work per interval.

A group's ``templates`` (:class:`sim.scenario.Template`) say which shifts the planner may roster:
lengths, a window of start times with a step, breaks with their windows (relative to the
shift's start, paid or not, taken in the order listed), and minimum and maximum head counts per
template and for the group. Everything here is in interval indices of the horizon.

**Shifts.** A *shift* is a template, a start and a length. The starts of a template are its clock
times on every day of the horizon (:func:`template_starts`, the one function that turns clocks
into interval indices). A *placement* puts each of the shift's breaks at one interval-aligned
start within its window; an agent is at work in its shift's intervals less its breaks, and is
paid for the whole shift less its unpaid breaks.

**The horizon's end.** A scenario's shift cannot run past its horizon. When the horizon is a
whole number of days the roster is taken to repeat (the same day every day, the same week every
week), so a shift running past the end (a night shift from 22:00 in a day from 00:00) wraps to
the start: its early-morning hours cover the horizon's first intervals, as the night shift that
began the evening before does on a real day. It is written as two scenario shifts
(:func:`sim.shifts.scenario_shifts`). A horizon that is not whole days (a morning of three hours)
does not repeat: the shift is written cut at its end, as :func:`sim.shifts.cover` does, and is
paid in full (the agent works it all; the rest is outside the plan). A start before the horizon
is not rostered.

**The integer program.** Integer variables: ``x[s]``, the agents working shift ``s``, and
``y[s, k, p]``, those of them taking break ``k`` at offset ``p`` of its window. Minimise the
paid agent-intervals ``sum paid[s] x[s]`` (the paid agent-hours times the group's cost, over a
constant: the cost and the interval's hours), subject to

- each break placed once per agent: ``sum_p y[s, k, p] = x[s]``;
- coverage, per interval ``j``: agents on a shift over ``j`` less those on a break over ``j``
  ``>= required[j]``;
- breaks in order where two windows could overlap: per ``t``, agents whose break ``k + 1``
  started by ``t`` ``<=`` those whose break ``k`` ended by ``t``;
- per template and for the group, ``min <= sum x <= max``.

This is the explicit model, one variable per (template, start, length, placement), in aggregated
form (Aykin's implicit break model): a solution gives each agent of a shift the ``i``-th earliest
start of every break (the order rows make that a valid placement), and every explicit roster is a
solution, so both have the same optimum (tests/test_templates.py checks it by brute force over
explicit placements). The explicit model multiplies the placements of the breaks; this one adds
them. Solved by HiGHS through ``scipy.optimize.milp``, to within :data:`MIP_GAP` of the optimum
(exactly on small rosters, whose objective is below ``1 / MIP_GAP``) or :data:`NODE_LIMIT`.

**Size.** A day of 15-minute intervals with two templates, each of two lengths (8h, 9h) and
eleven starts (every 30 minutes over five hours), and two breaks of seven possible starts each
(15 minutes 1h30m to 3h after the start, 30 minutes unpaid 3h30m to 5h): 44 shifts, 44 + 44 x 14 =
660 variables, 96 coverage rows, 88 break rows and 3 head-count rows; the explicit model would
have 44 x 49 = 2,156 variables. README ("The planner") has the solve times; a week repeats the
day's starts seven times. :data:`MAX_VARIABLES` guards the size.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import coo_array

from sim.errors import PlanningError
from sim.scenario import AgentGroup, Scenario, Template
from sim.shifts import BreakBlock, ShiftBlock

DAY = 86400.0

MAX_VARIABLES = 200_000
"""The most variables (shifts and their break starts) one group's integer program may have."""

MIP_GAP = 0.005
"""Relative gap to the optimum at which HiGHS stops: 0.5%, a fraction of one agent's shift on a
day of dozens; exact while the paid agent-intervals stay below 200."""

NODE_LIMIT = 200
"""Branch-and-bound nodes HiGHS may explore for one group's roster; past them the best roster
found is taken. A node limit, unlike a time limit, gives the same roster on every machine, so a
plan stays reproducible for its seed (on a day of a few agents the last percent of the gap is
the slow part: README, "The planner")."""

TIME_LIMIT = 30.0
"""Seconds after which HiGHS stops anyway (a safety net; the node limit comes first)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A break of a template in intervals: its start ``earliest`` to ``latest`` after the
    shift's start, ``length`` long."""

    earliest: int
    latest: int
    length: int
    paid: bool

    @property
    def offsets(self) -> range:
        return range(self.earliest, self.latest + 1)


@dataclass(frozen=True, slots=True)
class Shape:
    """A shift of template ``template``: ``length`` intervals from ``first`` (cut at the horizon,
    or past it to wrap), ``full`` its length in the template, ``paid`` intervals paid."""

    template: int
    first: int
    length: int
    full: int
    paid: int


def template_starts(scenario: Scenario, template: Template) -> list[int]:
    """The intervals of the horizon at which shifts of ``template`` may start: its clock times
    from ``earliest`` to ``latest`` every ``step`` on every day the horizon touches, counted
    from the scenario's start (``scenario.start`` is seconds after midnight)."""
    step = template.step if template.step is not None else scenario.interval
    count = round((template.latest - template.earliest) / step) + 1
    clocks = [template.earliest + k * step for k in range(count)]
    begin = scenario.start % DAY
    starts = set()
    for day in range(math.ceil((begin + scenario.duration) / DAY) + 1):
        for clock in clocks:
            at = day * DAY + clock - begin
            if -1e-9 <= at < scenario.duration - 1e-9:
                starts.add(round(at / scenario.interval))
    return sorted(starts)


def wraps(scenario: Scenario) -> bool:
    """Whether the horizon is whole days, so that its roster repeats and a shift past its end
    wraps to its start."""
    days = scenario.duration / DAY
    return abs(days - round(days)) <= 1e-9


def rules(scenario: Scenario, template: Template) -> list[Rule]:
    """The template's breaks in intervals."""
    interval = scenario.interval
    return [
        Rule(
            round(b.earliest / interval),
            round(b.latest / interval),
            round(b.length / interval),
            b.paid,
        )
        for b in template.breaks
    ]


def shapes(scenario: Scenario, group: AgentGroup) -> list[Shape]:
    """Every shift the group's templates allow; of two lengths cut to the same end at the
    horizon, the cheaper."""
    n, wrap = scenario.n_intervals, wraps(scenario)
    found: dict[tuple[int, int, int], Shape] = {}
    for k, template in enumerate(group.templates or []):
        unpaid = sum(rule.length for rule in rules(scenario, template) if not rule.paid)
        for first in template_starts(scenario, template):
            for seconds in template.lengths:
                full = round(seconds / scenario.interval)
                shape = Shape(k, first, full if wrap else min(full, n - first), full, full - unpaid)
                key = (k, first, shape.length)
                if key not in found or shape.paid < found[key].paid:
                    found[key] = shape
    return sorted(found.values(), key=lambda s: (s.template, s.first, s.length))


@dataclass(frozen=True, slots=True)
class Program:
    """The integer program of one group: its shifts, variables and constraint rows."""

    shapes: list[Shape]
    breaks: list[list[Rule]]
    """The break rules of each template."""
    columns: list[tuple[int, int, int]]
    """Per break-start variable: (shape index, break, offset after the shift's start)."""
    coverage: coo_array
    order: coo_array | None
    placed: coo_array | None
    cost: np.ndarray

    @property
    def variables(self) -> int:
        return len(self.shapes) + len(self.columns)


def check(scenario: Scenario, group: AgentGroup) -> None:
    """What can be said of a group's templates before any requirement is known: every template
    with a minimum has a start within the horizon, and the integer program stays within
    :data:`MAX_VARIABLES`. Raises :class:`PlanningError` naming the key."""
    found = shapes(scenario, group)
    where = _where(scenario, group)
    for k, template in enumerate(group.templates or []):
        if template.min > 0 and not any(s.template == k for s in found):
            raise PlanningError(
                f"template {template.name!r} of group {group.group!r} has no start within the "
                f"horizon, so it cannot have its minimum of {template.min}",
                key=f"{where}.templates[{k}].min",
            )
    every = [rules(scenario, t) for t in group.templates or []]
    size = len(found) + sum(sum(len(r.offsets) for r in every[s.template]) for s in found)
    if size > MAX_VARIABLES:
        raise PlanningError(
            f"the templates of group {group.group!r} make an integer program of {size:,} "
            f"variables (shifts and their break starts), more than {MAX_VARIABLES:,}: a longer "
            "step, fewer lengths or narrower break windows",
            key=f"{where}.templates",
        )


def program(scenario: Scenario, group: AgentGroup) -> Program:
    """The group's shifts and break starts as an integer program's matrices (see the module's
    docstring); raises :class:`PlanningError` where :func:`check` does."""
    check(scenario, group)
    n = scenario.n_intervals
    every = [rules(scenario, t) for t in group.templates or []]
    found = shapes(scenario, group)
    cover_rows: list[int] = []
    cover_columns: list[int] = []
    cover_values: list[float] = []
    columns: list[tuple[int, int, int]] = []
    placed: list[tuple[int, int, float]] = []  # (row, column, value)
    order: list[tuple[int, int, float]] = []
    placed_rows = order_rows = 0
    for i, shape in enumerate(found):
        for j in range(shape.first, shape.first + shape.length):
            cover_rows.append(j % n)
            cover_columns.append(i)
            cover_values.append(1.0)
        index: dict[tuple[int, int], int] = {}
        for k, rule in enumerate(every[shape.template]):
            placed.append((placed_rows, i, -1.0))
            for p in rule.offsets:
                column = len(found) + len(columns)
                index[k, p] = column
                columns.append((i, k, p))
                placed.append((placed_rows, column, 1.0))
                for j in range(shape.first + p, min(shape.first + p + rule.length, _end(shape))):
                    cover_rows.append(j % n)
                    cover_columns.append(column)
                    cover_values.append(-1.0)
            placed_rows += 1
        kinds = every[shape.template]
        for k, (before, after) in enumerate(itertools.pairwise(kinds)):
            # Started break k + 1 by t <= ended break k by t, where the windows could overlap.
            for t in range(after.earliest, before.latest + before.length):
                for p in after.offsets:
                    if p <= t:
                        order.append((order_rows, index[k + 1, p], 1.0))
                for p in before.offsets:
                    if p + before.length <= t:
                        order.append((order_rows, index[k, p], -1.0))
                order_rows += 1
    total = len(found) + len(columns)
    coverage = coo_array((cover_values, (cover_rows, cover_columns)), shape=(n, total))

    def matrix(entries: list[tuple[int, int, float]], rows: int) -> coo_array | None:
        if not rows:
            return None
        r, c, v = zip(*entries, strict=True) if entries else ((), (), ())
        return coo_array((list(v), (list(r), list(c))), shape=(rows, total))

    cost = np.zeros(total)
    cost[: len(found)] = [s.paid for s in found]
    return Program(
        found,
        every,
        columns,
        coverage,
        matrix(order, order_rows),
        matrix(placed, placed_rows),
        cost,
    )


def _end(shape: Shape) -> int:
    """The end of the shift's span in unwrapped intervals (a cut shift ends at its cut)."""
    return shape.first + shape.length


def _where(scenario: Scenario, group: AgentGroup) -> str:
    return f"agents[{[g.group for g in scenario.agents].index(group.group)}]"


def cover_templates(
    required: Sequence[int], scenario: Scenario, group: AgentGroup
) -> list[ShiftBlock]:
    """The cheapest roster of ``group``'s templates with at least ``required`` agents at work
    (on shift and not on a break) in every interval, within the head counts allowed, its
    breaks placed; raises :class:`PlanningError` naming the group and template when there is
    none."""
    templates = group.templates or []
    n = scenario.n_intervals
    where = _where(scenario, group)
    if len(required) != n or any(r < 0 for r in required):
        raise PlanningError("required agents must be one non-negative count per interval")
    model = program(scenario, group)
    if not any(required) and not any(t.min for t in templates) and not group.min_agents:
        return []
    reach = _reach(model, n)
    uncovered = [j for j in range(n) if required[j] > 0 and not reach[j]]
    if uncovered:
        raise PlanningError(
            f"no shift of the templates of group {group.group!r} is on at "
            f"{_labels(scenario, uncovered)}, where agents are needed: widen a template's "
            "start window, or add a template",
            key=f"{where}.templates",
        )
    shifts = len(model.shapes)
    constraints = [
        LinearConstraint(model.coverage.tocsr(), lb=np.asarray(required, dtype=float), ub=np.inf)
    ]
    if model.placed is not None:
        constraints.append(LinearConstraint(model.placed.tocsr(), lb=0.0, ub=0.0))
    if model.order is not None:
        constraints.append(LinearConstraint(model.order.tocsr(), lb=-np.inf, ub=0.0))
    heads = [
        (t.min, t.max, [s.template == k for s in model.shapes]) for k, t in enumerate(templates)
    ]
    heads.append((group.min_agents or 0, group.max_agents, [True] * shifts))
    for least, most, member in heads:
        if least > 0 or most is not None:
            row = np.zeros((1, model.variables))
            row[0, :shifts] = member
            constraints.append(LinearConstraint(row, lb=least, ub=np.inf if most is None else most))
    solution = milp(
        model.cost,
        constraints=constraints,
        integrality=np.ones(model.variables),
        bounds=(0, _bounds(model, required, group)),
        options={"mip_rel_gap": MIP_GAP, "node_limit": NODE_LIMIT, "time_limit": TIME_LIMIT},
    )
    if solution.x is None:
        if solution.status == 1:
            raise PlanningError(
                f"group {group.group!r}: HiGHS found no roster of its templates within "
                f"{NODE_LIMIT} nodes or {TIME_LIMIT:g} s ({solution.message})",
                key=f"{where}.templates",
            )
        raise _infeasible(scenario, group, required, reach, str(solution.message))
    return _blocks(model, np.rint(solution.x).astype(int), [t.name for t in templates])


def _bounds(model: Program, required: Sequence[int], group: AgentGroup) -> np.ndarray:
    """Upper bounds of the variables that keep an optimal roster: a shift needs at most
    ``R (1 + B)`` agents, ``R`` the largest requirement while it is on and ``B`` the intervals of
    breaks of one agent, plus the largest minimum head count.

    In an optimal roster every agent is *critical*, at work in an interval whose coverage is
    exactly its requirement (else it could leave at no loss), except agents kept for a minimum.
    At most ``R`` agents of a shift are at work in such an interval, so ``x <= R |C|`` over the
    set ``C`` of those intervals, and in each of them ``x - R`` or more are on a break, which
    the ``x B`` break intervals must cover: ``|C| (x - R) <= x B``. Together ``x <= R (1 + B)``.
    """
    least = max([group.min_agents or 0, *(t.min for t in group.templates or [])])
    n = len(required)
    shifts = [
        max(required[j % n] for j in range(s.first, _end(s)))
        * (1 + sum(r.length for r in model.breaks[s.template]))
        + least
        for s in model.shapes
    ]
    return np.array(shifts + [shifts[i] for i, _, _ in model.columns], dtype=float)


def _blocks(model: Program, counts: np.ndarray, names: list[str]) -> list[ShiftBlock]:
    """The solution as blocks: each agent of a shift takes the ``i``-th earliest start of every
    break; agents with the same starts are one block."""
    starts: dict[tuple[int, int], list[int]] = {}
    for column, (i, k, p) in enumerate(model.columns, start=len(model.shapes)):
        starts.setdefault((i, k), []).extend([p] * int(counts[column]))
    blocks = []
    for i, shape in enumerate(model.shapes):
        heads = int(counts[i])
        if heads <= 0:
            continue
        kinds = model.breaks[shape.template]
        placed = [sorted(starts.get((i, k), [])) for k in range(len(kinds))]
        agents: dict[tuple[int, ...], int] = {}
        for a in range(heads):
            way = tuple(placed[k][a] for k in range(len(kinds)))
            agents[way] = agents.get(way, 0) + 1
        for way, count in sorted(agents.items()):
            pauses = tuple(
                BreakBlock(shape.first + p, rule.length, rule.paid)
                for p, rule in zip(way, kinds, strict=True)
                if shape.first + p < _end(shape)
            )
            paid = None if shape.paid == shape.length else shape.paid
            blocks.append(
                ShiftBlock(shape.first, shape.length, count, names[shape.template], pauses, paid)
            )
    return blocks


def _reach(model: Program, n: int) -> list[set[int]]:
    """The templates with a shift on in each interval."""
    reach: list[set[int]] = [set() for _ in range(n)]
    for shape in model.shapes:
        for j in range(shape.first, _end(shape)):
            reach[j % n].add(shape.template)
    return reach


def _labels(scenario: Scenario, intervals: Sequence[int]) -> str:
    shown = [scenario.interval_label(j) for j in intervals[:4]]
    more = f" and {len(intervals) - 4} more intervals" if len(intervals) > 4 else ""
    return ", ".join(shown) + more


def _infeasible(
    scenario: Scenario,
    group: AgentGroup,
    required: Sequence[int],
    reach: list[set[int]],
    message: str,
) -> PlanningError:
    """Why no roster exists: an interval needing more agents than the maximum head counts of
    the templates on there allow, or else the bounds together."""
    templates = group.templates or []
    where = _where(scenario, group)
    limits = ", ".join(
        f"{t.name} max {t.max}" if t.max is not None else f"{t.name} unbounded" for t in templates
    )
    if group.max_agents is not None:
        limits += f"; max_agents {group.max_agents}"
    by_group = math.inf if group.max_agents is None else group.max_agents
    for j in range(scenario.n_intervals):
        caps = [templates[k].max for k in reach[j]]
        cap = math.inf if None in caps else sum(c for c in caps if c is not None)
        if required[j] > min(cap, by_group):
            return PlanningError(
                f"group {group.group!r}: {scenario.interval_label(j)} needs {required[j]} "
                f"agents at work, but the head counts allow at most {min(cap, by_group):g} "
                f"there ({limits})",
                key=f"{where}.{'max_agents' if by_group < cap else 'templates'}",
            )
    return PlanningError(
        f"group {group.group!r}: no roster of its templates covers the requirement within their "
        f"head counts and break windows ({limits}; min_agents {group.min_agents or 0}): "
        f"{message}",
        key=f"{where}.templates",
    )
