"""The simulate-and-measure runner: traffic, scopes, worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from threadwatch import other_threads_cpu

from sim.catalogue import BY_KEY
from sim.kpi import ALL, measure
from sim.model import simulate_trace
from sim.runner import Runner, Traffic
from sim.scenario import load_scenario
from sim.trace import Trace
from sim.traffic import draw_trace

SMALL = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "small.yaml")


def test_replication_r_plays_the_drawn_trace_r():
    batch = Runner(Traffic(SMALL, seed=3, replications=2)).run(SMALL, keep_first=True)
    for r in range(2):
        expected = measure(simulate_trace(SMALL, draw_trace(SMALL, 3, r, texts=False)), SMALL)
        assert batch.measurements[0][r] == expected
    assert batch.first_run is not None and len(batch.first_run.conversations) > 0


def test_a_scope_of_one_channel_is_that_channel():
    run = simulate_trace(SMALL, draw_trace(SMALL, 1, 0, texts=False))
    whole = measure(run, SMALL)
    for name in SMALL.channels:
        scoped = measure(run, SMALL, {name})
        mine = {k: v for k, v in whole["channels"][name].items() if not BY_KEY[k].agents}
        assert {k: v for k, v in scoped["total"].items() if k in mine} == mine
        assert set(scoped["channels"]) == {name}
        for row in scoped["intervals"]:
            if row["channel"] == ALL:
                same = next(
                    r
                    for r in whole["intervals"]
                    if r["index"] == row["index"] and r["channel"] == name
                )
                assert (
                    row["offered"] == same["offered"]
                    and row["service_level"] == same["service_level"]
                )
                assert row["insession_mean"] == same["insession_mean"]


def test_a_scope_of_every_channel_is_the_whole():
    run = simulate_trace(SMALL, draw_trace(SMALL, 1, 0, texts=False))
    assert measure(run, SMALL, set(SMALL.channels)) == measure(run, SMALL)


def test_workers_give_what_one_process_gives():
    traffic = Traffic(SMALL, seed=2, replications=3)
    with Runner(traffic, jobs=2, keep_traces=True) as parallel:
        two = parallel.run(SMALL, (None, {"whatsapp"}), keep_first=True)
        again = parallel.run(SMALL, (None,))  # the pool and its kept traces serve a second scenario
    one = Runner(traffic).run(SMALL, (None, {"whatsapp"}), keep_first=True)
    assert two.measurements == one.measurements
    assert again.measurements[0] == one.measurements[0]
    assert two.first_run is not None and one.first_run is not None
    assert [r.to_dict() for r in two.first_run.conversations] == [
        r.to_dict() for r in one.first_run.conversations
    ]


def test_traffic_refuses_nonsense():
    with pytest.raises(ValueError, match="at least 1"):
        Traffic(SMALL, replications=0)
    with pytest.raises(ValueError, match="jobs"):
        Runner(Traffic(SMALL), jobs=0)


def test_without_quantiles_only_the_percentiles_are_left_out():
    run = simulate_trace(SMALL, draw_trace(SMALL, 1, 0, texts=False))
    full, lean = measure(run, SMALL), measure(run, SMALL, quantiles=False)
    quantiles = {"frt_p50", "frt_p90", "frt_p95", "insession_p90"}
    for table, other in [
        (full["total"], lean["total"]),
        *zip(full["intervals"], lean["intervals"], strict=True),
    ]:
        assert all(other[k] is None for k in quantiles)
        assert {k: v for k, v in table.items() if k not in quantiles} == {
            k: v for k, v in other.items() if k not in quantiles
        }


def _with_blas(trace: Trace) -> Trace:
    """An adjust that leans on BLAS (a long dot product) and leaves the trace as it is."""
    long = np.random.default_rng(1).uniform(size=2_000_000)
    for _ in range(5):
        np.dot(long, long)
    return trace


def test_a_replication_is_one_cores_work():
    """Replications run side by side, one per core (``-j``): numeric work inside one, here an
    ``adjust`` doing dot products, must not wake BLAS threads on the other cores (they spin
    for about 0.1 s after each call: sim.threads). 30 ms allows the odd interpreter thread."""
    runner = Runner(Traffic(SMALL, seed=1, replications=1))
    assert other_threads_cpu(lambda: runner.run(SMALL, adjust=_with_blas)) < 0.03
