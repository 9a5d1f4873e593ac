"""Simulate and measure: the one loop through which every command asks the model.

:class:`Traffic` says which conversations are played: replication ``r`` of a seed plays the
trace :func:`sim.traffic.draw_trace` draws for ``(seed, r)`` (its own independent streams;
replication 0 is exactly the trace ``chatsim trace --seed`` writes), or one given trace.
Traffic depends on the channels only, so the same traffic can be played on any staffing of
the scenario: the planner judges every candidate on the very same conversations (common
random numbers).

A :class:`Runner` plays a scenario on each replication of its traffic and measures every run
(:func:`sim.kpi.measure`), in this process or in a pool of worker processes it keeps for its
life. Each worker draws a trace itself (drawing is deterministic, and cheaper than shipping
the trace); with ``keep_traces`` it keeps them for the next scenario. A run may also
``adjust`` each drawn trace before playing it (a deterministic rewrite, such as the calibrator's
scaling of reply work: :mod:`sim.calibrate`), so that candidates which differ in the customers'
side are still judged on the same draws.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from sim.kpi import Measurement, measure
from sim.model import simulate_trace
from sim.records import Run
from sim.scenario import Scenario
from sim.trace import Trace
from sim.traffic import draw_trace

Scope = Collection[str] | None
"""The channels a measurement covers in its total and ``"all"`` rows (None: every channel)."""

Adjust = Callable[[Trace], Trace] | None
"""A deterministic rewrite of a drawn trace before it is played (picklable when the runner has
worker processes); it returns a new trace and leaves the kept one as it is."""


@dataclass(frozen=True, slots=True)
class Traffic:
    """The conversations to play: ``replications`` draws of ``scenario``'s channels with
    ``seed``, or the one given ``trace``."""

    scenario: Scenario
    seed: int = 1
    replications: int = 1
    trace: Trace | None = None

    def __post_init__(self) -> None:
        if self.replications < 1:
            raise ValueError("replications must be at least 1")
        if self.trace is not None and self.replications != 1:
            raise ValueError("a given trace is one replication")

    def draw(self, replication: int) -> Trace:
        """The trace of ``replication`` (without texts: the model does not read them)."""
        if self.trace is not None:
            return self.trace
        return draw_trace(self.scenario, self.seed, replication, texts=False)


@dataclass(slots=True)
class Batch:
    """What one scenario produced on every replication: ``measurements[s][r]`` is scope ``s``
    of replication ``r``; ``first_run`` the records of replication 0 when they were kept."""

    measurements: list[list[Measurement]]
    first_run: Run | None


class _Worker:
    """The traffic a process plays and, when asked, the traces it has drawn."""

    traffic: Traffic | None = None
    keep = False
    traces: dict[int, Trace] = {}  # noqa: RUF012  (one per process, reset by ``setup``)

    @classmethod
    def setup(cls, traffic: Traffic, keep: bool) -> None:
        cls.traffic, cls.keep, cls.traces = traffic, keep, {}

    @classmethod
    def trace(cls, replication: int) -> Trace:
        assert cls.traffic is not None, "the worker was not set up"
        found = cls.traces.get(replication)
        if found is None:
            found = cls.traffic.draw(replication)
            if cls.keep:
                cls.traces[replication] = found
        return found


def _play(
    scenario: Scenario,
    replication: int,
    scopes: Sequence[Scope],
    keep_run: bool,
    quantiles: bool,
    adjust: Adjust = None,
) -> tuple[int, list[Measurement], Run | None]:
    trace = _Worker.trace(replication)
    run = simulate_trace(scenario, trace if adjust is None else adjust(trace))
    return (
        replication,
        [measure(run, scenario, scope, quantiles=quantiles) for scope in scopes],
        run if keep_run else None,
    )


class Runner:
    """Plays scenarios on fixed traffic and measures every run.

    With ``jobs > 1`` replications run in that many worker processes, kept until :meth:`close`
    (use the runner as a context manager). Results do not depend on ``jobs``.
    """

    def __init__(self, traffic: Traffic, *, jobs: int = 1, keep_traces: bool = False) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.traffic = traffic
        self.keep_traces = keep_traces
        workers = min(jobs, traffic.replications)
        self._pool = (
            ProcessPoolExecutor(workers, initializer=_Worker.setup, initargs=(traffic, keep_traces))
            if workers > 1
            else None
        )
        self._traces: dict[int, Trace] = {}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def replications(self) -> int:
        return self.traffic.replications

    def trace(self, replication: int) -> Trace:
        """The trace of ``replication`` in this process (kept with ``keep_traces``)."""
        found = self._traces.get(replication)
        if found is None:
            found = self.traffic.draw(replication)
            if self.keep_traces:
                self._traces[replication] = found
        return found

    def simulate(self, scenario: Scenario, replication: int) -> Run:
        """One run of ``scenario`` on ``replication``'s trace, in this process."""
        return simulate_trace(scenario, self.trace(replication))

    def run(
        self,
        scenario: Scenario,
        scopes: Sequence[Scope] = (None,),
        *,
        keep_first: bool = False,
        quantiles: bool = True,
        on_replication: Callable[[int], None] | None = None,
        adjust: Adjust = None,
    ) -> Batch:
        """Play ``scenario`` on every replication and measure each run once per scope
        (``quantiles=False``: without the percentile KPIs, see :func:`sim.kpi.measure`).

        ``keep_first`` keeps the records of replication 0 (for ``conversations.jsonl`` and the
        report); ``on_replication`` is called with the number of replications done so far;
        ``adjust`` rewrites each trace before it is played (the kept traces stay as drawn).
        """
        n = self.replications
        measured: dict[int, list[Measurement]] = {}
        first: Run | None = None
        if self._pool is None:
            for r in range(n):
                trace = self.trace(r)
                run = simulate_trace(scenario, trace if adjust is None else adjust(trace))
                measured[r] = [measure(run, scenario, s, quantiles=quantiles) for s in scopes]
                if r == 0 and keep_first:
                    first = run
                if on_replication is not None:
                    on_replication(r + 1)
        else:
            # The records of replication 0 are played here, beside the workers, rather than
            # pickled back from one of them: the same numbers, without the copy.
            local = keep_first
            futures: list[Future[tuple[int, list[Measurement], Run | None]]] = [
                self._pool.submit(_play, scenario, r, list(scopes), False, quantiles, adjust)
                for r in range(1 if local else 0, n)
            ]
            if local:
                trace = self.trace(0)
                first = simulate_trace(scenario, trace if adjust is None else adjust(trace))
                measured[0] = [measure(first, scenario, s, quantiles=quantiles) for s in scopes]
                if on_replication is not None:
                    on_replication(len(measured))
            for future in as_completed(futures):
                r, measured[r], _ = future.result()
                if on_replication is not None:
                    on_replication(len(measured))
        return Batch([[measured[r][s] for r in range(n)] for s in range(len(scopes))], first)
