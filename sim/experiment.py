"""Experiments: replications of a scenario (or one run on a given trace), summarised as Results.

Replication ``r`` of seed ``s`` plays the trace :func:`sim.traffic.draw_trace` draws for
``(s, r)``: every replication has its own independent streams, and replication 0 is exactly
the trace ``chatsim trace --seed s`` writes. A run on a given trace file is deterministic, so it
is one replication. The loop itself is :class:`sim.runner.Runner`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from sim.kpi import Measurement
from sim.records import Run
from sim.results import Results, ResultsHeader, aggregate
from sim.runner import Runner, Traffic
from sim.scenario import Scenario
from sim.trace import Trace


@dataclass(slots=True)
class Experiment:
    """What a set of replications produced: the summary and the first run's records."""

    results: Results
    first_run: Run
    measurements: list[Measurement]
    """Each replication's KPIs, in order (a baseline keeps their values)."""


def run_experiment(
    scenario: Scenario,
    *,
    replications: int = 1,
    seed: int = 1,
    trace: Trace | None = None,
    jobs: int = 1,
    executor: Executor | None = None,
    on_replication: Callable[[int], None] | None = None,
    on_first: Callable[[Run], object] | None = None,
) -> Experiment:
    """Run the model ``replications`` times (or once on ``trace``) and summarise the KPIs.

    ``jobs > 1`` runs replications in that many worker processes, an ``executor`` (such as a
    Dask client's) on it; the results do not depend on either. ``on_replication`` is called
    with the number of replications finished so far (for progress bars); ``on_first`` with the
    first run as soon as it is played (its records can be written while the others run).
    """
    traffic = Traffic(scenario, seed, 1 if trace is not None else replications, trace)
    with Runner(traffic, jobs=jobs, executor=executor) as runner:
        batch = runner.run(
            scenario, keep_first=True, on_replication=on_replication, on_first=on_first
        )
    assert batch.first_run is not None
    header = ResultsHeader.of(scenario, seed=seed, trace=trace)
    measured = batch.measurements[0]
    return Experiment(aggregate(measured, header), batch.first_run, measured)
