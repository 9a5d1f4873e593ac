"""Comparing a prediction with a measurement, KPI by KPI, within tolerances.

Each KPI has a tolerance, absolute (``0.03`` = 3 percentage points of service level) or
relative (``10%`` of the predicted value). The allowed difference is the tolerance widened by
the prediction's own 95% confidence half-width (and the measurement's, when it has one): a
prediction from few replications cannot be held to a tighter band than it knows itself. Rates
are widened by one conversation's worth (1/offered) too, since a rate over few conversations
moves in coarse steps, and, when the measurement is a single run (a replay), by the binomial
standard error of the rate over its conversations, sqrt(p(1-p)/n): even on the same trace a
few milliseconds of timing re-route some conversations, and whether each of those is answered
in time is then drawn again. Response times of a replay are widened by its timing resolution
(see :func:`timing_resolution`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from sim.results import Results
from sim.verdict import SECONDS_KPIS, Check, Verdict, show, show_delta


@dataclass(frozen=True, slots=True)
class Tolerance:
    """``value`` absolute, or a fraction of the predicted value when ``relative``."""

    value: float
    relative: bool = False

    def allowed(self, predicted: float) -> float:
        return self.value * abs(predicted) if self.relative else self.value

    def __str__(self) -> str:
        return f"{100 * self.value:g}%" if self.relative else f"{self.value:g}"


DEFAULT_TOLERANCES: Mapping[str, Tolerance] = {
    "offered": Tolerance(0.02, relative=True),
    "service_level": Tolerance(0.03),
    "missed_rate": Tolerance(0.02),
    "frt_mean": Tolerance(0.10, relative=True),
    "frt_p90": Tolerance(0.15, relative=True),
    "insession_mean": Tolerance(0.10, relative=True),
    "occupancy": Tolerance(0.03),
    "slot_utilisation": Tolerance(0.03),
}
"""KPIs compared by default and how far apart they may be."""

RATE_KPIS = frozenset({"service_level", "missed_rate"})

CHANNEL_KPIS = ("service_level", "missed_rate", "frt_mean", "insession_mean")
"""KPIs compared per channel by default; any other KPI given a tolerance is too, except those
of agents, which belong to no channel."""

AGENT_KPIS = frozenset({"occupancy", "slot_utilisation"})


def parse_tolerance(text: str) -> tuple[str, Tolerance]:
    """``kpi=0.02`` (absolute) or ``kpi=10%`` (relative); raises ``ValueError``."""
    kpi, sep, value = text.partition("=")
    kpi, value = kpi.strip(), value.strip()
    if not sep or not kpi or not value:
        raise ValueError(f"expected KPI=VALUE or KPI=PERCENT%, got {text!r}")
    try:
        tolerance = Tolerance(float(value[:-1]) / 100, relative=True) if value.endswith("%") else Tolerance(float(value))
    except ValueError:
        raise ValueError(f"{kpi}: {value!r} is not a number") from None
    if tolerance.value < 0 or not math.isfinite(tolerance.value):
        raise ValueError(f"{kpi}: tolerance must be a non-negative number, got {value!r}")
    return kpi, tolerance


def timing_resolution(measured: Results) -> float:
    """Scenario seconds a replay cannot resolve: every reply crosses the gateway twice, each
    round trip up to its p99 acknowledgement latency, multiplied by the speedup."""
    validity, speedup = measured.extra.get("validity"), measured.extra.get("speedup")
    if not isinstance(validity, dict) or not speedup:
        return 0.0
    return 2 * float(validity.get("ack_p99_ms", 0.0)) / 1000.0 * float(speedup)


def compare(predicted: Results, measured: Results, tolerances: Mapping[str, Tolerance] | None = None) -> Verdict:
    """Every compared KPI in total and per common channel, with a pass or a fail."""
    added = [kpi for kpi in tolerances or {} if kpi not in DEFAULT_TOLERANCES and kpi not in AGENT_KPIS]
    tolerances = dict(DEFAULT_TOLERANCES) | dict(tolerances or {})
    verdict = Verdict(f"{measured.source} vs {predicted.source} for {predicted.scenario}")
    if predicted.scenario != measured.scenario or (predicted.scenario_sha256 and measured.scenario_sha256 and predicted.scenario_sha256 != measured.scenario_sha256):
        verdict.notes.append(f"different scenarios: {predicted.scenario} ({predicted.scenario_sha256[:12]}) vs {measured.scenario} ({measured.scenario_sha256[:12]})")
    if predicted.trace_sha256 != measured.trace_sha256:
        if predicted.trace_sha256 and measured.trace_sha256:
            verdict.notes.append(f"different traces ({predicted.trace_sha256[:12]} vs {measured.trace_sha256[:12]}): the difference includes traffic noise, not only model error")
        else:
            verdict.notes.append("the results do not come from the same trace: the difference includes traffic noise, not only model error")
    scopes: list[tuple[str, dict[str, dict[str, float | None]], dict[str, dict[str, float | None]], tuple[str, ...]]] = [
        ("total", predicted.total, measured.total, tuple(tolerances))
    ]
    for channel in predicted.channels:
        if channel in measured.channels:
            kpis = tuple(k for k in CHANNEL_KPIS if k in tolerances) + tuple(added)
            scopes.append((channel, predicted.channels[channel], measured.channels[channel], kpis))
    resolution = timing_resolution(measured)
    if resolution:
        verdict.notes.append(f"response times of the replay are widened by its timing resolution, {resolution:.1f} s (two gateway round trips at p99 x speedup)")
    missing = sorted(set(predicted.channels) ^ set(measured.channels))
    if missing:
        verdict.notes.append(f"channels in only one of the results: {', '.join(missing)}")
    for scope, left, right, kpis in scopes:
        for kpi in kpis:
            if (kpi in left) != (kpi in right):
                side = "measured" if kpi in left else "predicted"
                detail = f"{scope} {kpi}: absent from the {side} results (a partial or foreign file?)"
                verdict.checks.append(Check("tolerance", scope, kpi, None, None, 0.0, False, detail, None))
                continue
            expected_stat, actual_stat = left.get(kpi, {}), right.get(kpi, {})
            expected, actual = expected_stat.get("mean"), actual_stat.get("mean")
            if expected is None or actual is None:
                continue  # undefined on both sides (a mean over nothing), or absent from both
            widen = (expected_stat.get("ci95") or 0.0) + (actual_stat.get("ci95") or 0.0)
            offered = right.get("offered", {}).get("mean")
            if kpi in RATE_KPIS and offered:
                widen += 1.0 / offered  # a rate over n conversations moves in steps of 1/n
                if actual_stat.get("ci95") is None:
                    p = min(max(expected, 0.0), 1.0)
                    widen += math.sqrt(p * (1.0 - p) / offered)
            if kpi in SECONDS_KPIS:
                widen += resolution
            allowed = tolerances[kpi].allowed(expected) + widen
            passed = abs(actual - expected) <= allowed + 1e-12
            detail = f"{scope} {kpi}: measured {show(kpi, actual)}, predicted {show(kpi, expected)}, difference {show_delta(kpi, actual - expected)}, allowed ±{show_delta(kpi, allowed).lstrip('+')} (tolerance {tolerances[kpi]} + confidence {show_delta(kpi, widen).lstrip('+')})"
            verdict.checks.append(Check("tolerance", scope, kpi, expected, actual, allowed, passed, detail, expected_stat.get("ci95")))
    return verdict
