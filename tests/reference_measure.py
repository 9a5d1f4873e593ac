"""The KPI measurement and aggregation as they were before issue 15 (commit 3bf17ca), kept
verbatim as the reference the vectorised :func:`sim.kpi.measure` and :func:`sim.results.aggregate`
must reproduce to the bit (tests/test_speed_identity.py)."""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypedDict

import math

import numpy as np
from scipy import stats

from sim.catalogue import KEYS
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
    """Total (weighted) length of the spans ``[start, end)`` that falls in each bin of ``edges``.

    Uses the integral F(x) = sum of w * clip(x - start, 0, end - start): the time inside bin j is
    F(edges[j+1]) - F(edges[j]). Sorting makes it O(n log n) for any number of spans.
    """
    if not np.all(np.isfinite(edges)):
        raise ValueError("bin edges must be finite")
    if weights is None:
        weights = np.ones_like(starts)
    lengths = np.maximum(ends - starts, 0.0)
    mask = lengths > 0
    starts, ends, weights = starts[mask], starts[mask] + lengths[mask], weights[mask]

    def integral(points: np.ndarray, at: np.ndarray) -> np.ndarray:
        order = np.argsort(points)
        sorted_points = points[order]
        w = weights[order]
        cum_w = np.concatenate(([0.0], np.cumsum(w)))
        cum_wp = np.concatenate(([0.0], np.cumsum(w * sorted_points)))
        k = np.searchsorted(sorted_points, at, side="right")
        return at * cum_w[k] - cum_wp[k]

    total = integral(starts, edges) - integral(ends, edges)
    return np.diff(total)


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
    for j in range(len(edges) - 1):
        # The level an interval starts with counts every change at or before its first instant.
        lo = int(np.searchsorted(times, edges[j], side="right"))
        hi = int(np.searchsorted(times, edges[j + 1], side="left"))
        start_level = levels[lo - 1] if lo > 0 else 0
        inside = levels[lo:hi]
        result[j] = max(start_level, inside.max()) if inside.size else start_level
    return result


class _Columns:
    """The records of a run as numpy columns, one row per conversation."""

    def __init__(self, run: Run, scenario: Scenario) -> None:
        names = list(scenario.channels)
        index = {name: i for i, name in enumerate(names)}
        records = run.conversations
        n = len(records)
        nan = float("nan")
        self.channel = np.fromiter(
            (index[r.conversation.channel] for r in records), dtype=np.int64, count=n
        )
        self.arrived = np.fromiter((r.conversation.t for r in records), dtype=float, count=n)
        self.contained = np.fromiter((r.bot_contained for r in records), dtype=bool, count=n)
        self.queued = np.fromiter(
            (nan if r.queued_at is None else r.queued_at for r in records), dtype=float, count=n
        )
        self.offered = ~np.isnan(self.queued)
        self.answered = np.fromiter((r.answered for r in records), dtype=bool, count=n)
        self.frt = np.fromiter(
            (r.reply_delays[0] if r.answered else nan for r in records), dtype=float, count=n
        )
        self.left_queue = np.fromiter(
            (np.inf if r.left_queue_at is None else r.left_queue_at for r in records),
            dtype=float,
            count=n,
        )
        self.assigned = np.fromiter(
            (nan if r.assigned_at is None else r.assigned_at for r in records), dtype=float, count=n
        )
        self.closed = np.fromiter(
            (run.end if r.closed_at is None else r.closed_at for r in records), dtype=float, count=n
        )
        self.wasted = np.fromiter((r.wasted_slot_seconds for r in records), dtype=float, count=n)
        targets = np.array([scenario.channels[name].first_response_target for name in names])
        self.on_time = self.answered & (self.frt <= targets[self.channel])
        owners = [
            (i, delay) for i, r in enumerate(records) if r.answered for delay in r.reply_delays[1:]
        ]
        self.insession_owner = np.fromiter(
            (o for o, _ in owners), dtype=np.int64, count=len(owners)
        )
        self.insession = np.fromiter((d for _, d in owners), dtype=float, count=len(owners))


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
    percents: tuple[tuple[float, ...], tuple[float, ...]] = (
        ((50, 90, 95), (90,)) if quantiles else ((), ())
    )
    names = [name for name in scenario.channels if channels is None or name in channels]
    cols = _Columns(run, scenario)
    n_int = scenario.n_intervals
    edges = np.arange(n_int + 1) * scenario.interval
    bin_of_queue = np.clip(
        (np.nan_to_num(cols.queued) // scenario.interval).astype(np.int64), 0, n_int - 1
    )
    bin_of_arrival = np.clip((cols.arrived // scenario.interval).astype(np.int64), 0, n_int - 1)
    index = {name: i for i, name in enumerate(scenario.channels)}
    of_channel = {name: cols.channel == index[name] for name in names}

    def conversation_kpis(select: np.ndarray, arrival_select: np.ndarray) -> KpiValues:
        offered = int((select & cols.offered).sum())
        answered_mask = select & cols.answered
        answered = int(answered_mask.sum())
        frt = cols.frt[answered_mask]
        insession = (
            cols.insession[select[cols.insession_owner]] if cols.insession.size else cols.insession
        )
        frt_mean, *frt_q = _stats(frt, *percents[0])
        insession_mean, *insession_q = _stats(insession, *percents[1])
        frt_p50, frt_p90, frt_p95 = frt_q or (None, None, None)
        (insession_p90,) = insession_q or (None,)
        return {
            "offered": float(offered),
            "answered": float(answered),
            "missed": float(offered - answered),
            "missed_rate": (offered - answered) / offered if offered else None,
            "service_level": float((select & cols.on_time).sum()) / offered if offered else None,
            "frt_mean": frt_mean,
            "frt_p50": frt_p50,
            "frt_p90": frt_p90,
            "frt_p95": frt_p95,
            "insession_mean": insession_mean,
            "insession_p90": insession_p90,
            "insession_replies": float(insession.size),
            "bot_contained": float((arrival_select & cols.contained).sum()),
            "wasted_slot_seconds": float(cols.wasted[select].sum()),
        }

    def queue_max_over(select: np.ndarray, bins: np.ndarray) -> np.ndarray:
        waiting = select & cols.offered & (cols.left_queue > cols.queued)
        times = np.concatenate((cols.queued[waiting], cols.left_queue[waiting]))
        deltas = np.concatenate((np.ones(int(waiting.sum())), -np.ones(int(waiting.sum()))))
        finite = np.isfinite(times)
        return _queue_max(times[finite], deltas[finite], bins)

    whole_run = np.array([0.0, max(run.end, scenario.duration)])
    agent_bins = _agent_time(run, cols, edges)
    (agent_total,) = _agent_time(run, cols, whole_run)

    scope = (
        np.ones(len(cols.channel), dtype=bool)
        if channels is None
        else np.isin(cols.channel, [index[n] for n in names])
    )
    total = conversation_kpis(scope, scope)
    total["max_queue"] = float(queue_max_over(scope, whole_run)[0])
    total.update(agent_total)

    per_channel: dict[str, KpiValues] = {}
    per_channel_queue: dict[str, np.ndarray] = {}
    for name in names:
        mine = of_channel[name]
        kpis = conversation_kpis(mine, mine)
        kpis["max_queue"] = float(queue_max_over(mine, whole_run)[0])
        per_channel_queue[name] = queue_max_over(mine, edges)
        kpis.update(dict.fromkeys(_AGENT_KEYS))
        per_channel[name] = {key: kpis[key] for key in KEYS}

    all_queue = queue_max_over(scope, edges)
    intervals: list[dict[str, Any]] = []
    for j in range(n_int):
        in_bin = bin_of_queue == j
        arrived_in_bin = bin_of_arrival == j
        row = conversation_kpis(in_bin & scope, arrived_in_bin & scope)
        row["max_queue"] = float(all_queue[j])
        row.update(agent_bins[j])
        intervals.append({"index": j, "channel": ALL, **{key: row[key] for key in KEYS}})
        for name in names:
            mine = of_channel[name]
            row = conversation_kpis(in_bin & mine, arrived_in_bin & mine)
            row["max_queue"] = float(per_channel_queue[name][j])
            row.update(dict.fromkeys(_AGENT_KEYS))
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


def _agent_time(run: Run, cols: _Columns, edges: np.ndarray) -> list[dict[str, float | None]]:
    """Agent KPIs in each bin of ``edges``: occupancy and slot utilisation over productive time
    (logged in and not away), and the paid, logged-in and productive agent-hours."""
    agents = run.agents
    login = np.array([a.login_at for a in agents], dtype=float)
    logout = np.array(
        [run.end if a.logout_at is None else a.logout_at for a in agents], dtype=float
    )
    slots = np.array([a.max_chats for a in agents], dtype=float)
    away = [(span, a.max_chats) for a in agents for span in a.away]
    away_start = np.array([s for (s, _), _ in away], dtype=float)
    away_end = np.array([e for (_, e), _ in away], dtype=float)
    away_slots = np.array([m for _, m in away], dtype=float)
    spans = [span for a in agents for span in a.busy]
    busy_start = np.array([s for s, _ in spans], dtype=float)
    busy_end = np.array([e for _, e in spans], dtype=float)
    logged = time_in_bins(login, logout, edges)
    productive = logged - time_in_bins(away_start, away_end, edges)
    slot_capacity = time_in_bins(login, logout, edges, slots) - time_in_bins(
        away_start, away_end, edges, away_slots
    )
    busy = time_in_bins(busy_start, busy_end, edges)
    held = ~np.isnan(cols.assigned)
    slot_held = time_in_bins(cols.assigned[held], cols.closed[held], edges)
    paid = _paid_time(run, edges, logged)
    rows: list[dict[str, float | None]] = []
    for j in range(len(edges) - 1):
        rows.append(
            {
                "occupancy": float(busy[j] / productive[j]) if productive[j] > 1e-9 else None,
                "slot_utilisation": (
                    float(slot_held[j] / slot_capacity[j]) if slot_capacity[j] > 1e-9 else None
                ),
                "paid_hours": float(paid[j]) / 3600.0,
                "logged_in_hours": float(logged[j]) / 3600.0,
                "productive_hours": float(productive[j]) / 3600.0,
            }
        )
    return rows


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


def summarise(values):
    present = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if present.size == 0:
        return {"mean": None}
    result = {"mean": float(present.mean())}
    if len(values) > 1:
        if present.size > 1:
            sem = float(present.std(ddof=1)) / math.sqrt(present.size)
            result["ci95"] = float(stats.t.ppf(0.975, present.size - 1)) * sem
        else:
            result["ci95"] = None
    return result


def aggregate_tables(measurements):
    """The total, channels and interval KPIs of sim.results.aggregate at 3bf17ca."""
    first = measurements[0]

    def combine(tables):
        tables = list(tables)
        return {kpi: summarise([t[kpi] for t in tables]) for kpi in KEYS}

    channels = {
        name: combine(m["channels"][name] for m in measurements) for name in first["channels"]
    }
    intervals = []
    for position, row in enumerate(first["intervals"]):
        rows = [m["intervals"][position] for m in measurements]
        intervals.append({"index": row["index"], "channel": row["channel"], **combine(rows)})
    return combine(m["total"] for m in measurements), channels, intervals
