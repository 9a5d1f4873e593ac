"""Capacity checks for CI: does a scenario still meet its targets, and has it got worse?

``check`` runs the model with a fixed seed and holds the result to the scenario's targets and,
optionally, to a baseline recorded earlier. A baseline belongs to a scenario (its name and
channels) and to a source: the model (``chatsim check``) or a replay (``chatsim replay``, see
:mod:`sim.replay_baseline`); a baseline of another scenario, channel set or source is refused.
Any other difference (its content, chatsim's version, the seed, the replications; for a replay
the trace, the speedup and the gateway) is what the check compares, and the verdict lists it.
A KPI regresses when it is worse than the baseline by more than its noise band
(:func:`held_to`, with the band of :func:`baseline_checks` for the model): run with the
baseline's own seed and replications, the two runs play the same conversations and the band is
paired.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sim import __version__
from sim.catalogue import BY_KEY, HIGHER, Kpi, held_to_baseline
from sim.errors import InputError
from sim.kpi import ALL, KpiValues, Measurement
from sim.results import Results, Stat, read_results, t_quantile
from sim.scenario import Scenario
from sim.verdict import Check, Verdict


def target_checks(results: Results, scenario: Scenario) -> list[Check]:
    """The scenario's targets against the predicted totals, and each channel's own targets
    against that channel."""
    scopes = [("total", None, scenario.targets)] + [
        (name, name, channel.targets)
        for name, channel in scenario.channels.items()
        if channel.targets is not None and name in results.channels
    ]
    checks = []
    for scope, channel, targets in scopes:
        for key, target in targets.items():
            kpi = BY_KEY[key]
            actual = results.mean(key, channel)
            passed = kpi.meets(actual, target)
            relation = "at least" if kpi.better == HIGHER else "at most"
            detail = (
                f"{scope} {key}: predicted {kpi.text(actual)}, target {relation} {kpi.text(target)}"
            )
            checks.append(Check("target", scope, key, target, actual, None, passed, detail))
    return checks


Samples = dict[str, dict[str, list[float | None]]]
"""Per scope (``total`` or a channel) and KPI, the value of each replication."""


def samples_of(measurements: Sequence[Measurement]) -> Samples:
    """The baseline KPIs of each replication, in total and per channel."""
    keys = [kpi.key for kpi in held_to_baseline()]
    scopes: dict[str, list[KpiValues]] = {"total": [m["total"] for m in measurements]}
    for name in measurements[0]["channels"] if measurements else ():
        scopes[name] = [m["channels"][name] for m in measurements]
    return {
        scope: {k: [row.get(k) for row in rows] for k in keys} for scope, rows in scopes.items()
    }


@dataclass(frozen=True, slots=True)
class Replayed:
    """What identifies a replay beyond its scenario and seed: the trace it played (its
    sha256), the speedup (which sets its timing resolution) and the gateway under test (its
    URL, or ``reference``)."""

    trace_sha256: str | None
    speedup: float
    gateway: str


MODEL, REPLAY = "model", "replay"
"""Sources of a baseline: the command that records it is ``check`` or ``replay``."""

_RECORD_WITH = {
    MODEL: "chatsim check SCENARIO --baseline {path} --update-baseline",
    REPLAY: "chatsim replay SCENARIO --speedup K --baseline {path} --update-baseline",
}


@dataclass(frozen=True, slots=True)
class Baseline:
    """A recorded run to hold a new one to: its results, what it was recorded with, and the
    value of each replication (which makes the comparison paired when both runs share them).
    A replay baseline (``replayed`` set) is one run and has no per-replication values."""

    results: Results
    scenario_sha256: str
    seed: int | None
    replications: int
    chatsim_version: str
    samples: Samples | None
    replayed: Replayed | None = None

    @property
    def source(self) -> str:
        return MODEL if self.replayed is None else REPLAY


def paired_half_width(differences: Sequence[float]) -> float | None:
    """The 95% half-width of the mean of paired differences (Student t, ``n - 1`` degrees of
    freedom); None with fewer than two, which have no spread."""
    if len(differences) < 2:
        return None
    values = np.asarray(differences, dtype=float)
    t = t_quantile(len(values) - 1)
    return t * float(values.std(ddof=1)) / math.sqrt(len(values))


Band = Callable[[Kpi, str, Stat, Stat], tuple[float, str]]
"""A KPI's noise band in one scope, given the scope's stats now and in the baseline, and how
it was made (shown in the check's detail: ``paired``, ``per-interval``...)."""


def held_to(results: Results, baseline: Results, band: Band) -> list[Check]:
    """Each baseline KPI of :func:`~sim.catalogue.held_to_baseline`, in total and per common
    channel: worse than the baseline by more than its ``band`` fails; better never fails."""
    checks = []
    scopes = [("total", results.total, baseline.total)] + [
        (name, results.channels[name], baseline.channels[name])
        for name in results.channels
        if name in baseline.channels
    ]
    for scope, current_kpis, reference_kpis in scopes:
        for kpi in held_to_baseline():
            current, reference = current_kpis.get(kpi.key, {}), reference_kpis.get(kpi.key, {})
            actual, expected = current.get("mean"), reference.get("mean")
            if actual is None or expected is None:
                continue
            allowed, how = band(kpi, scope, current, reference)
            checks.append(
                baseline_check(kpi, scope, actual, expected, allowed, how, reference.get("ci95"))
            )
    return checks


def baseline_check(
    kpi: Kpi,
    scope: str,
    actual: float,
    expected: float,
    allowed: float,
    how: str,
    expected_ci95: float | None = None,
) -> Check:
    """``actual`` against the baseline's ``expected``: fails when worse by more than
    ``allowed`` (``how`` says where that room comes from)."""
    worse_by = kpi.worse_by(actual, expected)
    verb = "worse" if worse_by > 0 else "better" if worse_by < 0 else "the same"
    detail = (
        f"{scope} {kpi.key}: {kpi.text(actual)} now, {kpi.text(expected)} in the baseline "
        f"({kpi.delta(actual - expected)}, {verb}; {how} ±{kpi.spread(allowed)})"
    )
    return Check(
        "baseline", scope, kpi.key, expected, actual, allowed, worse_by <= allowed, detail,
        expected_ci95,
    )  # fmt: skip


def baseline_checks(
    results: Results, baseline: Results, now: Samples | None = None, before: Samples | None = None
) -> list[Check]:
    """Each baseline KPI, in total and per channel: worse than the baseline by more than its
    noise band fails; better never fails.

    With the values of each replication on both sides (``now``, ``before``) from the same seed
    and replications, replication ``r`` of both runs played the very same conversations (common
    random numbers): the difference of the two runs is measured replication by replication, and
    the band is the 95% half-width of the mean difference (Student t, ``R - 1`` degrees of
    freedom) plus a small floor. Traffic noise cancels, so one agent fewer shows at once, and an
    unchanged scenario differs by exactly nothing. Without them, the band is the two runs' 95%
    half-widths combined, ``sqrt(ci_now^2 + ci_baseline^2)``, plus the floor.
    """

    def band(kpi: Kpi, scope: str, current: Stat, reference: Stat) -> tuple[float, str]:
        floor = kpi.baseline_floor or 0.0
        left = (now or {}).get(scope, {}).get(kpi.key)
        right = (before or {}).get(scope, {}).get(kpi.key)
        if left is not None and right is not None and len(left) == len(right):
            half = paired_half_width(
                [a - b for a, b in zip(left, right, strict=True) if a is not None and b is not None]
            )
            if half is not None:
                return half + floor, "paired noise band"
        unpaired = math.hypot(current.get("ci95") or 0.0, reference.get("ci95") or 0.0)
        return unpaired + floor, "unpaired noise band"

    return held_to(results, baseline, band)


def write_baseline(
    results: Results,
    path: Path,
    scenario: Scenario,
    seed: int,
    replications: int,
    samples: Samples | None = None,
    replayed: Replayed | None = None,
) -> None:
    """Record ``results`` as the baseline of ``scenario``: of the model (with each
    replication's values), or of a replay when ``replayed`` says which."""
    data = results.to_dict()
    data["baseline"] = {
        "source": MODEL if replayed is None else REPLAY,
        "scenario": scenario.name,
        "channels": list(scenario.channels),
        "scenario_sha256": scenario.sha256,
        "seed": seed,
        "replications": replications,
        "chatsim_version": __version__,
        "recorded": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **({"samples": samples} if samples is not None else {}),
        **(asdict(replayed) if replayed is not None else {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_baseline(path: Path, scenario: Scenario, source: str = MODEL) -> Baseline:
    """The baseline at ``path`` if it is one of ``scenario`` (same name and channels) recorded
    from ``source`` (the model or a replay), or a clear refusal; every other difference is for
    the verdict to list."""
    record_with = _RECORD_WITH[source].format(path=path)
    if not path.exists():
        raise InputError(
            f"no baseline here yet: record one with `{record_with}` and commit it", file=path
        )
    results = read_results(path)
    recorded = results.extra.get("baseline")
    if not isinstance(recorded, dict):
        raise InputError(
            'not a baseline (no "baseline" record): write one with --update-baseline', file=path
        )
    # Baselines recorded before replays had them carry no source: their results say it.
    recorded_from = recorded.get("source") or results.source
    if recorded_from != source:
        raise InputError(
            f"a baseline of the {recorded_from}, not of the {source}: hold the {source} to a "
            f"baseline of its own, recorded with `{record_with}`",
            file=path,
            key="baseline.source",
        )
    if recorded.get("scenario") != scenario.name:
        raise InputError(
            f"baseline of scenario {recorded.get('scenario')!r}, not of {scenario.name!r}: hold a "
            "scenario to its own baseline, or record one with --update-baseline",
            file=path,
            key="baseline.scenario",
        )
    channels = recorded.get("channels", list(results.channels))
    if sorted(channels) != sorted(scenario.channels):
        raise InputError(
            f"baseline has channels {', '.join(sorted(channels))}, the scenario "
            f"{', '.join(sorted(scenario.channels))}: record a new baseline with --update-baseline",
            file=path,
            key="baseline.channels",
        )
    samples = recorded.get("samples")
    return Baseline(
        results=results,
        scenario_sha256=str(recorded.get("scenario_sha256", "")),
        seed=recorded.get("seed") if isinstance(recorded.get("seed"), int) else None,
        replications=int(recorded.get("replications") or results.replications),
        chatsim_version=str(recorded.get("chatsim_version", "")),
        samples=samples if isinstance(samples, dict) else None,
        replayed=_replayed(recorded, results) if source == REPLAY else None,
    )


def _replayed(recorded: dict[str, object], results: Results) -> Replayed:
    trace, speedup = recorded.get("trace_sha256"), recorded.get("speedup")
    return Replayed(
        trace_sha256=trace if isinstance(trace, str) else results.trace_sha256,
        speedup=float(speedup) if isinstance(speedup, int | float) else 0.0,
        gateway=str(recorded.get("gateway") or ""),
    )


def differences(
    baseline: Baseline,
    scenario: Scenario,
    seed: int,
    replications: int,
    replayed: Replayed | None = None,
) -> list[str]:
    """What differs between the baseline's recording and this run (listed in the verdict); for
    a replay (``replayed``) also the trace, the speedup and the gateway."""
    found = []
    if baseline.scenario_sha256 and baseline.scenario_sha256 != scenario.sha256:
        found.append("the scenario's content changed since the baseline was recorded")
    if baseline.chatsim_version and baseline.chatsim_version != __version__:
        found.append(f"chatsim {__version__} now, {baseline.chatsim_version} in the baseline")
    if baseline.seed is not None and baseline.seed != seed:
        found.append(f"seed {seed} now, {baseline.seed} in the baseline: different conversations")
    if baseline.replications != replications:
        found.append(f"{replications} replications now, {baseline.replications} in the baseline")
    before = baseline.replayed
    if replayed is not None and before is not None:
        if before.trace_sha256 and before.trace_sha256 != replayed.trace_sha256:
            found.append(
                f"trace {(replayed.trace_sha256 or '?')[:12]} now, {before.trace_sha256[:12]} in "
                "the baseline: different conversations"
            )
        if before.speedup and before.speedup != replayed.speedup:
            found.append(
                f"speedup {replayed.speedup:g} now, {before.speedup:g} in the baseline: another "
                "timing resolution"
            )
        if before.gateway and before.gateway != replayed.gateway:
            found.append(f"gateway {replayed.gateway} now, {before.gateway} in the baseline")
    return found


def capacity_verdict(
    results: Results,
    scenario: Scenario,
    baseline: Baseline | None,
    *,
    samples: Samples | None = None,
    seed: int = 1,
    replications: int = 1,
    per_interval: float | None = None,
) -> Verdict:
    """Targets (also per interval, with the share of intervals ``per_interval`` allows to
    miss), and the baseline when given (paired when both runs carry each replication's values
    and share the seed and replications)."""
    verdict = Verdict(f"capacity check of {scenario.name}")
    verdict.checks += target_checks(results, scenario)
    if per_interval is not None:
        verdict.checks += interval_checks(results, scenario, per_interval)
    if baseline is not None:
        changed = differences(baseline, scenario, seed, replications)
        shared = baseline.seed == seed and baseline.replications == replications
        before = baseline.samples if shared else None
        verdict.checks += baseline_checks(
            results, baseline.results, samples if before else None, before
        )
        verdict.notes += [f"differs from the baseline: {note}" for note in changed]
        if baseline.samples is None:
            verdict.notes.append(
                "the baseline has no per-replication values: unpaired noise bands; re-record it "
                "with --update-baseline for paired ones"
            )
    if not verdict.checks:
        verdict.notes.append(
            "the scenario has no targets and no baseline was given: nothing to check"
        )
    return verdict


@dataclass(frozen=True, slots=True)
class IntervalMiss:
    """An interval whose mean misses a target: in all channels (``scope`` ``all``, the
    scenario's targets) or in a channel with targets of its own."""

    index: int
    label: str
    scope: str
    kpi: str
    value: float
    target: float


def interval_misses(results: Results, scenario: Scenario) -> list[IntervalMiss]:
    """Every interval with conversations whose mean misses a target: the scenario's targets on
    the rows of all channels, a channel's own targets on its rows."""
    limits = {ALL: dict(scenario.targets.items())} | {
        name: dict(channel.targets.items())
        for name, channel in scenario.channels.items()
        if channel.targets is not None
    }
    found = []
    for row in results.intervals:
        scope = str(row.get("channel"))
        offered = (row.get("offered") or {}).get("mean")
        if scope not in limits or not offered:
            continue
        for key, target in limits[scope].items():
            value = (row.get(key) or {}).get("mean")
            if value is not None and not BY_KEY[key].meets(value, target):
                index = int(row.get("index") or 0)
                found.append(IntervalMiss(index, str(row["start"]), scope, key, value, target))
    return found


def interval_checks(results: Results, scenario: Scenario, allowed: float) -> list[Check]:
    """Per target: the share of intervals (with conversations) whose mean misses it, against the
    ``allowed`` share. Each interval's mean over replications is held to the target as it is;
    the share allowed is what absorbs a few intervals near the target."""
    misses = interval_misses(results, scenario)
    checks = []
    scopes = {ALL: scenario.targets} | {
        name: channel.targets for name, channel in scenario.channels.items() if channel.targets
    }
    for scope, targets in scopes.items():
        busy = [
            row
            for row in results.intervals
            if row.get("channel") == scope and (row.get("offered") or {}).get("mean")
        ]
        for key, target in targets.items():
            missed = [m for m in misses if m.scope == scope and m.kpi == key]
            share = len(missed) / len(busy) if busy else 0.0
            where = "all channels" if scope == ALL else scope
            listed = ", ".join(m.label for m in missed[:8]) + (" …" if len(missed) > 8 else "")
            detail = (
                f"{where} {key}: {len(missed)} of {len(busy)} intervals miss "
                f"{BY_KEY[key].text(target)} ({100 * share:.0f}%, allowed {100 * allowed:g}%)"
                + (f": {listed}" if missed else "")
            )
            checks.append(
                Check("interval", "intervals" if scope == ALL else scope, key, allowed, share,
                      None, share <= allowed + 1e-12, detail)
            )  # fmt: skip
    return checks


def parse_share(text: str) -> float:
    """``5%`` or ``0.05``: a share between 0 and 1; raises ``ValueError``."""
    value = text.strip()
    try:
        share = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise ValueError(f"expected a share such as 5% or 0.05, got {text!r}") from None
    if not 0 <= share <= 1:
        raise ValueError(f"a share is between 0% and 100%, got {text!r}")
    return share
