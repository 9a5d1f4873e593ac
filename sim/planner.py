"""Planning: the agents each group needs per interval to meet the targets, and shifts covering them.

Erlang formulas cannot size chat agents (several chats at once, one pair of hands, slowdown,
silent abandonment holding slots), so the planner asks the model, in five steps:

1. **Traffic** is drawn once: every candidate staffing is judged on the same conversations
   (common random numbers), so the search is deterministic for a seed and differences between
   candidates are not drawn anew. Where intervals are thin, more replications are drawn (at least
   :data:`MIN_CONVERSATIONS` per typical interval, at most :data:`MAX_REPLICATIONS`).
2. **Load and reach** (:mod:`sim.load`): the model runs with an idle agent for every conversation.
   It measures the slot and hand load per channel and interval, lag included, and what unlimited
   staff attains for each target. A target that even unlimited staff misses is out of staffing's
   reach: it is named up front and left out of the search, and no agent is added for it.
3. **Fluid split**: per interval, a linear program shares each channel's load among the groups
   that have its skill at the least cost (hands at the group's ``reply_factor``, slots over its
   ``max_chats``); the groups not planned keep their schedule and take load up to it.
4. **Safety staffing**: a group with fluid need ``f`` in an interval gets ``ceil(f + beta
   sqrt(f))`` agents, the square-root rule of queues in many-server regimes.
   ``--scope day``: the smallest ``beta`` whose shifts meet the targets over the day (bisection,
   every candidate covered with shifts and simulated; each candidate's cost and KPIs are the
   trade-off curve), then one agent more where an interval floor is shown missed.
   ``--scope interval``: from the ``beta`` at which half the intervals meet their targets, all
   intervals move at once: one whose estimate misses a target grows, one that meets them tries
   fewer agents, and a reduction that misses is undone and never tried again. Steps are a
   stride of 5% of the interval's agents while its estimate is more than 1.645 standard errors
   from the target, single agents near it; the search stops when no interval is short at 95%
   and only a few still move. Every candidate runs on the same traffic, so nothing
   ratchets on noise: no interval keeps an agent its own estimate did not ask for. Isolated
   peaks whose one-agent-fewer estimate missed only within noise are smoothed away.
5. **Shifts**: the search finds the agents each group needs *at work* (net). A group's shifts
   lose ``shrinkage`` of their working time and ``absence`` of their agents, so the cover
   rosters the gross requirement, ``ceil(required / ((1 - shrinkage) (1 - absence)))`` agents at
   work (on shift and not on a break) per interval: the expected agents at work and productive
   then meet the requirement (for a whole number of agents this is the same constraint as
   ``(1 - shrinkage) (1 - absence) x >= required``, so the rounding costs nothing). A group with
   ``templates`` gets the cheapest roster of them, breaks placed (:func:`sim.templates.
   cover_templates`); one without, the cheapest shifts of the allowed lengths
   (:func:`sim.shifts.cover`). One more model run verifies the shifts with their breaks,
   shrinkage and absence; where it shows a target missed, the requirement grows (one agent more
   than the shifts give, net) and the cover is solved again.

The planner does no I/O; :mod:`sim.cli.staff` prints and writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import linprog

from sim.catalogue import BY_KEY, Unit
from sim.errors import PlanningError
from sim.evidence import Z_95, Estimate, estimate
from sim.kpi import ALL, Measurement, interval_rows
from sim.load import Reach, measure_load
from sim.records import ConversationRecord
from sim.results import Results, ResultsHeader, aggregate
from sim.runner import Runner, Traffic
from sim.scenario import AgentGroup, Scenario
from sim.shifts import (
    ShiftBlock,
    cover,
    head_count,
    paid_intervals,
    scheduled_agents,
    shift_intervals,
    with_shifts,
    with_staffing,
)
from sim.templates import check as check_templates
from sim.templates import cover_templates
from sim.traffic import draw_trace

__all__ = [
    "Evaluation",
    "Plan",
    "Planner",
    "PlanningError",
    "ShiftBlock",
    "cover",
    "head_count",
    "plan_staff",
    "planned_groups",
    "shift_intervals",
    "with_shifts",
    "with_staffing",
]

Scope = Literal["day", "interval"]

MIN_CONVERSATIONS = 200
"""Conversations per typical interval (over all replications) the interval scope asks for."""

MAX_REPLICATIONS = 40
"""The most replications the planner draws to thicken thin intervals."""

REPAIRS = 4
"""Rounds of repairing the shifts where their verification shows a target missed."""

STRIDE = 0.05
"""Share of an interval's agents it moves by while its estimate is far (beyond 1.645 standard
errors) from the target; twice that beyond 3.29."""

TAIL = 25
"""The search stops when no interval is short at 95% and at most one in this many still moves."""

NEAR = {Unit.RATE: 0.02, Unit.SECONDS: 0.10}
"""How close to its reach a target is "near": 2 points of a rate, 10% of a response time."""

Staffing = dict[str, list[int]]
"""Agents per interval of each planned group."""

Limits = dict[str, dict[str, float]]
"""Targets by scope: ``"all"`` (the planned channels without targets of their own, pooled) or a
channel name (a channel with its own targets), then KPI to value."""


@dataclass(slots=True)
class Evaluation:
    """What the model says of one staffing: each target's estimate over the day and per interval
    (the planned channels pooled), per channel and interval, and conversations offered."""

    day: dict[str, Estimate]
    """Over the day, the pooled channels (those without targets of their own)."""
    intervals: list[dict[str, Estimate]]
    channels: dict[str, list[dict[str, Estimate]]]
    channel_day: dict[str, dict[str, Estimate]]
    offered: list[float]
    """Conversations of the planned channels offered per interval (mean per replication)."""

    def at(self, scope: str, j: int | None = None) -> dict[str, Estimate]:
        """The estimates of ``scope`` (``"all"`` or a channel) over the day or in interval ``j``."""
        if scope == ALL:
            return self.day if j is None else self.intervals[j]
        return self.channel_day[scope] if j is None else self.channels[scope][j]

    def z(self, j: int | None, limits: Limits) -> float:
        """The worst margin over ``limits``, in standard errors, in interval ``j`` (None: the
        day)."""
        return min(
            (self.at(scope, j)[k].z(v) for scope, kpis in limits.items() for k, v in kpis.items()),
            default=math.inf,
        )


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A target staffing cannot meet: where, the target, what unlimited staff attains, why."""

    kpi: str
    where: str
    """``day``, or the interval's clock label."""
    target: float
    reach: float
    reason: str
    scope: str = ALL
    """``all`` (the pooled channels) or the channel whose own target it is."""

    @property
    def name(self) -> str:
        return self.kpi if self.scope == ALL else f"{self.scope} {self.kpi}"


@dataclass(frozen=True, slots=True)
class TradeoffPoint:
    """One staffing tried: its agent-hours, cost and day estimates of the targets."""

    agent_hours: float
    cost: float
    day: dict[str, Estimate]


@dataclass(slots=True)
class Covered:
    """A requirement covered with shifts, as simulated: the full measurements and the first
    trace's records of the verification run."""

    required: Staffing
    shifts: dict[str, list[ShiftBlock]]
    on_shift: Staffing
    scenario: Scenario
    whole: list[Measurement]
    first: Sequence[ConversationRecord]
    rostered: Staffing = field(default_factory=dict)
    """The requirement the shifts cover: ``required`` grossed up for shrinkage and absence."""

    def agent_hours(self, interval: float) -> float:
        """Paid agent-hours of the shifts."""
        return sum(paid_intervals(blocks) for blocks in self.shifts.values()) * interval / 3600.0


@dataclass(slots=True)
class Plan:
    """What the planner found: requirement and shifts per group, verified."""

    scope: Scope
    groups: list[str]
    labels: list[str]
    targets: dict[str, float]
    floors: dict[str, float]
    goals: Limits
    """Every target by scope: the pooled channels' and those of channels with their own."""
    load: dict[str, list[float]]
    """Fluid need per group and interval (agents, before safety staffing)."""
    required: Staffing
    """Agents at work (net of shrinkage and absence) per interval that meet the targets."""
    shifts: dict[str, list[ShiftBlock]]
    on_shift: Staffing
    """Agents the shifts have at work (on shift and not on a break) per interval, as rostered
    (before shrinkage and absence)."""
    verified: Evaluation
    results: Results
    """The verification run with the planned shifts, every channel (as ``simulate`` writes it)."""
    reach: Reach
    unreachable: list[Unreachable]
    near: list[str]
    tradeoff: list[TradeoffPoint]
    evaluations: int
    replications: int
    scenario: Scenario
    """The input scenario with the planned groups on their new shifts."""
    original: Scenario
    records: Sequence[ConversationRecord] = field(default_factory=list)
    """The verification's records on the first trace (for reports, as ``simulate`` keeps)."""
    rostered: Staffing = field(default_factory=dict)
    """Agents at work the shifts must roster per interval: ``required`` grossed up for the
    group's shrinkage and absence (equal to it without them); ``on_shift`` covers it."""

    @property
    def short(self) -> list[tuple[str, str]]:
        """``(where, target)`` of every reachable target the verification shows missed: the day
        below target, or an interval short at one-sided 95%."""
        found = []
        excluded = {(u.where, u.scope, u.kpi) for u in self.unreachable}

        def name(scope: str, kpi: str) -> str:
            return kpi if scope == ALL else f"{scope} {kpi}"

        if self.scope == "day":
            for scope, kpis in self.goals.items():
                for k, v in kpis.items():
                    if ("day", scope, k) not in excluded and not self.verified.at(scope)[k].meets(
                        v
                    ):
                        found.append(("day", name(scope, k)))
        limits = self.goals if self.scope == "interval" else {ALL: self.floors}
        for j, label in enumerate(self.labels):
            for scope, kpis in limits.items():
                for k, v in kpis.items():
                    if (label, scope, k) not in excluded and self.verified.at(scope, j)[k].short(v):
                        found.append((label, name(scope, k)))
        return found

    def agent_hours(self, group: str, staffing: Staffing | None = None) -> float:
        """Paid agent-hours of ``group``'s shifts: whole shifts (also where cut at the horizon)
        less unpaid breaks; or the agent-hours in ``staffing``."""
        if staffing is not None:
            return sum(staffing[group]) * self.scenario.interval / 3600.0
        return paid_intervals(self.shifts[group]) * self.scenario.interval / 3600.0

    def cost(self, staffing: Staffing | None = None) -> float:
        """What the planned groups' paid agent-hours cost."""
        costs = {g.group: g.cost for g in self.scenario.agents}
        return sum(self.agent_hours(g, staffing) * costs[g] for g in self.groups)


def planned_groups(scenario: Scenario, groups: Sequence[str] | None) -> list[AgentGroup]:
    """The groups to size (default all), after checking the scenario can be planned at all."""
    own = {name: c.targets for name, c in scenario.channels.items() if c.targets is not None}
    if not scenario.targets.items() and not any(t.items() for t in own.values()):
        raise PlanningError(
            "no target to plan for (service_level, missed_rate, frt_mean or insession_mean)",
            key="targets",
        )
    for key, targets in [("targets", scenario.targets)] + [
        (f"channels.{name}.targets", t) for name, t in own.items()
    ]:
        if targets.service_level is not None and targets.service_level >= 1:
            raise PlanningError(
                "must be below 1: no finite staff answers every chat in time",
                key=f"{key}.service_level",
            )
    if scenario.duration > 86400 + 1e-9 and (
        scenario.weekday is None or scenario.duration > 7 * 86400 + 1e-9
    ):
        raise PlanningError(
            "the planner writes shifts as clock times, so it plans horizons of up to 24 hours, "
            'or up to 7 days from a start with a weekday ("Mon 00:00")',
            key="duration",
        )
    if scenario.interval % 60:
        raise PlanningError(
            "the planner writes shifts as clock times, so intervals must be whole minutes",
            key="interval",
        )
    names = [g.group for g in scenario.agents]
    for name in groups or ():
        if name not in names:
            raise PlanningError(
                f"no agent group {name!r} (groups: {', '.join(names)})", parameter="group"
            )
    chosen = [g for g in scenario.agents if not groups or g.group in groups]
    for group in chosen:
        if group.templates:
            check_templates(scenario, group)
    return chosen


def parse_floor(text: str) -> tuple[str, float]:
    """``kpi=value`` of a per-interval floor (``service_level=0.8``, ``frt_mean=60``)."""
    kpi, sep, value = text.partition("=")
    kpi = kpi.strip()
    if not sep or kpi not in ("service_level", "missed_rate", "frt_mean", "insession_mean"):
        raise PlanningError(
            f"expected KPI=VALUE with a target KPI (service_level, missed_rate, frt_mean, "
            f"insession_mean), got {text!r}",
            parameter="floor",
        )
    try:
        number = float(value)
    except ValueError:
        raise PlanningError(f"{kpi}: {value!r} is not a number", parameter="floor") from None
    if not math.isfinite(number) or number < 0:
        raise PlanningError(f"{kpi}: must be a non-negative number", parameter="floor")
    if kpi == "service_level" and number >= 1:
        raise PlanningError(
            f"{kpi}: must be below 1: no finite staff answers every chat in time", parameter="floor"
        )
    if kpi == "missed_rate" and number > 1:
        raise PlanningError(f"{kpi}: a rate is at most 1", parameter="floor")
    return kpi, number


class Planner:
    """Sizes agent groups of a scenario against its targets on fixed traffic.

    With ``jobs > 1`` the traces of an evaluation run in that many worker processes, kept for
    the planner's life (use it as a context manager, or call :meth:`close`); with an
    ``executor`` (such as a Dask client's) they run on it. The plan does not depend on either.
    """

    def __init__(
        self,
        scenario: Scenario,
        groups: Sequence[str] | None = None,
        *,
        scope: Scope = "interval",
        floors: dict[str, float] | None = None,
        replications: int = 10,
        seed: int = 1,
        jobs: int = 1,
        executor: Executor | None = None,
    ) -> None:
        self.groups = planned_groups(scenario, groups)
        if replications < 1:
            raise PlanningError("must be at least 1", parameter="replications")
        self.scenario = scenario
        self.scope: Scope = scope
        self.targets = dict(scenario.targets.items())
        self.floors = dict(floors or {})
        self.names = [g.group for g in self.groups]
        self.channels = frozenset(c for g in self.groups for c in g.skills)
        own: Limits = {
            c: dict(targets.items())
            for c in sorted(self.channels)
            if (targets := scenario.channels[c].targets) is not None and targets.items()
        }
        self.pool = frozenset(c for c in self.channels if c not in own)
        """The planned channels held to the scenario's targets, pooled."""
        self.goals: Limits = ({ALL: self.targets} if self.pool and self.targets else {}) | own
        self.floor_goals: Limits = {ALL: self.floors} if self.floors else {}
        self.seed = seed
        self.evaluations = 0
        self.replications = (
            self._replications(replications) if scope == "interval" else replications
        )
        traffic = Traffic(scenario, seed, self.replications)
        self.runner = Runner(traffic, jobs=jobs, executor=executor, keep_traces=True)
        self.tradeoff: list[TradeoffPoint] = []
        self.schedule = scheduled_agents(scenario).groups
        self._covers: dict[tuple[str, tuple[int, ...], tuple[int, ...]], list[ShiftBlock]] = {}
        kpis = list(
            dict.fromkeys([k for limits in self.goals.values() for k in limits] + [*self.floors])
        )
        try:
            self.load, self.reach = measure_load(
                self.runner, scenario, self.names, self.pool or self.channels, kpis, self.channels
            )
            self.unreachable = self._unreachable()
            self.fluid = self._fluid()
        except BaseException:
            self.runner.close()
            raise

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> Planner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- statistics ------------------------------------------------------------------------

    def _replications(self, asked: int) -> int:
        """Enough replications that a typical interval holds :data:`MIN_CONVERSATIONS`."""
        talks = draw_trace(self.scenario, self.seed, 0, texts=False).columns
        n = self.scenario.n_intervals
        offered = talks.on(self.channels) & ~talks.bot_contained
        bins = np.minimum((talks.t[offered] // self.scenario.interval).astype(np.int64), n - 1)
        counts = np.bincount(bins, minlength=n)
        typical = float(np.median(counts[counts > 0])) if (counts > 0).any() else 1.0
        wanted = math.ceil(MIN_CONVERSATIONS / max(typical, 1.0))
        return max(asked, min(wanted, MAX_REPLICATIONS))

    def _unreachable(self) -> list[Unreachable]:
        """Targets that unlimited staff misses, over the day (day scope) or per interval."""
        found = []

        def reach_of(scope: str, kpi: str, j: int | None) -> Estimate:
            if scope == ALL:
                table = self.reach.day if j is None else self.reach.intervals[j]
            else:
                table = (
                    self.reach.channels[scope]
                    if j is None
                    else self.reach.channel_intervals[scope][j]
                )
            return table.get(kpi) or estimate(kpi, [])

        def check(limits: Limits, j: int | None) -> None:
            where = "day" if j is None else self.scenario.interval_label(j)
            for scope, kpis in limits.items():
                for kpi, target in kpis.items():
                    limit = reach_of(scope, kpi, j)
                    if limit.value is not None and not limit.meets(target):
                        reason = self._reason(kpi, None if scope == ALL else scope)
                        found.append(Unreachable(kpi, where, target, limit.value, reason, scope))

        if self.scope == "day":
            check(self.goals, None)
        for j in range(self.scenario.n_intervals):
            check(self.goals if self.scope == "interval" else self.floor_goals, j)
        return found

    def _reason(self, kpi: str, channel: str | None = None) -> str:
        """Why staffing cannot move a target: the work against patience or against the target,
        and the channel (given, or the one unlimited staff serves worst)."""
        names = [channel] if channel is not None else sorted(self.pool or self.channels)
        channels = {c: self.scenario.channels[c] for c in names}
        entry = BY_KEY[kpi]

        def badness(c: str) -> float:
            value = self.reach.channels[c][kpi].value
            return -math.inf if value is None else -value * (entry.better or 1)

        worst = max(channels, key=badness)
        at = entry.text(self.reach.channels[worst][kpi].value)
        chosen = channels[worst]
        first = (chosen.first_reply or chosen.reply).mean_value
        if kpi in ("service_level", "missed_rate"):
            return (
                f"first-reply work (mean {first:.0f} s) against patience (mean "
                f"{chosen.patience.mean_value:.0f} s) and the first-response target "
                f"({chosen.first_response_target:g} s): {worst} reaches {at} with an idle agent "
                f"for every conversation"
            )
        if kpi == "frt_mean":
            return f"the first reply's own work: {worst} reaches {at} with no wait at all"
        return (
            f"reply work (mean {chosen.reply.mean_value:.0f} s) x reply_factor x slowdown: "
            f"{worst} reaches {at} with no wait at all"
        )

    def near(self) -> list[str]:
        """Targets within :data:`NEAR` of what unlimited staff attains over the day."""
        notes = []
        for scope, kpis in self.goals.items():
            for kpi, target in kpis.items():
                table = self.reach.day if scope == ALL else self.reach.channels[scope]
                limit = table[kpi].value
                entry = BY_KEY[kpi]
                if limit is None or not entry.meets(limit, target):
                    continue
                room = abs(limit - target) / (abs(target) if entry.unit is Unit.SECONDS else 1.0)
                if room <= NEAR[entry.unit]:
                    name = kpi if scope == ALL else f"{scope} {kpi}"
                    notes.append(
                        f"{name} target {entry.text(target)} is near its reach: unlimited staff "
                        f"attains {entry.text(limit)} over the day; the last points cost the most "
                        f"(see the trade-off)"
                    )
        return notes

    # -- load ----------------------------------------------------------------------------

    def _fluid(self) -> dict[str, np.ndarray]:
        """Per planned group and interval, the agents the load needs with no safety margin: a
        least-cost split of each channel's load among the groups with its skill."""
        scenario, n = self.scenario, self.scenario.n_intervals
        schedule = scheduled_agents(scenario).groups
        every = scenario.agents
        channels = list(scenario.channels)
        pairs = [(c, g) for c in channels for g in every if c in g.skills]
        fluid = {g.group: np.zeros(n) for g in self.groups}
        planned = {g.group for g in self.groups}
        for j in range(n):
            hands = {c: float(self.load.hands[c][j]) for c in channels}
            slots = {c: float(self.load.slots[c][j]) for c in channels}
            if sum(slots.values()) <= 0:
                continue
            n_x, n_g = len(pairs), len(self.groups)
            size = n_x + n_g + len(channels)  # shares, planned agents, unserved load (penalised)
            cost = np.zeros(size)
            for i, g in enumerate(self.groups):
                cost[n_x + i] = g.cost
            cost[n_x + n_g :] = 1e6
            a_eq = np.zeros((len(channels), size))
            for i, (c, _) in enumerate(pairs):
                a_eq[channels.index(c), i] = 1.0
            for k in range(len(channels)):
                a_eq[k, n_x + n_g + k] = 1.0
            rows, bounds_ub = [], []
            for g in every:
                hand_row, slot_row = np.zeros(size), np.zeros(size)
                for i, (c, h) in enumerate(pairs):
                    if h is g:
                        mean_slowdown = float(np.mean(g.slowdown_factors))
                        hand_row[i] = hands[c] * g.reply_factor * mean_slowdown
                        slot_row[i] = slots[c] / g.max_chats
                if g.group in planned:
                    column = n_x + [p.group for p in self.groups].index(g.group)
                    hand_row[column] = slot_row[column] = -1.0
                    rows += [hand_row, slot_row]
                    bounds_ub += [0.0, 0.0]
                else:
                    rows += [hand_row, slot_row]
                    bounds_ub += [float(schedule[g.group][j])] * 2
            present = np.array([1.0 if slots[c] > 0 or hands[c] > 0 else 0.0 for c in channels])
            solution = linprog(
                cost, A_ub=np.array(rows), b_ub=np.array(bounds_ub), A_eq=a_eq, b_eq=present,
                bounds=(0, None), method="highs",
            )  # fmt: skip
            if solution.x is None:
                raise PlanningError(f"no load split found: {solution.message}")
            for i, g in enumerate(self.groups):
                fluid[g.group][j] = float(solution.x[n_x + i])
        return fluid

    def staffing(self, beta: float) -> Staffing:
        """Square-root safety staffing on the fluid need: ``ceil(f + beta sqrt(f))``, and one
        agent at least wherever a group has any load."""
        out: Staffing = {}
        for name, need in self.fluid.items():
            out[name] = [
                max(1, math.ceil(f + beta * math.sqrt(f) - 1e-9)) if f > 1e-6 else 0 for f in need
            ]
        return out

    # -- evaluating ------------------------------------------------------------------------

    def with_staffing(self, staffing: Staffing) -> Scenario:
        scenario = self.scenario
        for name, counts in staffing.items():
            scenario = with_staffing(scenario, name, counts)
        return scenario

    def evaluate(
        self, scenario: Scenario, *, keep: bool = False
    ) -> tuple[Evaluation, list[Measurement], Sequence[ConversationRecord]]:
        """Run ``scenario`` on every trace: the targets' evidence for the planned channels (and
        the full measurements and first records when ``keep``)."""
        self.evaluations += 1
        pool = self.pool or self.channels
        whole_only = pool == frozenset(scenario.channels)
        scopes: tuple[Collection[str] | None, ...] = (None,) if whole_only else (pool, None)
        batch = self.runner.run(scenario, scopes, keep_first=keep, quantiles=keep)
        scoped, whole = batch.measurements[0], batch.measurements[-1]
        n = scenario.n_intervals
        targets = {k for limits in self.goals.values() for k in limits} | set(self.floors)
        rows = interval_rows(scoped, n, ALL)
        per_channel = {c: interval_rows(whole, n, c) for c in sorted(self.channels)}
        replications = max(1, len(whole))
        evaluation = Evaluation(
            day={k: estimate(k, [m["total"] for m in scoped]) for k in targets},
            intervals=[{k: estimate(k, rows[j]) for k in targets} for j in range(n)],
            channels={
                c: [{k: estimate(k, r[j]) for k in targets} for j in range(n)]
                for c, r in per_channel.items()
            },
            channel_day={
                c: {k: estimate(k, [m["channels"][c] for m in whole]) for k in targets}
                for c in per_channel
            },
            offered=[
                sum(row.get("offered") or 0.0 for r in per_channel.values() for row in r[j])
                / replications
                for j in range(n)
            ],
        )
        first = batch.first_run.conversations if batch.first_run is not None else []
        return evaluation, whole, first

    def _record(self, hours: dict[str, float], evaluation: Evaluation) -> None:
        """Keep a tried staffing's agent-hours (per group), cost and day estimates (the
        trade-off)."""
        costs = {g.group: g.cost for g in self.groups}
        cost = sum(h * costs[g] for g, h in hours.items())
        self.tradeoff.append(TradeoffPoint(sum(hours.values()), cost, evaluation.day))

    def _try(self, staffing: Staffing, on_step: Callable[[int, float], None] | None) -> Evaluation:
        evaluation, *_ = self.evaluate(self.with_staffing(staffing))
        hours = {g: sum(v) * self.scenario.interval / 3600.0 for g, v in staffing.items()}
        self._record(hours, evaluation)
        if on_step is not None:
            on_step(self.evaluations, self.tradeoff[-1].agent_hours)
        return evaluation

    # -- searching -------------------------------------------------------------------------

    def _included(self, j: int | None, limits: Limits) -> Limits:
        """The targets of interval ``j`` (None: the day) that staffing can reach."""
        where = "day" if j is None else self.scenario.interval_label(j)
        out = {(u.scope, u.kpi) for u in self.unreachable if u.where == where}
        kept = {
            scope: {k: v for k, v in kpis.items() if (scope, k) not in out}
            for scope, kpis in limits.items()
        }
        return {scope: kpis for scope, kpis in kept.items() if kpis}

    def _day_targets(self) -> Limits:
        return self._included(None, self.goals)

    def _grow(self, staffing: Staffing, j: int, evaluation: Evaluation, limits: Limits) -> None:
        """One agent more in interval ``j``, of the group that serves its most-short channel at
        the least cost per unit of that channel's load. A pooled target judges each pooled
        channel against it; a channel's own target judges that channel."""
        worst, channel = math.inf, None
        for scope, kpis in limits.items():
            for c in sorted(self.pool) if scope == ALL else [scope]:
                estimates = evaluation.channels[c][j]
                z = min((estimates[k].z(v) for k, v in kpis.items()), default=math.inf)
                if z < worst:
                    worst, channel = z, c
        able = [g for g in self.groups if channel is None or channel in g.skills] or self.groups

        def unit_cost(g: AgentGroup) -> float:
            if channel is None:
                return g.cost
            h = float(self.load.hands[channel][j]) * g.reply_factor
            m = float(self.load.slots[channel][j]) / g.max_chats
            return g.cost * max(h, m, 1e-9)

        chosen = min(able, key=unit_cost)
        staffing[chosen.group][j] += 1

    def _shrinkable(self, staffing: Staffing, j: int) -> str | None:
        """The planned group to take an agent from in interval ``j``: the most expensive that has
        one, as long as one planned agent stays."""
        if sum(staffing[g.group][j] for g in self.groups) <= 1:
            return None
        on = {g.group: staffing[g.group][j] for g in self.groups} | {
            name: float(count[j]) for name, count in self.schedule.items() if name not in staffing
        }

        def keeps_every_channel(group: AgentGroup) -> bool:
            """Whether a channel with traffic here keeps someone with its skill."""
            for channel in group.skills:
                if self.load.slots[channel][j] <= 0:
                    continue
                able = sum(on[g.group] for g in self.scenario.agents if channel in g.skills)
                if able - 1 < 1:
                    return False
            return True

        candidates = [g for g in self.groups if staffing[g.group][j] > 0 and keeps_every_channel(g)]
        if not candidates:
            return None
        return max(candidates, key=lambda g: (g.cost, staffing[g.group][j])).group

    def rostered(self, required: Staffing) -> Staffing:
        """``required`` (agents at work, net) grossed up for each group's shrinkage and absence:
        the agents at work its shifts must roster per interval."""
        out: Staffing = {}
        for group in self.groups:
            kept = (1.0 - group.shrinkage) * (1.0 - group.absence)
            out[group.group] = [math.ceil(r / kept - 1e-9) for r in required[group.group]]
        return out

    def net(self, on_shift: Staffing) -> Staffing:
        """Agents at work that rostered ``on_shift`` are expected to give, net of shrinkage and
        absence (rounded down): what the repair grows from."""
        out: Staffing = {}
        for group in self.groups:
            kept = (1.0 - group.shrinkage) * (1.0 - group.absence)
            out[group.group] = [math.floor(x * kept + 1e-9) for x in on_shift[group.group]]
        return out

    def cover(
        self, group: AgentGroup, gross: Sequence[int], lengths: Sequence[int]
    ) -> list[ShiftBlock]:
        """The cheapest shifts of ``group`` with ``gross`` agents at work per interval: of its
        templates, breaks placed, or else any block of ``lengths``."""
        key = (group.group, tuple(gross), tuple(lengths))
        if key not in self._covers:
            if group.templates:
                self._covers[key] = cover_templates(gross, self.scenario, group)
            else:
                self._covers[key] = cover(gross, lengths)
        return self._covers[key]

    def covered(
        self, required: Staffing, lengths: Sequence[int], *, keep: bool = False
    ) -> tuple[Covered, Evaluation]:
        """The cheapest shifts covering ``required`` (net) for each group, grossed up for
        shrinkage and absence, and what the model says of them (breaks, shrinkage and absence
        played)."""
        n = self.scenario.n_intervals
        gross = self.rostered(required)
        shifts = {g.group: self.cover(g, gross[g.group], lengths) for g in self.groups}
        planned = self.scenario
        for g, blocks in shifts.items():
            planned = with_shifts(planned, g, blocks)
        evaluation, whole, first = self.evaluate(planned, keep=keep)
        on_shift = {g: head_count(shifts[g], n) for g in self.names}
        interval_hours = self.scenario.interval / 3600.0
        self._record({g: paid_intervals(b) * interval_hours for g, b in shifts.items()}, evaluation)
        found = Covered(dict(required), shifts, on_shift, planned, whole, first, gross)
        return found, evaluation

    def search_day(
        self,
        lengths: Sequence[int],
        *,
        max_evaluations: int = 40,
        on_step: Callable[[int, float], None] | None = None,
    ) -> tuple[Covered, Evaluation]:
        """The cheapest safety factor whose shifts meet the reachable targets over the day
        (bisection, every candidate covered with shifts and simulated), then one agent more
        where an interval floor is shown missed."""
        targets = self._day_targets()

        def meets(evaluation: Evaluation) -> bool:
            return evaluation.z(None, targets) >= 0

        def attempt(beta: float) -> tuple[Covered, Evaluation]:
            found = self.covered(self.staffing(beta), lengths, keep=True)
            if on_step is not None:
                on_step(self.evaluations, found[0].agent_hours(self.scenario.interval))
            return found

        if not targets:  # every day target is out of reach: nothing to bisect on
            plan, evaluation = attempt(1.0)
            return plan, evaluation
        lo, hi = -1.0, 2.0
        best = attempt(hi)
        while not meets(best[1]) and hi < 32 and self.evaluations < max_evaluations:
            lo, hi = hi, hi * 2
            best = attempt(hi)
        while hi - lo > 0.05 and self.evaluations < max_evaluations:
            middle = (lo + hi) / 2
            if self.staffing(middle) == self.staffing(hi):
                hi = middle
                continue
            tried = attempt(middle)
            if meets(tried[1]):
                hi, best = middle, tried
            else:
                lo = middle
        plan, evaluation = best
        for _ in range(REPAIRS):
            short = self._floors_short(evaluation)
            if not short or self.evaluations >= max_evaluations:
                break
            required = _grown(
                self, plan.required, self.net(plan.on_shift), short, evaluation, self.floor_goals
            )
            plan, evaluation = attempt_required(self, required, lengths, on_step)
        return plan, evaluation

    def _floors_short(self, evaluation: Evaluation) -> list[int]:
        return [
            j
            for j in range(self.scenario.n_intervals)
            if evaluation.z(j, self._included(j, self.floor_goals)) < -Z_95
        ]

    def _start(
        self, budget: int, on_step: Callable[[int, float], None] | None
    ) -> tuple[Staffing, Evaluation]:
        """The safety factor at which the typical interval just meets its targets: bisection
        on ``beta`` until half the intervals with traffic meet them (``budget`` model runs)."""
        n = self.scenario.n_intervals
        busy = [j for j in range(n) if any(self.fluid[g][j] > 0 for g in self.names)]
        tried: dict[float, Evaluation] = {}

        def share_met(beta: float) -> float:
            tried[beta] = evaluation = self._try(self.staffing(beta), on_step)
            met = [evaluation.z(j, self._included(j, self.goals)) >= 0 for j in busy]
            return sum(met) / len(busy) if busy else 1.0

        lo, hi = 0.0, 4.0
        for _ in range(max(1, budget)):
            middle = (lo + hi) / 2
            if share_met(middle) >= 0.5:
                hi = middle
            else:
                lo = middle
            if hi - lo < 0.2:
                break
        if hi not in tried:
            share_met(hi)
        return self.staffing(hi), tried[hi]

    def search_interval(
        self, *, max_evaluations: int = 40, on_step: Callable[[int, float], None] | None = None
    ) -> tuple[Staffing, Evaluation]:
        """Every interval at the fewest agents whose estimate meets its reachable targets.

        From the safety staffing at which half the intervals meet their targets, all intervals
        move at once, one agent per model run (a stride of 5% of their agents while far from
        the target): an interval whose estimate misses a target grows; one that meets them tries
        one agent fewer, and when that misses it goes back and is settled. Every candidate runs
        on the same traffic, so an interval's estimates at ``n`` and ``n - 1`` differ by what the
        agent changes, not by new noise, and nothing ratchets upward: no interval keeps an agent
        its own estimate did not ask for. (The old search kept every failed reduction for good,
        so noise only ever added agents.)
        """
        n = self.scenario.n_intervals
        staffing, evaluation = self._start(max_evaluations // 4, on_step)
        floor = [0] * n  # the most agents (all planned groups) seen missing a target
        for j in range(n):
            if self.goals and not self._included(j, self.goals):
                # Every target is out of reach here: nothing bounds the interval from below, so
                # it keeps the staffing it started with rather than shrink to a single agent.
                floor[j] = sum(staffing[g][j] for g in self.names) - 1
        settled = [False] * n
        pending: dict[int, list[str]] = {}  # interval: the groups that gave up agents this round
        moved: set[int] = set()  # intervals whose staffing the last round changed
        doubts = [0] * n  # reductions undone while the interval before moved too
        below: dict[int, tuple[int, float]] = {}  # one agent fewer was tried: (total, its z)
        while self.evaluations < max_evaluations:
            changed: set[int] = set()
            for j in range(n):
                limits = self._included(j, self.goals)
                z = evaluation.z(j, limits)
                total = sum(staffing[g][j] for g in self.names)
                # A backlog carries into the next interval: when the one before moved too, a
                # miss here may be its doing, so it is not taken as this interval's own verdict.
                own = j - 1 not in moved or doubts[j] >= 2
                if j in pending:
                    givers = pending.pop(j)
                    if z < 0:  # fewer missed a target: back, and never that few again
                        if len(givers) == 1:
                            below[j] = (total, z)
                        for giver in givers:
                            staffing[giver][j] += 1
                        changed.add(j)
                        doubts[j] += 1
                        if own:
                            floor[j] = max(floor[j], total)
                            settled[j] = len(givers) == 1
                        continue
                # Far from the target the interval moves by a stride (5% of its agents); near it
                # the steps are single agents, where the decisions are made.
                far = 2 if abs(z) > 2 * Z_95 else 1 if abs(z) > Z_95 else 0
                stride = max(1, round(far * STRIDE * total))
                if z < 0:
                    if own:
                        floor[j] = max(floor[j], total)
                        settled[j] = stride == 1
                    for _ in range(stride):
                        self._grow(staffing, j, evaluation, limits)
                    changed.add(j)
                elif not settled[j] and (step := min(stride, total - floor[j] - 1)) >= 1:
                    givers = []
                    for _ in range(step):
                        donor = self._shrinkable(staffing, j)
                        if donor is None:
                            break
                        staffing[donor][j] -= 1
                        givers.append(donor)
                    if givers:
                        pending[j] = givers
                        changed.add(j)
            clear = all(evaluation.z(j, self._included(j, self.goals)) >= -Z_95 for j in range(n))
            if not changed or (clear and len(changed) <= n // TAIL and not pending):
                break  # nothing left but a few moves within noise, which the shifts absorb
            moved = changed
            evaluation = self._try(staffing, on_step)
        for j, givers in pending.items():  # out of evaluations while trying: keep the safe one
            for giver in givers:
                staffing[giver][j] += 1
        if self._smooth(staffing, below) or pending:
            evaluation = self._try(staffing, on_step)
        return staffing, evaluation

    def _smooth(self, staffing: Staffing, below: dict[int, tuple[int, float]]) -> bool:
        """Take back isolated peaks the evidence cannot tell from their neighbours: an interval
        above both neighbours whose one-agent-fewer estimate missed only within noise (``z``
        between -1.645 and 0) goes down to that count. Returns whether anything changed."""
        n = self.scenario.n_intervals
        totals = [sum(staffing[g][j] for g in self.names) for j in range(n)]
        changed = False
        for j, (fewer, z) in below.items():
            if fewer != totals[j] - 1 or z < -Z_95:
                continue
            neighbours = [totals[i] for i in (j - 1, j + 1) if 0 <= i < n]
            if neighbours and all(t <= fewer for t in neighbours):
                donor = self._shrinkable(staffing, j)
                if donor is not None:
                    staffing[donor][j] -= 1
                    changed = True
        return changed


def attempt_required(
    planner: Planner,
    required: Staffing,
    lengths: Sequence[int],
    on_step: Callable[[int, float], None] | None,
) -> tuple[Covered, Evaluation]:
    found = planner.covered(required, lengths, keep=True)
    if on_step is not None:
        on_step(planner.evaluations, found[0].agent_hours(planner.scenario.interval))
    return found


def plan_staff(
    scenario: Scenario,
    groups: Sequence[str] | None = None,
    *,
    scope: Scope = "interval",
    floors: dict[str, float] | None = None,
    shift_lengths: Sequence[float] = (8 * 3600.0,),
    replications: int = 10,
    seed: int = 1,
    max_evaluations: int = 40,
    jobs: int = 1,
    executor: Executor | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> Plan:
    """Agents per interval for ``groups`` (default all) that meet the scenario's targets over
    the day or in every interval, and the cheapest shifts that cover them, verified."""
    lengths = shift_intervals(scenario, shift_lengths)
    with Planner(
        scenario,
        groups,
        scope=scope,
        floors=floors,
        replications=replications,
        seed=seed,
        jobs=jobs,
        executor=executor,
    ) as planner:
        if scope == "day":
            covered, verified = planner.search_day(
                lengths, max_evaluations=max_evaluations, on_step=on_step
            )
        else:
            required, _ = planner.search_interval(max_evaluations=max_evaluations, on_step=on_step)
            covered, verified = _repair(planner, required, lengths, on_step)
        return _plan(planner, covered, verified)


def _grown(
    planner: Planner,
    required: Staffing,
    on_shift: Staffing,
    short: Sequence[int],
    evaluation: Evaluation,
    limits: Limits,
) -> Staffing:
    """``required`` raised in the ``short`` intervals to one agent more than the shifts gave
    them (``on_shift``, net of shrinkage and absence; of the group :meth:`Planner._grow` picks);
    the other intervals keep their need."""
    grown = {g: list(v) for g, v in on_shift.items()}
    out = {g: list(v) for g, v in required.items()}
    for j in short:
        planner._grow(grown, j, evaluation, planner._included(j, limits))
        for g in grown:
            if grown[g][j] > on_shift[g][j]:
                out[g][j] = max(out[g][j], grown[g][j])
    return out


def _repair(
    planner: Planner,
    required: Staffing,
    lengths: Sequence[int],
    on_step: Callable[[int, float], None] | None,
) -> tuple[Covered, Evaluation]:
    """Cover ``required`` with shifts and verify; where an interval slips below a target (agents
    log in once and carry their chats across interval edges), one agent more and cover again."""
    n = planner.scenario.n_intervals
    covered, verified = attempt_required(planner, required, lengths, on_step)
    for _ in range(REPAIRS):
        slipped = [
            j for j in range(n) if verified.z(j, planner._included(j, planner.goals)) < -Z_95
        ]
        if not slipped:
            break
        required = _grown(
            planner, required, planner.net(covered.on_shift), slipped, verified, planner.goals
        )
        covered, verified = attempt_required(planner, required, lengths, on_step)
    return covered, verified


def _plan(planner: Planner, covered: Covered, verified: Evaluation) -> Plan:
    scenario = planner.scenario
    results = aggregate(covered.whole, ResultsHeader.of(covered.scenario, seed=planner.seed))
    return Plan(
        scope=planner.scope,
        groups=planner.names,
        labels=[scenario.interval_label(j) for j in range(scenario.n_intervals)],
        targets=planner.targets,
        floors=planner.floors,
        goals=planner.goals,
        load={g: [float(x) for x in v] for g, v in planner.fluid.items()},
        required=covered.required,
        shifts=covered.shifts,
        on_shift=covered.on_shift,
        verified=verified,
        results=results,
        reach=planner.reach,
        unreachable=planner.unreachable,
        near=planner.near(),
        tradeoff=planner.tradeoff,
        evaluations=planner.evaluations,
        replications=planner.replications,
        scenario=covered.scenario,
        original=scenario,
        records=covered.first,
        rostered=covered.rostered,
    )
