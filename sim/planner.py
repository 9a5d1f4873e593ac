"""Planning: how many agents each interval needs to meet the targets, and shifts that cover them.

Erlang formulas cannot size chat agents (several chats at once, one pair of hands, slowdown,
silent abandonment holding slots), so the planner asks the model itself:

1. **Traffic** is drawn once, ``replications`` traces: it does not depend on the agents, so every
   candidate staffing is judged on the very same conversations (common random numbers), and the
   search is deterministic for a seed.
2. **Start**: per interval, Erlang A with the group's ``max_chats`` as extra slots
   (:func:`sim.erlang.agents_for_service_level`), fed with the offered rate, the slot holding
   time and the patience that a model run of the scenario as given measures. Only a start.
3. **Search**: the model runs with the planned group staffed per interval. Every interval that
   misses a target (its service level below ``targets.service_level``, its missed rate above
   ``targets.missed_rate``) gets one agent more; when none misses, intervals try fewer agents
   (in steps that halve after a refusal) and keep a reduction only if the model accepts it. An
   interval whose one-agent reduction was refused is settled. Other groups keep their own
   shifts or staffing: the planner sizes one group around them.
4. **Shifts**: the cheapest set of shifts of the allowed lengths (in agent-hours) whose head
   count covers the requirement in every interval, as an integer program (``scipy.optimize.milp``),
   then one more model run with those shifts (which drain at their end) to verify.

The planner does no I/O; :mod:`sim.cli.staff` prints and writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import LinearConstraint, milp

from sim.catalogue import BY_KEY, Unit
from sim.durations import format_clock
from sim.erlang import agents_for_service_level
from sim.kpi import ALL, Measurement
from sim.model import simulate_trace
from sim.records import ConversationRecord
from sim.results import Results, ResultsHeader, aggregate
from sim.runner import Runner, Traffic
from sim.scenario import AgentGroup, Scenario, Shift, Targets


class PlanningError(ValueError):
    """The scenario cannot be planned as asked. ``key`` names the scenario key at fault, or
    ``parameter`` the argument of :func:`plan_staff` (a command line names its own flag)."""

    def __init__(
        self, problem: str, key: str | None = None, *, parameter: str | None = None
    ) -> None:
        super().__init__(problem)
        self.key = key
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class ShiftBlock:
    """``count`` agents working intervals ``[first, first + length)``."""

    first: int
    length: int
    count: int


@dataclass(slots=True)
class Evaluation:
    """Per interval, the group's channels pooled over the traces: offered (mean per trace),
    service level, missed rate, mean first and in-session response. ``results`` are the full
    results of every channel, measured for the verification run only."""

    offered: list[float]
    service_level: list[float | None]
    missed_rate: list[float | None]
    frt_mean: list[float | None]
    insession_mean: list[float | None]
    results: Results | None = None

    def value(self, kpi: str, j: int) -> float | None:
        """A target KPI of interval ``j``."""
        values: list[float | None] = getattr(self, kpi)
        return values[j]


@dataclass(slots=True)
class Plan:
    """What the planner found for one group."""

    group: str
    labels: list[str]
    erlang: list[int]
    required: list[int]
    shifts: list[ShiftBlock]
    on_shift: list[int]
    verified: Evaluation
    results: Results
    """The verification run with the planned shifts, every channel (as ``simulate`` writes it)."""
    evaluations: int
    scenario: Scenario
    records: list[ConversationRecord] = field(default_factory=list)
    """The verification's records on the first trace (for reports, as ``simulate`` keeps)."""

    @property
    def unmet(self) -> list[int]:
        """Intervals where the verification run with the shifts still misses a target."""
        targets = self.scenario.targets
        return [j for j in range(len(self.labels)) if not _meets(self.verified, j, targets)]

    def agent_hours(self, interval: float) -> tuple[float, float]:
        """Agent-hours ``(required, scheduled)`` of the planned group."""
        return sum(self.required) * interval / 3600.0, sum(self.on_shift) * interval / 3600.0


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
    """``scenario`` with ``group`` working ``shifts`` (its staffing replaced)."""
    clock = [
        format_clock(scenario.start + j * scenario.interval)
        for j in range(scenario.n_intervals + 1)
    ]
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


def _shortfall(evaluation: Evaluation, j: int, targets: Targets) -> float:
    """How far interval ``j`` is from its targets (0 when it meets them): rates in absolute
    terms, mean response times relative to their target. An undefined rate counts as the worst
    (nobody was answered); an undefined response time as met (nothing to answer)."""
    if evaluation.offered[j] <= 0:
        return 0.0
    gap = 0.0
    for key, target in targets.items():
        kpi, value = BY_KEY[key], evaluation.value(key, j)
        if kpi.unit is Unit.RATE:
            worst = 0.0 if kpi.better > 0 else 1.0
            gap += max(0.0, kpi.worse_by(worst if value is None else value, target))
        elif value is not None:
            gap += max(0.0, kpi.worse_by(value, target) / target)
    return gap


def _meets(evaluation: Evaluation, j: int, targets: Targets) -> bool:
    return _shortfall(evaluation, j, targets) <= 1e-12


REPAIRS = 4
"""Rounds of one more agent in the intervals that the shift plan's verification run misses."""

STALL = 3
"""Agents added to an interval without its shortfall shrinking before the planner calls the
target out of staffing's reach there (reply work longer than patience, say) and stops adding."""


def planned_group(scenario: Scenario, group: str | None) -> AgentGroup:
    """The group to size (default: the one with the most skills), after checking that the
    scenario can be planned at all."""
    targets = scenario.targets
    if not targets.items():
        raise PlanningError(
            "no target to plan for (service_level, missed_rate, frt_mean or insession_mean)",
            key="targets",
        )
    if targets.service_level is not None and targets.service_level >= 1:
        raise PlanningError(
            "must be below 1: no finite staff answers every chat in time",
            key="targets.service_level",
        )
    if scenario.duration > 86400 + 1e-9:
        raise PlanningError(
            "the planner writes shifts as clock times, so it plans horizons of up to 24 hours",
            key="duration",
        )
    if scenario.interval % 60:
        raise PlanningError(
            "the planner writes shifts as clock times, so intervals must be whole minutes",
            key="interval",
        )
    names = [g.group for g in scenario.agents]
    chosen = group if group is not None else max(scenario.agents, key=lambda g: len(g.skills)).group
    if chosen not in names:
        raise PlanningError(
            f"no agent group {chosen!r} (groups: {', '.join(names)})", parameter="group"
        )
    return next(g for g in scenario.agents if g.group == chosen)


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


class Planner:
    """Sizes one agent group of a scenario against its targets on fixed traffic.

    With ``jobs > 1`` the traces of an evaluation run in that many worker processes, kept for
    the planner's life (use it as a context manager, or call :meth:`close`).
    """

    def __init__(
        self,
        scenario: Scenario,
        group: str | None = None,
        *,
        replications: int = 10,
        seed: int = 1,
        jobs: int = 1,
    ) -> None:
        self.group: AgentGroup = planned_group(scenario, group)
        if replications < 1:
            raise PlanningError("must be at least 1", parameter="replications")
        self.scenario = scenario
        self.channels = frozenset(self.group.skills)
        self.seed = seed
        self.evaluations = 0
        self.out_of_reach: list[bool] = [False] * scenario.n_intervals
        self.runner = Runner(Traffic(scenario, seed, replications), jobs=jobs, keep_traces=True)

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> Planner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def evaluate(self, scenario: Scenario) -> Evaluation:
        """Run the model on every trace; per interval, the KPIs of the group's channels."""
        self.evaluations += 1
        batch = self.runner.run(scenario, (self.channels,))
        return _pooled(batch.measurements[0], scenario.n_intervals)

    def verify(self, scenario: Scenario) -> tuple[Evaluation, Results, list[ConversationRecord]]:
        """:meth:`evaluate`, plus the results of every channel and the first trace's records."""
        self.evaluations += 1
        batch = self.runner.run(scenario, (self.channels, None), keep_first=True)
        assert batch.first_run is not None
        results = aggregate(batch.measurements[1], ResultsHeader.of(scenario, seed=self.seed))
        return (
            _pooled(batch.measurements[0], scenario.n_intervals),
            results,
            batch.first_run.conversations,
        )

    def erlang_start(self) -> list[int]:
        """Erlang A agents per interval from what the model measures on the scenario as given."""
        scenario, group = self.scenario, self.group
        runs = [
            simulate_trace(scenario, self.runner.trace(r)) for r in range(self.runner.replications)
        ]
        offered = np.zeros(scenario.n_intervals)
        held, patience, weighted_target = [], [], 0.0
        for run in runs:
            for record in run.conversations:
                if record.queued_at is None or record.channel not in self.channels:
                    continue
                offered[
                    min(int(record.queued_at // scenario.interval), scenario.n_intervals - 1)
                ] += 1
                patience.append(record.conversation.patience)
                weighted_target += scenario.channels[record.channel].first_response_target
                if record.assigned_at is not None and record.closed_at is not None:
                    held.append(record.closed_at - record.assigned_at)
        if not patience:
            return [0] * scenario.n_intervals
        offered /= len(runs)
        holding = float(np.mean(held)) if held else 60.0
        mean_patience = float(np.mean([p for p in patience if math.isfinite(p)] or [1e9]))
        target = weighted_target / len(patience)
        service_level = scenario.targets.service_level or 0.0
        start = []
        for count in offered:
            if count <= 0:
                start.append(0)
                continue
            metrics = agents_for_service_level(
                count / scenario.interval, holding, target, service_level,
                mean_patience=mean_patience, max_abandon=scenario.targets.missed_rate or None,
                slots_per_agent=group.max_chats,
            )  # fmt: skip
            start.append(int(metrics.agents))
        return start

    def search(
        self,
        start: Sequence[int],
        *,
        max_evaluations: int = 40,
        on_step: Callable[[int, int], None] | None = None,
    ) -> tuple[list[int], Evaluation]:
        """The fewest agents per interval that the model accepts, and that staffing's evaluation.

        Grow: every interval that misses a target gets a quarter more agents (at least one) until
        none misses. Shrink: each interval bisects between the most agents seen failing and the
        fewest seen passing, all intervals in the same model run; a reduction that fails is
        undone and raises that interval's floor for good, so the search only ever closes
        brackets and ends. An interval's backlog spills into the next, so an interval can fail
        because a neighbour shrank: it then gets one agent more. An interval whose shortfall does
        not shrink over :data:`STALL` added agents is out of staffing's reach (reply work longer
        than patience, say) and stops growing. ``on_step(evaluations, agents)`` reports progress.
        """
        targets = self.scenario.targets
        n = self.scenario.n_intervals
        staffing = [max(0, s) for s in start]
        floor = [-1] * n  # the most agents seen failing
        stalled, last_gap = [0] * n, [math.inf] * n
        best_at = list(staffing)  # the staffing at the smallest shortfall seen
        self.out_of_reach = [False] * n

        def short_of(evaluation: Evaluation) -> list[int]:
            return [
                j
                for j in range(n)
                if not self.out_of_reach[j] and not _meets(evaluation, j, targets)
            ]

        def run(candidate: list[int]) -> Evaluation:
            evaluation = self.evaluate(with_staffing(self.scenario, self.group.group, candidate))
            if on_step is not None:
                on_step(self.evaluations, sum(candidate))
            return evaluation

        evaluation = run(staffing)
        while (short := short_of(evaluation)) and self.evaluations < max_evaluations:  # grow
            for j in short:
                gap = _shortfall(evaluation, j, targets)
                if gap < last_gap[j] - 1e-3:
                    stalled[j], last_gap[j], best_at[j] = 0, gap, staffing[j]
                else:
                    stalled[j] += 1
                if stalled[j] >= STALL:
                    self.out_of_reach[j] = True
                    staffing[j] = best_at[j]  # the agents added since did not help
                else:
                    floor[j] = max(floor[j], staffing[j])
                    staffing[j] += max(1, staffing[j] // 4)
            evaluation = run(staffing)
        while self.evaluations < max_evaluations:  # shrink
            trial = [
                (floor[j] + s + 1) // 2 if s - floor[j] > 1 and not self.out_of_reach[j] else s
                for j, s in enumerate(staffing)
            ]
            if trial == staffing:
                break
            tried = run(trial)
            failed = set(short_of(tried))
            for j in range(n):
                if j not in failed:
                    staffing[j] = trial[j]
                elif trial[j] < staffing[j]:
                    floor[j] = trial[j]  # its own reduction (or a neighbour's) failed: keep it
                else:
                    floor[j] = staffing[j]  # failed at a count it had passed: one more, for good
                    staffing[j] += 1
            evaluation = tried if trial == staffing else run(staffing)
        while (short := short_of(evaluation)) and self.evaluations < max_evaluations:  # settle
            for j in short:
                floor[j] = staffing[j]
                staffing[j] += 1
            evaluation = run(staffing)
        return staffing, evaluation


def plan_staff(
    scenario: Scenario,
    group: str | None = None,
    *,
    shift_lengths: Sequence[float] = (8 * 3600.0,),
    replications: int = 10,
    seed: int = 1,
    max_evaluations: int = 40,
    jobs: int = 1,
    on_step: Callable[[int, int], None] | None = None,
) -> Plan:
    """Agents per interval for ``group`` (default: the group with the most skills) that meet the
    scenario's targets in every interval, and the cheapest shifts that cover them."""
    lengths = shift_intervals(scenario, shift_lengths)
    with Planner(scenario, group, replications=replications, seed=seed, jobs=jobs) as planner:
        return _plan(planner, lengths, max_evaluations, on_step)


def _plan(
    planner: Planner,
    lengths: list[int],
    max_evaluations: int,
    on_step: Callable[[int, int], None] | None,
) -> Plan:
    scenario = planner.scenario
    start = planner.erlang_start()
    required, _ = planner.search(start, max_evaluations=max_evaluations, on_step=on_step)
    targets = scenario.targets
    for repair in range(REPAIRS + 1):
        shifts = cover(required, lengths)
        planned = with_shifts(scenario, planner.group.group, shifts)
        verified, results, first = planner.verify(planned)
        if on_step is not None:
            on_step(planner.evaluations, sum(required))
        # Shifts are not interval staffing: agents log in once and carry their chats across
        # interval edges, so an interval at the edge of its target may slip; give it one more.
        slipped = [
            j
            for j in range(len(required))
            if not planner.out_of_reach[j] and not _meets(verified, j, targets)
        ]
        if not slipped or repair == REPAIRS:
            break
        on_shift = head_count(shifts, len(required))
        for j in slipped:
            required[j] = (
                on_shift[j] + 1
            )  # more than the shifts gave it, or the cover would not change
    labels = [scenario.interval_label(j) for j in range(scenario.n_intervals)]
    on_shift = head_count(shifts, scenario.n_intervals)
    return Plan(
        planner.group.group,
        labels,
        start,
        required,
        shifts,
        on_shift,
        verified,
        results,
        planner.evaluations,
        planned,
        first,
    )


def _pooled(measurements: Sequence[Measurement], n: int) -> Evaluation:
    """Per interval, the ``all`` rows of scoped measurements pooled over the traces: rates over
    every offered conversation, response times over every answered one."""
    sums = np.zeros(
        (n, 6)
    )  # offered, on time, missed, answered, frt x answered, in-session x answered
    for measured in measurements:
        for row in measured["intervals"]:
            if row["channel"] == ALL and row["offered"]:
                offered, answered = row["offered"], row["answered"]
                sums[row["index"]] += (
                    offered, (row["service_level"] or 0.0) * offered, row["missed"], answered,
                    (row["frt_mean"] or 0.0) * answered, (row["insession_mean"] or 0.0) * answered,
                )  # fmt: skip

    def ratio(top: float, bottom: float) -> float | None:
        return top / bottom if bottom > 0 else None

    return Evaluation(
        offered=[float(x) / len(measurements) for x in sums[:, 0]],
        service_level=[ratio(row[1], row[0]) for row in sums],
        missed_rate=[ratio(row[2], row[0]) for row in sums],
        frt_mean=[ratio(row[4], row[3]) for row in sums],
        insession_mean=[ratio(row[5], row[3]) for row in sums],
    )
