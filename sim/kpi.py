"""KPIs of one run, per channel, per interval and in total (the KPIs of sim.catalogue).

Conversation KPIs belong to the interval in which the conversation entered the queue (bot
containment to the interval of arrival); time KPIs (occupancy, slot utilisation, queue length)
to the interval in which the time passed. Totals of occupancy and slot utilisation cover the
whole run, including the drain after the horizon.

Definitions: ``offered`` entered the agent queue; ``answered`` got a first reply before the
customer left; ``missed = offered - answered``; ``service_level`` = answered within the
channel's ``first_response_target`` / offered; first response (``frt_*``) over answered
conversations; in-session response (``insession_*``) over replies to messages 2..n;
``occupancy`` = hands busy / productive time (logged in and not away on a break or a
shrinkage activity); ``slot_utilisation`` = active chats / (productive agents x max_chats);
``paid_hours``, ``logged_in_hours``, ``productive_hours``: agent-hours rostered and paid (the
shifts less unpaid breaks, absent agents not counted), logged in, and logged in less away;
``wasted_slot_seconds`` = slot time held by silently abandoned conversations after their
customer left; ``max_queue`` = most conversations waiting at once.
An undefined KPI (a mean over nothing) is ``None``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, MutableSequence, Sequence
from itertools import chain
from typing import Any, TypedDict

import numpy as np

from sim.catalogue import KEYS
from sim.collector import collector_paused
from sim.records import Run
from sim.scenario import Scenario

ALL = "all"
"""The channel name of per-interval rows that cover every channel (of the measured scope)."""

KpiValues = dict[str, float | None]


class Measurement(TypedDict):
    """The KPIs of one run: in total, per channel and per interval (see :func:`measure`)."""

    total: KpiValues
    channels: dict[str, KpiValues]
    intervals: list[dict[str, Any]]
    """Rows of ``index``, ``channel`` (a channel name, or ``"all"``) and every KPI."""


def time_in_bins(
    starts: np.ndarray, ends: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Total (weighted) length of the spans ``[start, end)`` that falls in each bin of
    ``edges`` (ascending and finite).

    Each span is clipped to the edges and its first and last bins found by a binary search in
    the edges (which are few): its time goes to those two bins and, through one running sum,
    to every bin between them. The spans are not sorted: O(n log bins) for n spans.
    """
    if not np.all(np.isfinite(edges)):
        raise ValueError("bin edges must be finite")
    m = len(edges) - 1
    s = np.clip(starts, edges[0], edges[-1])
    e = np.clip(ends, edges[0], edges[-1])
    inside = e > s
    w = np.ones(int(inside.sum())) if weights is None else weights[inside]
    s, e = s[inside], e[inside]
    if m == 1:
        return np.array([(w * (e - s)).sum()])
    first = np.searchsorted(edges, s, side="right") - 1
    last = np.searchsorted(edges, e, side="left") - 1
    alone = first == last
    found = np.zeros(m)
    found += np.bincount(first[alone], (w * (e - s))[alone], minlength=m)
    cross = ~alone
    if cross.any():
        first, last, s, e, w = first[cross], last[cross], s[cross], e[cross], w[cross]
        found += np.bincount(first, w * (edges[first + 1] - s), minlength=m)
        found += np.bincount(last, w * (e - edges[last]), minlength=m)
        # The bins strictly between: w counts from the bin after the first up to the last.
        through = np.bincount(first + 1, w, minlength=m + 1) - np.bincount(last, w, minlength=m + 1)
        found += np.cumsum(through)[:m] * np.diff(edges)
    return found


def _stats(values: np.ndarray, *percents: float) -> list[float | None]:
    """The mean and the given percentiles of ``values`` (one sort), None when empty."""
    if values.size == 0:
        return [None] * (1 + len(percents))
    if not percents:
        return [float(values.mean())]
    return [float(values.mean()), *(float(p) for p in np.percentile(values, percents))]


def _queue_max(times: np.ndarray, deltas: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Most conversations waiting at once within each bin, from +1/-1 queue events."""
    result = np.zeros(len(edges) - 1)
    if times.size == 0:
        return result
    order = np.lexsort((deltas, times))  # at equal times, leaving before joining
    times, levels = times[order], np.cumsum(deltas[order])
    # The level a bin starts with counts every change at or before its first instant; the
    # changes inside it are those after that instant and before its end.
    lo = np.searchsorted(times, edges[:-1], side="right")
    hi = np.searchsorted(times, edges[1:], side="left")
    result = np.where(lo > 0, levels[np.maximum(lo - 1, 0)], 0.0)
    changed = lo < hi
    if changed.any():
        # Maximum over each [lo, hi) at once: reduceat over the pairs, every other slot.
        bounds = np.stack((lo[changed], hi[changed]), axis=1).ravel()
        inside = np.maximum.reduceat(np.append(levels, 0.0), bounds)[0::2]
        result[changed] = np.maximum(result[changed], inside)
    return result


class _Columns:
    """The records of a run as numpy columns, one row per conversation: the log's columns
    (:class:`~sim.records.ConversationLog`) and those of the conversations played."""

    def __init__(self, run: Run, scenario: Scenario) -> None:
        names = list(scenario.channels)
        log = run.conversations
        talks = log.columns
        n = len(log)
        # The scenario's place of each channel the trace names.
        place = np.array([names.index(name) for name in talks.channels], dtype=np.int64)
        self.channel = place[talks.channel] if n else np.zeros(0, dtype=np.int64)
        self.arrived = talks.t
        self.contained = talks.bot_contained
        self.queued = log.column("queued_at")
        self.offered = ~np.isnan(self.queued)
        self.answered = log.column("answered")
        left_queue = log.column("left_queue_at")
        self.left_queue = np.where(np.isnan(left_queue), math.inf, left_queue)
        self.assigned = log.column("assigned_at")
        recorded_close = log.column("closed_at")
        self.closed = np.where(np.isnan(recorded_close), run.end, recorded_close)
        left = log.column("left_at")
        # ConversationRecord.wasted_slot_seconds, column-wise: slot time held for a customer
        # who had already left without telling anyone.
        silent_gone = (
            log.column("silent")
            & ~np.isnan(left)
            & ~np.isnan(self.assigned)
            & ~np.isnan(recorded_close)
        )
        self.wasted = np.zeros(n)
        self.wasted[silent_gone] = recorded_close[silent_gone] - np.maximum(
            self.assigned[silent_gone], left[silent_gone]
        )
        # Every delay of every record in one array: the first of an answered record is its first
        # response, the others its in-session responses.
        flat, counts = log.replies()
        firsts = np.cumsum(counts) - counts
        owner = np.repeat(np.arange(n, dtype=np.int64), counts)
        self.frt = np.full(n, math.nan)
        has_first = self.answered & (counts > 0)
        self.frt[has_first] = flat[firsts[has_first]]
        later = np.ones(flat.size, dtype=bool)
        later[firsts[counts > 0]] = False
        later &= self.answered[owner]
        self.insession_owner = owner[later]
        self.insession = flat[later]
        targets = np.array([scenario.channels[name].first_response_target for name in names])
        self.on_time = self.answered & (self.frt <= targets[self.channel])


def within(order: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
    """Given ``order``, an ascending order of a column's values, the ascending order of the
    values ``mask`` selects, as places among them (no sort: the column's order, filtered)."""
    if order is None:
        return None
    place = np.cumsum(mask) - 1
    found: np.ndarray = place[order[mask[order]]]
    return found


def _group_order(group: np.ndarray, n: int) -> np.ndarray:
    """The stable order that lays ``group``'s members out group by group. Groups numbered
    below 32,767 are sorted as 16-bit integers, which numpy sorts stably by radix: in linear
    time, a tenth of sorting them as 64-bit."""
    small = group.astype(np.int16) if n < np.iinfo(np.int16).max else group
    return np.argsort(small, kind="stable")


class _Groups:
    """The conversation KPIs of many groups of conversations at once.

    ``group[i]`` is the group of conversation ``i`` (``-1``: in none) for every KPI but bot
    containment, which counts by ``arrival_group``. Sums, means and percentiles are taken over
    each group's values in record order, exactly as over a boolean selection of them, so the
    figures are those of measuring each group on its own.
    """

    def __init__(
        self, cols: _Columns, percents: tuple[tuple[float, ...], tuple[float, ...]]
    ) -> None:
        self.cols = cols
        self.percents = percents
        # Each column sorted once, when percentiles are asked for: every grouping's
        # percentiles then take its values in this order and sort them by group alone.
        self.frt_order = np.argsort(cols.frt) if percents[0] else None
        self.insession_order = np.argsort(cols.insession) if percents[1] else None

    def kpis(self, group: np.ndarray, arrival_group: np.ndarray, n: int) -> list[KpiValues]:
        cols = self.cols
        inside = group >= 0

        def count(mask: np.ndarray, by: np.ndarray = group) -> list[int]:
            return np.bincount(by[mask], minlength=n).tolist()  # type: ignore[no-any-return]

        offered = count(inside & cols.offered)
        answered = count(inside & cols.answered)
        on_time = count(inside & cols.on_time)
        contained = count((arrival_group >= 0) & cols.contained, arrival_group)
        frt_mask = inside & cols.answered
        frt = _grouped_stats(
            cols.frt[frt_mask],
            group[frt_mask],
            n,
            self.percents[0],
            within(self.frt_order, frt_mask),
        )
        reply_group = group[cols.insession_owner]
        reply_mask = reply_group >= 0
        insession = _grouped_stats(
            cols.insession[reply_mask],
            reply_group[reply_mask],
            n,
            self.percents[1],
            within(self.insession_order, reply_mask),
        )
        replies = count(reply_mask, reply_group)
        wasted = _grouped_sums(cols.wasted[inside], group[inside], n)
        rows: list[KpiValues] = []
        for g in range(n):
            o, a = offered[g], answered[g]
            frt_mean, *frt_q = frt[g]
            insession_mean, *insession_q = insession[g]
            frt_p50, frt_p90, frt_p95 = frt_q or (None, None, None)
            (insession_p90,) = insession_q or (None,)
            rows.append(
                {
                    "offered": float(o),
                    "answered": float(a),
                    "missed": float(o - a),
                    "missed_rate": (o - a) / o if o else None,
                    "service_level": float(on_time[g]) / o if o else None,
                    "frt_mean": frt_mean,
                    "frt_p50": frt_p50,
                    "frt_p90": frt_p90,
                    "frt_p95": frt_p95,
                    "insession_mean": insession_mean,
                    "insession_p90": insession_p90,
                    "insession_replies": float(replies[g]),
                    "bot_contained": float(contained[g]),
                    "wasted_slot_seconds": wasted[g],
                }
            )
        return rows


def _slices(group: np.ndarray, n: int) -> tuple[np.ndarray, list[int]]:
    """The stable order that lays ``group``'s members out group by group (record order kept
    within each), and where each group's run starts (``n + 1`` bounds)."""
    order = _group_order(group, n)
    bounds = np.concatenate(([0], np.cumsum(np.bincount(group, minlength=n))))
    return order, bounds.tolist()


def _grouped_stats(
    values: np.ndarray,
    group: np.ndarray,
    n: int,
    percents: tuple[float, ...],
    order: np.ndarray | None = None,
) -> list[list[float | None]]:
    """:func:`_stats` of each group's values: means over record order, percentiles of every
    group at once (:func:`grouped_percentiles`, with the values' ascending ``order`` if
    known)."""
    by_group, bounds = _slices(group, n)
    ordered = values[by_group]
    # sum() / count is what mean() computes, without its Python-level wrapper (a group costs
    # a fifth as much): one call per group keeps numpy's pairwise summation of each.
    means = [
        float(ordered[lo:hi].sum() / (hi - lo)) if hi > lo else None
        for lo, hi in itertools.pairwise(bounds)
    ]
    found = [[mean] for mean in means]
    if percents:
        at = grouped_percentiles(values, group, n, percents, order)
        for g in range(n):
            if means[g] is not None:
                found[g].extend(at[g])
            else:
                found[g].extend([None] * len(percents))
    return found


def grouped_percentiles(
    values: np.ndarray,
    group: np.ndarray,
    n: int,
    percents: Sequence[float],
    order: np.ndarray | None = None,
) -> list[list[float]]:
    """``np.percentile(values[group == g], percents)`` for each group ``g`` in ``range(n)``
    (empty groups: NaN), to the bit: numpy's linear method (Hyndman and Fan's 7th) with its
    own arithmetic, on one sort of all the values instead of a call per group.

    ``order`` is an ascending order of ``values`` (an ``argsort``), if known: the values are
    taken in that order and sorted stably by group alone (:func:`_group_order`), which leaves
    each group's values ascending. Which of equal values comes first changes nothing."""
    counts = np.bincount(group, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    if order is None:
        order = np.argsort(values)
    ordered = values[order[_group_order(group[order], n)]]
    quantiles = np.true_divide(np.asarray(percents, dtype=float), 100)
    present = counts > 0
    result = np.full((n, len(percents)), np.nan)
    last = (starts + counts - 1)[present]
    for k, q in enumerate(quantiles):
        virtual = (counts[present] - 1) * q
        previous = np.floor(virtual)
        above = virtual >= counts[present] - 1
        previous[above] = -1.0
        gamma = virtual - previous
        lo = np.where(above, last, starts[present] + previous.astype(np.intp))
        hi = np.where(above, last, lo + 1)
        a, b = ordered[lo], ordered[hi]
        diff = b - a
        value = a + diff * gamma
        upper = gamma >= 0.5
        value[upper] = (b - diff * (1 - gamma))[upper]
        result[present, k] = value
    return result.tolist()


def _grouped_sums(values: np.ndarray, group: np.ndarray, n: int) -> list[float]:
    if not values.any():  # no slot wasted (no silent channel, or nobody left one)
        return [0.0] * n
    order, bounds = _slices(group, n)
    ordered = values[order]
    return [float(ordered[lo:hi].sum()) for lo, hi in itertools.pairwise(bounds)]


def measure(
    run: Run,
    scenario: Scenario,
    channels: Collection[str] | None = None,
    *,
    quantiles: bool = True,
) -> Measurement:
    """KPIs of one run: in total, per channel, and per interval for each channel and ``"all"``.

    ``channels`` limits the measurement to those channels: the total and the ``"all"`` rows then
    cover only their conversations (a planner sizing one agent group asks for its own channels);
    agent KPIs still cover every agent. Without ``quantiles`` the percentile KPIs are None (the
    planner's search needs means and rates only, and percentiles are most of the cost).
    """
    with collector_paused():
        return _measure(run, scenario, channels, quantiles)


def _measure(
    run: Run, scenario: Scenario, channels: Collection[str] | None, quantiles: bool
) -> Measurement:
    percents: tuple[tuple[float, ...], tuple[float, ...]] = (
        ((50, 90, 95), (90,)) if quantiles else ((), ())
    )
    names = [name for name in scenario.channels if channels is None or name in channels]
    cols = _Columns(run, scenario)
    n_int = scenario.n_intervals
    n_names = len(names)
    edges = np.arange(n_int + 1) * scenario.interval
    bin_of_queue = np.clip(
        (np.nan_to_num(cols.queued) // scenario.interval).astype(np.int64), 0, n_int - 1
    )
    bin_of_arrival = np.clip((cols.arrived // scenario.interval).astype(np.int64), 0, n_int - 1)
    position = np.full(len(scenario.channels), -1, dtype=np.int64)
    for i, name in enumerate(scenario.channels):
        if name in names:
            position[i] = names.index(name)
    mine = position[cols.channel]  # the measured channel of each conversation, -1 if none
    scope = mine >= 0
    groups = _Groups(cols, percents)

    def queue_max_over(select: np.ndarray, bins: np.ndarray) -> np.ndarray:
        waiting = select & cols.offered & (cols.left_queue > cols.queued)
        times = np.concatenate((cols.queued[waiting], cols.left_queue[waiting]))
        deltas = np.concatenate((np.ones(int(waiting.sum())), -np.ones(int(waiting.sum()))))
        finite = np.isfinite(times)
        return _queue_max(times[finite], deltas[finite], bins)

    whole_run = np.array([0.0, max(run.end, scenario.duration)])
    agent_bins, (agent_total,) = _agent_time(run, cols, edges, whole_run)

    in_scope = np.where(scope, 0, -1)
    (total,) = groups.kpis(in_scope, in_scope, 1)
    total["max_queue"] = float(queue_max_over(scope, whole_run)[0])
    total.update(agent_total)

    by_channel = groups.kpis(mine, mine, n_names)
    per_channel: dict[str, KpiValues] = {}
    per_channel_queue: list[np.ndarray] = []
    for c, name in enumerate(names):
        kpis = by_channel[c]
        of_channel = mine == c
        kpis["max_queue"] = float(queue_max_over(of_channel, whole_run)[0])
        per_channel_queue.append(queue_max_over(of_channel, edges))
        kpis.update(dict.fromkeys(_AGENT_KEYS))
        per_channel[name] = {key: kpis[key] for key in KEYS}

    all_rows = groups.kpis(
        np.where(scope, bin_of_queue, -1), np.where(scope, bin_of_arrival, -1), n_int
    )
    channel_rows = groups.kpis(
        np.where(scope, bin_of_queue * n_names + mine, -1),
        np.where(scope, bin_of_arrival * n_names + mine, -1),
        n_int * n_names,
    )
    all_queue = queue_max_over(scope, edges).tolist()
    channel_queue = [q.tolist() for q in per_channel_queue]
    no_agent = dict.fromkeys(_AGENT_KEYS)
    intervals: list[dict[str, Any]] = []
    for j in range(n_int):
        row = all_rows[j]
        row["max_queue"] = float(all_queue[j])
        row.update(agent_bins[j])
        intervals.append({"index": j, "channel": ALL, **{key: row[key] for key in KEYS}})
        for c, name in enumerate(names):
            row = channel_rows[j * n_names + c]
            row["max_queue"] = float(channel_queue[c][j])
            row.update(no_agent)
            intervals.append({"index": j, "channel": name, **{key: row[key] for key in KEYS}})
    return {
        "total": {key: total[key] for key in KEYS},
        "channels": per_channel,
        "intervals": intervals,
    }


_AGENT_KEYS = (
    "occupancy",
    "slot_utilisation",
    "paid_hours",
    "logged_in_hours",
    "productive_hours",
)
"""The KPIs :func:`_agent_time` measures (they belong to agents, not channels)."""


def _agent_time(run: Run, cols: _Columns, *bins: np.ndarray) -> list[list[dict[str, float | None]]]:
    """Agent KPIs in each bin of each ``bins`` edges: occupancy and slot utilisation over
    productive time (logged in and not away), and the paid, logged-in and productive
    agent-hours, for every set of bins from the same spans."""
    agents = run.agents
    login = np.array([a.login_at for a in agents], dtype=float)
    logout = np.array(
        [run.end if a.logout_at is None else a.logout_at for a in agents], dtype=float
    )
    slots = np.array([a.max_chats for a in agents], dtype=float)
    away = np.fromiter(
        chain.from_iterable((s, e, a.max_chats) for a in agents for s, e in a.away), dtype=float
    ).reshape(-1, 3)
    away_start, away_end, away_slots = away[:, 0], away[:, 1], away[:, 2]
    busy_start = _joined([a.busy_starts for a in agents])
    busy_end = _joined([a.busy_ends for a in agents])
    held = ~np.isnan(cols.assigned)
    held_start, held_end = cols.assigned[held], cols.closed[held]
    found: list[list[dict[str, float | None]]] = []
    for edges in bins:
        logged = time_in_bins(login, logout, edges)
        productive = logged - time_in_bins(away_start, away_end, edges)
        slot_capacity = time_in_bins(login, logout, edges, slots) - time_in_bins(
            away_start, away_end, edges, away_slots
        )
        busy_time = time_in_bins(busy_start, busy_end, edges)
        slot_held = time_in_bins(held_start, held_end, edges)
        paid = _paid_time(run, edges, logged)
        rows: list[dict[str, float | None]] = []
        for j in range(len(edges) - 1):
            rows.append(
                {
                    "occupancy": float(busy_time[j] / productive[j])
                    if productive[j] > 1e-9
                    else None,
                    "slot_utilisation": (
                        float(slot_held[j] / slot_capacity[j]) if slot_capacity[j] > 1e-9 else None
                    ),
                    "paid_hours": float(paid[j]) / 3600.0,
                    "logged_in_hours": float(logged[j]) / 3600.0,
                    "productive_hours": float(productive[j]) / 3600.0,
                }
            )
        found.append(rows)
    return found


def _joined(parts: list[MutableSequence[float]]) -> np.ndarray:
    """Sequences of numbers end to end (an ``array('d')`` is read without a copy)."""
    if not parts:
        return np.zeros(0)
    return np.concatenate([np.asarray(part, dtype=float) for part in parts])


def _paid_time(run: Run, edges: np.ndarray, logged: np.ndarray) -> np.ndarray:
    """Paid agent time per bin: the rostered shifts less unpaid breaks of the agents who came,
    plus the logged-in time of agents staffed per interval (they have no roster)."""
    if run.roster is None:
        return logged
    rostered = {agent.id for agent in run.roster.agents}
    spans = [span for agent in run.roster.present for span in agent.paid_spans]
    others = [a for a in run.agents if a.id not in rostered]
    starts = [s for s, _ in spans] + [a.login_at for a in others]
    ends = [e for _, e in spans] + [run.end if a.logout_at is None else a.logout_at for a in others]
    return time_in_bins(np.array(starts, dtype=float), np.array(ends, dtype=float), edges)


def interval_rows(
    measurements: Sequence[Measurement], n: int, channel: str = ALL
) -> list[list[dict[str, Any]]]:
    """``rows[j][r]``: interval ``j`` of ``channel`` (or ``all``) in replication ``r``."""
    rows: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for measured in measurements:
        for row in measured["intervals"]:
            if row["channel"] == channel:
                rows[row["index"]].append(row)
    return rows


def conservation_errors(run: Run) -> list[str]:
    """Violations of the bookkeeping every run must satisfy (the property tests hold every
    model run to it)."""
    problems = []
    for r in run.conversations:
        if r.bot_contained and r.offered:
            problems.append(f"{r.id}: contained by the bot but offered to agents")
        if r.answered and (
            r.first_reply_at is None or r.queued_at is None or r.first_reply_at < r.queued_at
        ):
            problems.append(f"{r.id}: answered without a first reply after queue entry")
        if r.assigned_at is not None and r.closed_at is None:
            problems.append(f"{r.id}: assigned but never closed")
    return problems
