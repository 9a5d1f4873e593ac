"""Experiments: replications of a scenario, in one process or several, summarised as Results.

Replication ``r`` of seed ``s`` plays the trace :func:`sim.traffic.draw_trace` draws for
``(s, r)``: every replication has its own independent streams, and replication 0 is exactly
the trace ``chatsim trace --seed s`` writes. A run on a given trace file is deterministic, so it
is one replication.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sim.durations import format_clock
from sim.kpi import measure
from sim.model import simulate_trace
from sim.records import Run
from sim.results import Results, aggregate
from sim.scenario import Scenario
from sim.trace import Trace
from sim.traffic import draw_trace


@dataclass(slots=True)
class Experiment:
    """What a set of replications produced: the summary and the first run's records."""

    results: Results
    first_run: Run


def _replicate(scenario: Scenario, seed: int, replication: int) -> tuple[int, dict[str, Any], Run | None]:
    run = simulate_trace(scenario, draw_trace(scenario, seed, replication, texts=False))
    return replication, measure(run, scenario), run if replication == 0 else None


def run_experiment(
    scenario: Scenario,
    *,
    replications: int = 1,
    seed: int = 1,
    trace: Trace | None = None,
    jobs: int = 1,
    on_replication: Callable[[int], None] | None = None,
) -> Experiment:
    """Run the model ``replications`` times (or once on ``trace``) and summarise the KPIs.

    ``jobs > 1`` runs replications in that many worker processes. ``on_replication`` is called
    with the number of replications finished so far (for progress bars).
    """
    if replications < 1:
        raise ValueError("replications must be at least 1")
    header: dict[str, Any] = {
        "source": "model",
        "scenario": scenario.name,
        "scenario_sha256": scenario.sha256,
        "start": format_clock(scenario.start),
        "interval": scenario.interval,
    }
    labels = [scenario.interval_label(j) for j in range(scenario.n_intervals)]
    if trace is not None:
        run = simulate_trace(scenario, trace)
        if on_replication:
            on_replication(1)
        results = aggregate([measure(run, scenario)], interval_labels=labels, trace_sha256=trace.sha256(), seed=trace.header.seed, **header)
        return Experiment(results, run)
    measured: dict[int, dict[str, Any]] = {}
    first: Run | None = None
    if jobs <= 1 or replications == 1:
        for r in range(replications):
            _, measured[r], run_or_none = _replicate(scenario, seed, r)
            first = first or run_or_none
            if on_replication:
                on_replication(len(measured))
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, replications)) as pool:
            futures = [pool.submit(_replicate, scenario, seed, r) for r in range(replications)]
            for future in as_completed(futures):
                r, measured[r], run_or_none = future.result()
                first = first or run_or_none
                if on_replication:
                    on_replication(len(measured))
    assert first is not None
    results = aggregate([measured[r] for r in range(replications)], interval_labels=labels, seed=seed, **header)
    return Experiment(results, first)
