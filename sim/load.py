"""Offered load and reach: what the traffic asks of agents, asked of the model with unlimited staff.

With an idle agent waiting for every conversation, nobody queues: what the model then measures
is the traffic's own demand, free of any staffing. Per channel and interval it gives

- the **slot load**: conversations held at once, time-averaged (a conversation holds a chat slot
  from assignment to close, through the customer's thinking and the idle time before closing);
- the **hand load**: reply work in progress at once, at ``reply_factor`` 1 and without slowdown
  (each conversation's typed work, spread over the time it is held).

Both carry the lag of busy periods into later intervals, as the modified offered load of time-
varying queues does (Feldman, Mandelbaum, Massey and Whitt, 2008): a conversation that starts at
the end of one interval holds its slot in the next.

The same runs say what staffing can never change: the **reach** of each target, the best value
unlimited staff attains. Patience shorter than the first reply's work, or a target below the
reply work itself, set such limits.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from sim.evidence import Estimate, estimate
from sim.kpi import ALL, Measurement, interval_rows, measure, time_in_bins
from sim.records import ConversationLog, Run
from sim.runner import Runner
from sim.scenario import Scenario
from sim.shifts import with_staffing

ROUNDS = 4
"""Times the unlimited staff is doubled when some conversation still had to wait."""


@dataclass(frozen=True, slots=True)
class Load:
    """Per channel, per interval: mean conversations offered, slot load and hand load (means
    over replications)."""

    offered: dict[str, np.ndarray]
    slots: dict[str, np.ndarray]
    hands: dict[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class Reach:
    """What unlimited staff attains for each target KPI: over the day for the planned channels,
    per channel, and per interval (the ``all`` rows of the planned channels)."""

    day: dict[str, Estimate]
    channels: dict[str, dict[str, Estimate]]
    intervals: list[dict[str, Estimate]]
    channel_intervals: dict[str, list[dict[str, Estimate]]]


def unlimited(scenario: Scenario, groups: Collection[str], agents: int) -> Scenario:
    """``scenario`` with ``agents`` of every group in ``groups`` logged in all the time."""
    for group in groups:
        scenario = with_staffing(scenario, group, [agents] * scenario.n_intervals)
    return scenario


def _waited(run: Run, horizon: float, channels: Collection[str]) -> bool:
    """Whether some conversation of ``channels`` waited for an agent or shared one (staff was
    not unlimited). Conversations that a bot hands over after the horizon find nobody, whatever
    the staff; those of other channels depend on groups that are not made unlimited."""
    log = run.conversations
    queued, assigned = log.column("queued_at"), log.column("assigned_at")
    # A NaN queue entry (never queued) compares False.
    rows = np.flatnonzero(log.columns.on(channels) & (queued < horizon))
    start = assigned[rows]
    if np.any(np.isnan(start) | (start > queued[rows] + 1e-9)):
        return True
    # Every agent's spans in order of start (then end): one overlapping the one before it
    # means the agent held two at once.
    closed = log.column("closed_at")[rows]
    end = np.where(np.isnan(closed), math.inf, closed)
    codes: dict[str | None, int] = {}
    agent = np.array([codes.setdefault(log.agent_ids[i], len(codes)) for i in rows.tolist()])
    order = np.lexsort((end, start, agent))
    start, end, agent = start[order], end[order], agent[order]
    return bool(np.any((agent[1:] == agent[:-1]) & (start[1:] < end[:-1] - 1e-9)))


def _loads(run: Run, scenario: Scenario) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Slot and hand load per channel and interval of one unlimited-staff run."""
    n = scenario.n_intervals
    edges = np.arange(n + 1) * scenario.interval
    log = run.conversations
    assigned, closed = log.column("assigned_at"), log.column("closed_at")
    held = ~np.isnan(assigned) & ~np.isnan(closed)
    work = _typed_work(log)
    slots, hands = {}, {}
    for name in scenario.channels:
        mine = held & log.columns.on({name})
        begin, end = assigned[mine], closed[mine]
        holding = np.maximum(end - begin, 1e-9)
        slots[name] = time_in_bins(begin, end, edges) / scenario.interval
        hands[name] = time_in_bins(begin, end, edges, work[mine] / holding) / scenario.interval
    return slots, hands


def _typed_work(log: ConversationLog) -> np.ndarray:
    """Reply work an agent typed for each conversation, at reply_factor 1: every turn of an
    answered conversation, the one late answer of a silently abandoned one, nothing
    otherwise."""
    talks = log.columns
    reply: list[float] = talks.reply.tolist()
    replied = ~np.isnan(log.column("first_reply_at"))
    work = [
        float(sum(reply[first : first + count])) if answered else reply[first] if late else 0.0
        for first, count, answered, late in zip(
            talks.first_turn.tolist(),
            talks.turn_count.tolist(),
            log.answered,
            replied.tolist(),
            strict=True,
        )
    ]
    return np.array(work, dtype=float)


def measure_load(
    runner: Runner,
    scenario: Scenario,
    groups: Collection[str],
    channels: Collection[str],
    kpis: Collection[str] | None = None,
    each: Collection[str] | None = None,
) -> tuple[Load, Reach]:
    """Run ``scenario`` with unlimited agents of ``groups`` on every replication of the runner's
    traffic; the load per channel and the reach of ``kpis`` (default: the scenario's targets)
    for ``channels`` pooled and for each of ``each`` (default: ``channels``) alone."""
    each = list(each if each is not None else channels)
    targets = list(kpis) if kpis is not None else [key for key, _ in scenario.targets.items()]
    arrivals = 0
    for r in range(runner.replications):
        t = runner.trace(r).columns.t
        bins = np.minimum((t // scenario.interval).astype(np.int64), scenario.n_intervals - 1)
        arrivals = max(arrivals, int(np.bincount(bins).max(initial=0)))
    agents = 2 * arrivals + 10
    for _ in range(ROUNDS):
        ample = unlimited(scenario, groups, agents)
        runs = [runner.simulate(ample, r) for r in range(runner.replications)]
        if not any(_waited(run, scenario.duration, channels) for run in runs):
            break
        agents *= 2
    n = scenario.n_intervals
    zero = np.zeros(n)
    offered = {name: zero.copy() for name in scenario.channels}
    slots = {name: zero.copy() for name in scenario.channels}
    hands = {name: zero.copy() for name in scenario.channels}
    scoped: list[Measurement] = []
    whole: list[Measurement] = []
    for run in runs:
        s, h = _loads(run, ample)
        for name in scenario.channels:
            slots[name] += s[name] / len(runs)
            hands[name] += h[name] / len(runs)
        measured = measure(run, ample)
        whole.append(measured)
        scoped.append(measure(run, ample, channels))
        for row in measured["intervals"]:
            if row["channel"] != ALL:
                offered[row["channel"]][row["index"]] += row["offered"] / len(runs)
    pooled = interval_rows(scoped, n)
    reach = Reach(
        day={kpi: estimate(kpi, [m["total"] for m in scoped]) for kpi in targets},
        channels={
            name: {kpi: estimate(kpi, [m["channels"][name] for m in whole]) for kpi in targets}
            for name in each
        },
        channel_intervals={
            name: [{kpi: estimate(kpi, rows[j]) for kpi in targets} for j in range(n)]
            for name in each
            for rows in [interval_rows(whole, n, name)]
        },
        intervals=[{kpi: estimate(kpi, pooled[j]) for kpi in targets} for j in range(n)],
    )
    return Load(offered, slots, hands), reach
