"""Simulate and measure: the one loop through which every command asks the model.

:class:`Traffic` says which conversations are played: replication ``r`` of a seed plays the
trace :func:`sim.traffic.draw_trace` draws for ``(seed, r)`` (its own independent streams;
replication 0 is exactly the trace ``chatsim trace --seed`` writes), or one given trace.
Traffic depends on the channels only, so the same traffic can be played on any staffing of
the scenario: the planner judges every candidate on the very same conversations (common
random numbers).

A :class:`Runner` plays scenarios on each replication of its traffic and measures every run
(:func:`sim.kpi.measure`): in this process, or as one task per replication on an
:class:`~concurrent.futures.Executor`: a pool of worker processes the runner keeps for its life
(``jobs``), or any executor it is given, such as a Dask client's (``Client.get_executor()``:
the work then runs on a cluster, placed and balanced by Dask). A task carries the traffic and
draws its replication's trace itself (drawing is deterministic, and cheaper than shipping the
trace); with ``keep_traces`` the process keeps the traces of the last traffic it played for the
next scenario. So a replication's numbers never depend on where it ran. A run may also
``adjust`` each drawn trace before playing it (a deterministic rewrite, such as the
calibrator's scaling of reply work: :mod:`sim.calibrate`), so that candidates which differ in
the customers' side are still judged on the same draws.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from sim.collector import collector_paused
from sim.kpi import Measurement, measure
from sim.model import simulate_trace
from sim.records import Run
from sim.scenario import Scenario
from sim.threads import hold_one_thread, one_thread
from sim.trace import Trace
from sim.traffic import draw_trace

Scope = Collection[str] | None
"""The channels a measurement covers in its total and ``"all"`` rows (None: every channel)."""

Adjust = Callable[[Trace], Trace] | None
"""A deterministic rewrite of a drawn trace before it is played (picklable when the runner has
an executor); it returns a new trace and leaves the kept one as it is."""


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


@dataclass(frozen=True, slots=True)
class Play:
    """One scenario to play on every replication, each trace rewritten by ``adjust`` first."""

    scenario: Scenario
    adjust: Adjust = None


@dataclass(slots=True)
class Batch:
    """What one scenario produced on every replication: ``measurements[s][r]`` is scope ``s``
    of replication ``r``; ``first_run`` the records of replication 0 when they were kept."""

    measurements: list[list[Measurement]]
    first_run: Run | None


class _Kept:
    """The traces this process has drawn for the last traffic it played (with ``keep``)."""

    key = ""
    traces: dict[int, Trace] = {}  # noqa: RUF012  (one per process, replaced per traffic)


def _kept(key: str) -> dict[int, Trace]:
    """This process's traces of the traffic of runner ``key`` (the last traffic's only)."""
    if _Kept.key != key:
        _Kept.key, _Kept.traces = key, {}
    return _Kept.traces


def _draw(traffic: Traffic, replication: int, kept: dict[int, Trace] | None) -> Trace:
    """The trace of ``replication``, from ``kept`` or drawn (and kept there, when given)."""
    if kept is None:
        return traffic.draw(replication)
    found = kept.get(replication)
    if found is None:
        found = kept[replication] = traffic.draw(replication)
    return found


def _simulate(traffic: Traffic, play: Play, replication: int, kept: dict[int, Trace] | None) -> Run:
    trace = _draw(traffic, replication, kept)
    return simulate_trace(play.scenario, trace if play.adjust is None else play.adjust(trace))


Played = tuple[list[Measurement], Run | None]
"""What a replication gives back: its measurements, one per scope, and its records when they
are kept (replication 0 with ``keep_first``)."""

How = tuple[Sequence[Scope], bool, bool]
"""How each run is measured: its scopes, with the percentiles or not, with the intervals or
not (see :meth:`Runner.run`)."""


def _play(
    traffic: Traffic, key: str, keep: bool, play: Play, replication: int, how: How, first: bool
) -> Played:
    """One task on a worker: :func:`_replicate` with this process's kept traces (``keep``), in
    a process held to one BLAS thread (sim.threads: a worker is chatsim's own, or Dask's,
    which holds its workers to one thread too)."""
    hold_one_thread()
    with collector_paused():
        return _replicate(traffic, _kept(key) if keep else None, play, replication, how, first)


def _replicate(
    traffic: Traffic,
    kept: dict[int, Trace] | None,
    play: Play,
    replication: int,
    how: How,
    first: bool,
) -> Played:
    """Replication ``replication`` of ``play``, measured once per scope, with its records when
    ``first``."""
    run = _simulate(traffic, play, replication, kept)
    return _measured(run, play.scenario, *how), run if first else None


def _measured(
    run: Run, scenario: Scenario, scopes: Sequence[Scope], quantiles: bool, intervals: bool
) -> list[Measurement]:
    measured = [measure(run, scenario, scope, quantiles=quantiles) for scope in scopes]
    # Without intervals a result is a few hundred bytes to send back and keep, whatever the day.
    return measured if intervals else [{**m, "intervals": []} for m in measured]


class Runner:
    """Plays scenarios on fixed traffic and measures every run.

    With ``jobs > 1`` replications run in a pool of that many worker processes, kept until
    :meth:`close` (use the runner as a context manager); with an ``executor`` they run on it
    (the caller owns it). ``width`` is how many scenarios one :meth:`run_all` plays at once at
    most, so that the pool is not wider than the work. Results do not depend on where
    replications run.
    """

    def __init__(
        self,
        traffic: Traffic,
        *,
        jobs: int = 1,
        executor: Executor | None = None,
        keep_traces: bool = False,
        width: int = 1,
    ) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.traffic = traffic
        self.keep_traces = keep_traces
        self._key = uuid.uuid4().hex
        self._own = executor is None and min(jobs, traffic.replications * width) > 1
        if self._own:
            # This process becomes the pool's coordinator: its BLAS threads would only take
            # cores from its workers, and lifting a limit after the pool forks would start
            # new ones, which spin (sim.threads). The workers inherit the limit.
            hold_one_thread()
        self._executor = (
            ProcessPoolExecutor(min(jobs, traffic.replications * width)) if self._own else executor
        )
        self._kept: dict[int, Trace] | None = {} if keep_traces else None
        """The traces this process drew (its own: several runners may live in one process)."""

    def close(self) -> None:
        """Shut the runner's own worker processes down (a given executor stays open)."""
        if self._own and self._executor is not None:
            # Without waiting: the workers tear their interpreters down (20-35 ms for a day's
            # worth of memory) on their own cores while this process aggregates; the pool's
            # manager thread still joins them, at the latest when this process exits.
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def replications(self) -> int:
        return self.traffic.replications

    def trace(self, replication: int) -> Trace:
        """The trace of ``replication`` in this process (kept with ``keep_traces``)."""
        return _draw(self.traffic, replication, self._kept)

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
        intervals: bool = True,
        on_replication: Callable[[int], None] | None = None,
        on_first: Callable[[Run], object] | None = None,
        adjust: Adjust = None,
    ) -> Batch:
        """Play ``scenario`` on every replication and measure each run once per scope
        (``quantiles=False``: without the percentile KPIs, see :func:`sim.kpi.measure`;
        ``intervals=False``: without the per-interval rows).

        ``keep_first`` keeps the records of replication 0 (for ``conversations.jsonl`` and the
        report) and hands them to ``on_first`` as soon as they exist (a writer then writes them
        while the workers play the other replications); ``on_replication`` is called with the
        number of replications done so far;
        ``adjust`` rewrites each trace before it is played (the kept traces stay as drawn).
        """
        play = Play(scenario, adjust)
        batches = self.run_all(
            [play],
            scopes,
            keep_first=keep_first,
            quantiles=quantiles,
            intervals=intervals,
            on_replication=on_replication,
            on_first=None if on_first is None else lambda _, run: on_first(run),
        )
        return batches[0]

    def run_all(
        self,
        plays: Sequence[Play],
        scopes: Sequence[Scope] = (None,),
        *,
        keep_first: bool = False,
        quantiles: bool = True,
        intervals: bool = True,
        on_replication: Callable[[int], None] | None = None,
        on_first: Callable[[int, Run], object] | None = None,
    ) -> list[Batch]:
        """:meth:`run` for several scenarios at once: with an executor every replication of
        every play is submitted together, so that the workers are never idle between plays.
        ``on_replication`` counts the replications done over all plays; ``on_first`` gets each
        play's index and kept records."""
        n = self.replications
        measured: dict[tuple[int, int], list[Measurement]] = {}
        firsts: dict[int, Run] = {}
        how: How = (list(scopes), quantiles, intervals)

        def done(p: int, r: int, measurements: list[Measurement], run: Run | None) -> None:
            if run is not None:
                firsts[p] = run
                if on_first is not None:
                    on_first(p, run)
            measured[p, r] = measurements
            if on_replication is not None:
                on_replication(len(measured))

        # One pause for the whole loop (sim.collector): resumed between its steps, the collector
        # would rescan each step's survivors (traces, records) and find almost nothing to free.
        with collector_paused():
            if self._executor is None:
                # A replication is one core's work (sim.threads), here as in the workers.
                with one_thread():
                    for p, play in enumerate(plays):
                        for r in range(n):
                            first = r == 0 and keep_first
                            done(p, r, *_replicate(self.traffic, self._kept, play, r, how, first))
            else:
                # Every replication on the executor, the kept records pickled back (a few
                # milliseconds): this process only writes them and waits, so that -j N is N
                # processes (playing some here too made three share two cores, for nothing).
                futures: dict[Future[Played], tuple[int, int]] = {}
                for p, play in enumerate(plays):
                    for r in range(n):
                        task = (self.traffic, self._key, self.keep_traces, play, r, how)
                        first = r == 0 and keep_first
                        futures[self._executor.submit(_play, *task, first)] = (p, r)
                for future in as_completed(futures):
                    done(*futures[future], *future.result())
        return [
            Batch(
                [[measured[p, r][s] for r in range(n)] for s in range(len(scopes))],
                firsts.get(p),
            )
            for p in range(len(plays))
        ]
