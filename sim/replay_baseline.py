"""A replay held to a replay baseline: gateway build B against build A on the same trace.

``chatsim replay --baseline FILE --update-baseline`` records a valid replay's results as a
baseline (:func:`sim.capacity.write_baseline`, with what identifies the replay: the trace's
sha256, its seed, the speedup and the gateway under test); ``chatsim replay --baseline FILE``
then holds a later replay to it with the rules of the model's baselines
(:mod:`sim.capacity`): the baseline belongs to a scenario (name and channels) and to a replay,
other differences are listed, the run plays the baseline's own seed (so the same trace), and a
measure fails only when it is worse than the baseline by more than its room; better never
fails. Two kinds of measures are held, in total and per channel:

**The KPIs** of :func:`~sim.catalogue.held_to_baseline` (service level, missed rate, first and
in-session response). A replay is one run, so the per-replication band of
:func:`sim.capacity.baseline_checks` has nothing to pair. The per-interval rows serve as
batches instead (the method of batch means): both replays played the same trace, so interval
``j`` holds the same conversations on both sides, and the difference of the two values of
interval ``j`` removes the traffic they share; what remains is what the gateway change did plus
the timing noise of each run. The band is the Student-t 95% half-width of the mean of those
differences (``n - 1`` degrees of freedom over the ``n`` intervals where both sides have a
value), plus the KPI's ``baseline_floor`` (:func:`interval_band`). This is sound enough
because an interval (15 minutes of scenario time, typically) is long compared with a
conversation (a few minutes), so only the few conversations that straddle a boundary, and the
queue carried over it, tie neighbouring batches together: they are close to independent. It is
an approximation in one more way: the band is that of the mean of interval values (each
interval weighted alike), while the check compares the day's totals (each conversation
weighted alike); with intervals of similar volume the two agree. With fewer than two intervals
to pair there is no spread: the band falls back to the floor plus the KPI's compare tolerance
(``kpi.tolerance``: what ``compare`` allows a replay against the model), and the verdict says so
in a note.

Response times get one more allowance: the larger timing resolution of the two replays
(:func:`sim.compare.timing_resolution`, two gateway round trips at their p99 acknowledgement
latency times the speedup). Batch means see noise that differs from interval to interval, not a
shift of the whole run: a CI machine busier during one replay than the other delays every
response of that replay alike, by up to its resolution, and that is indistinguishable from a
slower gateway. Two replays of the same build on this machine (small.yaml at speedup 240)
differed by 1.0 s in one channel's p90 first response against a batch band of 0.9 s; their
resolution was about 3 s. So a replay baseline sees a regression in response time once it is
larger than the resolution: replay at a lower speedup to see smaller ones (the resolution
scales with it).

**The gateway's own measures** in wall milliseconds (:data:`GATEWAY_HELD`: acknowledgement and
reply delivery p99, in total and per channel, from the ``validity`` block). One run gives a p99
and no spread, so they are held with a relative tolerance: worse by more than
``max(25% of the baseline value, 2 ms)`` fails. Both numbers are a judgement call rather than a
measurement: replays run on shared, noisy CI machines, where a neighbour's load moves a p99 by
some tens of percent from one run to the next, while a build that really got slower (a
synchronous write, a lock, a slower serialiser) usually shows as a multiple; and on loopback the
p99s are a few milliseconds, where scheduler jitter or a collector pause is a millisecond or two
and a relative tolerance alone would fail on nothing. ``--tolerance KEY=VALUE`` (absolute ms or
``%`` of the baseline) replaces the rule for one measure, or holds one more (``ack_p50``...).
Dispatch lateness is the harness's own, not the gateway's: it decides whether the run is valid,
and is never held to a baseline.
"""

from __future__ import annotations

from collections.abc import Mapping

from sim.capacity import Baseline, Replayed, baseline_check, differences, held_to, paired_half_width
from sim.catalogue import GATEWAY_BY_KEY, Kpi, Tolerance, Unit
from sim.compare import parse_tolerance, timing_resolution
from sim.kpi import ALL
from sim.results import Results, Stat
from sim.scenario import Scenario
from sim.thresholds import measured
from sim.verdict import Check

GATEWAY_HELD = ("ack_p99", "delivery_p99")
"""Gateway measures held to a replay baseline by default."""

GATEWAY_TOLERANCE = Tolerance(0.25, relative=True)
"""How much worse than the baseline a gateway measure may be (see the module docstring)..."""

GATEWAY_FLOOR_MS = 2.0
"""...but never less than this many wall milliseconds."""


def parse_gateway_tolerance(text: str) -> tuple[str, Tolerance]:
    """``ack_p99=5`` (ms) or ``delivery_p99=50%`` (of the baseline value) for a gateway
    measure; raises ``ValueError`` saying what is wrong."""
    key, tolerance = parse_tolerance(text)
    if key.startswith("lateness"):
        raise ValueError(
            f"{key} is the harness's own dispatch lateness, not the gateway's: it decides whether "
            "the run is valid (--max-lateness) and is not held to a baseline"
        )
    if key not in GATEWAY_BY_KEY:
        held = ", ".join(k for k in GATEWAY_BY_KEY if not k.startswith("lateness"))
        raise ValueError(
            f"unknown gateway measure {key!r} (one of {held}); the KPIs are held to the baseline "
            "by their noise band"
        )
    return key, tolerance


def interval_values(results: Results, key: str, scope: str) -> dict[str, float]:
    """The value of ``key`` in each interval of ``scope`` (``total``: the rows of all
    channels), by the interval's start; intervals where it is undefined are left out."""
    channel = ALL if scope == "total" else scope
    values = {}
    for row in results.intervals:
        value = (row.get(key) or {}).get("mean")
        if row.get("channel") == channel and value is not None:
            values[str(row["start"])] = float(value)
    return values


def interval_band(kpi: Kpi, now: Results, before: Results, scope: str) -> float | None:
    """The noise band of ``kpi`` in ``scope`` from the intervals both replays measured: the
    95% half-width of the mean paired difference plus the KPI's floor; None with fewer than
    two intervals to pair (see the module docstring)."""
    left, right = interval_values(now, kpi.key, scope), interval_values(before, kpi.key, scope)
    half = paired_half_width([left[start] - right[start] for start in left if start in right])
    return None if half is None else half + (kpi.baseline_floor or 0.0)


def kpi_checks(replay: Results, baseline: Results) -> tuple[list[Check], list[str]]:
    """The baseline KPIs, in total and per channel, with their per-interval bands (response
    times widened by the replays' timing resolution); and a note when some had too few
    intervals to pair."""
    unpaired: list[str] = []
    resolution = max(timing_resolution(replay), timing_resolution(baseline))

    def band(kpi: Kpi, scope: str, current: Stat, reference: Stat) -> tuple[float, str]:
        found = interval_band(kpi, replay, baseline, scope)
        if found is not None:
            allowed, how = found, "per-interval noise band"
        else:
            unpaired.append(f"{scope} {kpi.key}")
            tolerance = (
                kpi.tolerance.allowed(reference.get("mean") or 0.0) if kpi.tolerance else 0.0
            )
            allowed, how = (kpi.baseline_floor or 0.0) + tolerance, "floor and compare tolerance"
        if kpi.unit is Unit.SECONDS and resolution > 0:
            allowed += resolution
            how += f" + timing resolution {resolution:.1f} s"
        return allowed, how

    checks = held_to(replay, baseline, band)
    notes = (
        [
            "fewer than 2 intervals measured on both sides, so no per-interval noise band, for "
            f"{', '.join(unpaired)}: held to the KPI's floor plus its compare tolerance instead"
        ]
        if unpaired
        else []
    )
    return checks, notes


def gateway_allowed(expected: float, tolerance: Tolerance | None = None) -> float:
    """How much worse than ``expected`` (ms) a gateway measure may be: ``tolerance`` when the
    user gave one, else :data:`GATEWAY_TOLERANCE` but at least :data:`GATEWAY_FLOOR_MS`."""
    if tolerance is not None:
        return tolerance.allowed(expected)
    return max(GATEWAY_TOLERANCE.allowed(expected), GATEWAY_FLOOR_MS)


def gateway_checks(
    replay: Results, baseline: Results, tolerances: Mapping[str, Tolerance] | None = None
) -> list[Check]:
    """:data:`GATEWAY_HELD` and every measure given a tolerance, in total and per channel where
    both replays measured it."""
    tolerances = tolerances or {}
    checks = []
    for key in dict.fromkeys([*GATEWAY_HELD, *tolerances]):
        entry = GATEWAY_BY_KEY[key]
        scopes: list[str | None] = [None]
        if entry.per_channel:
            scopes += [name for name in replay.channels if name in baseline.channels]
        for channel in scopes:
            actual, expected = measured(replay, key, channel), measured(baseline, key, channel)
            if actual is None or expected is None:
                continue
            allowed = gateway_allowed(expected, tolerances.get(key))
            how = f"tolerance {tolerances[key]}" if key in tolerances else "tolerance 25%, ≥ 2 ms"
            checks.append(baseline_check(entry, channel or "total", actual, expected, allowed, how))
    return checks


def replay_baseline_checks(
    replay: Results,
    baseline: Baseline,
    scenario: Scenario,
    seed: int,
    replayed: Replayed,
    tolerances: Mapping[str, Tolerance] | None = None,
) -> tuple[list[Check], list[str]]:
    """The checks of a replay against a replay baseline (KPIs, then gateway measures) and the
    notes of the verdict: what differs from the baseline, and any band that fell back."""
    checks, notes = kpi_checks(replay, baseline.results)
    checks += gateway_checks(replay, baseline.results, tolerances)
    changed = differences(baseline, scenario, seed, replay.replications, replayed)
    return checks, [f"differs from the baseline: {note}" for note in changed] + notes
