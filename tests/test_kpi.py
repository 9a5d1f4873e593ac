"""KPI arithmetic: time split into intervals, queue maxima, definitions on a known run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelkit import conversation, scenario, trace
from threadwatch import other_threads_cpu

from sim.catalogue import KEYS as KPIS
from sim.kpi import ALL, measure, time_in_bins
from sim.model import simulate_trace

spans = st.lists(st.tuples(st.floats(0, 100), st.floats(0, 50), st.floats(0.1, 4)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(spans, st.lists(st.floats(0, 150), min_size=2, max_size=8, unique=True))
def test_time_in_bins_matches_brute_force(rows, edges):
    edges = np.sort(np.array(edges))
    starts = np.array([s for s, _, _ in rows])
    ends = starts + np.array([d for _, d, _ in rows])
    weights = np.array([w for _, _, w in rows])
    expected = [
        sum(
            w * max(0.0, min(e, hi) - max(s, lo))
            for s, e, w in zip(starts, ends, weights, strict=True)
        )
        for lo, hi in itertools.pairwise(edges)
    ]
    assert time_in_bins(starts, ends, edges, weights) == pytest.approx(expected, abs=1e-7)


def test_kpis_of_a_known_run():
    s = scenario(
        channels={
            "chat": {
                "protocol": "webchat",
                "volume": 10,
                "silent_abandon": False,
                "patience": {"dist": "constant", "value": "1h"},
                "reply": {"dist": "constant", "value": 10},
                "first_response_target": "30s",
            }
        },
        agents=[{"group": "a", "skills": ["chat"], "max_chats": 1, "staffing": [1, 1, 1, 1]}],
    )
    cs = [
        conversation("c1", 0.0, [10.0, 20.0], thinks=[0.0, 5.0]),  # FRT 10, in-session 20
        conversation("c2", 1.0, [10.0]),  # waits for c1: assigned 35, FRT 44 > 30 s target
        conversation("c3", 2.0, [10.0], patience=20.0),  # leaves the queue at 22: missed
        conversation("c4", 950.0, [10.0], bot=(True, 5.0)),  # contained by the bot
    ]
    m = measure(simulate_trace(s, trace(*cs)), s)
    total = m["total"]
    assert set(total) == set(KPIS)
    assert (total["offered"], total["answered"], total["missed"]) == (3, 2, 1)
    assert total["missed_rate"] == pytest.approx(1 / 3)
    assert total["service_level"] == pytest.approx(1 / 3)
    assert total["frt_mean"] == pytest.approx((10 + 44) / 2)
    assert total["insession_mean"] == pytest.approx(20)
    assert total["bot_contained"] == 1
    assert total["max_queue"] == 2  # c2 and c3 waited together
    first = next(row for row in m["intervals"] if row["index"] == 0 and row["channel"] == ALL)
    # One agent logged in for the whole first interval, typing 10 + 20 + 10 seconds.
    assert first["occupancy"] == pytest.approx(40 / 900)
    assert first["slot_utilisation"] == pytest.approx(45 / 900)  # c1 held 0-35, c2 35-45
    second = next(row for row in m["intervals"] if row["index"] == 1 and row["channel"] == "chat")
    assert second["bot_contained"] == 1 and second["offered"] == 0 and second["frt_mean"] is None


def _queue_max_by_scanning(times: np.ndarray, deltas: np.ndarray, edges: np.ndarray) -> list[float]:
    """The queue level at every instant, bin by bin: the definition, slowly."""
    order = np.lexsort((deltas, times))
    times, levels = times[order], np.cumsum(deltas[order])
    found = []
    for lo, hi in itertools.pairwise(edges):
        start = [level for t, level in zip(times, levels, strict=True) if t <= lo]
        inside = [level for t, level in zip(times, levels, strict=True) if lo < t < hi]
        found.append(float(max([start[-1] if start else 0.0, *inside])))
    return found


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 20)), max_size=25),
    st.lists(st.integers(0, 60), min_size=2, max_size=8, unique=True),
)
def test_queue_max_matches_scanning(waits: list[tuple[int, int]], edges: list[int]) -> None:
    """Whole-number times make ties at the edges and between events common."""
    from sim.kpi import _queue_max

    times = np.array([float(t) for s, d in waits for t in (s, s + d)])
    deltas = np.array([x for _ in waits for x in (1.0, -1.0)])
    bins = np.sort(np.array(edges, dtype=float))
    assert _queue_max(times, deltas, bins).tolist() == _queue_max_by_scanning(times, deltas, bins)


def test_queue_max_at_interval_edges():
    from sim.kpi import _queue_max

    # Two waiting from 0 and 5, both leave exactly at the edge 10: the second interval starts empty.
    times, deltas = np.array([0.0, 5.0, 10.0, 10.0]), np.array([1.0, 1.0, -1.0, -1.0])
    assert _queue_max(times, deltas, np.array([0.0, 10.0, 20.0])).tolist() == [2.0, 0.0]
    # One joins exactly at the edge: it counts for the interval that starts there.
    assert _queue_max(np.array([10.0]), np.array([1.0]), np.array([0.0, 10.0, 20.0])).tolist() == [
        0.0,
        1.0,
    ]


def test_time_in_bins_leaves_other_threads_idle():
    """Measuring runs in worker processes side by side (``-j 2``): a BLAS call here (numpy's
    ``dot`` on long vectors) woke OpenBLAS's threads, which then spin for about 0.1 s on the
    other core, slowing the worker beside this one. 30 ms allows the odd interpreter or
    test-runner thread; the spin was about 125 ms on an idle core. (The runner holds a
    replication to one thread anyway, sim.threads; this keeps the measurement itself clean
    for any other caller.)"""
    rng = np.random.default_rng(1)
    starts = rng.uniform(0, 1000, 200_000)
    ends = starts + rng.uniform(0, 10, 200_000)

    def bins() -> None:
        for edges in ([0.0, 1000.0], [0.0, 500.0, 1000.0]):
            time_in_bins(starts, ends, np.array(edges))

    assert other_threads_cpu(bins) < 0.03
