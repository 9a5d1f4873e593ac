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

from sim.catalogue import Tolerance, Unit, compared
from sim.catalogue import kpi as kpi_of
from sim.results import Results
from sim.verdict import Check, Verdict

DEFAULT_TOLERANCES: Mapping[str, Tolerance] = {
    k.key: k.tolerance for k in compared() if k.tolerance is not None
}
"""KPIs compared by default and how far apart they may be (from the KPI catalogue)."""


def parse_tolerance(text: str) -> tuple[str, Tolerance]:
    """``kpi=0.02`` (absolute) or ``kpi=10%`` (relative); raises ``ValueError``."""
    kpi, sep, value = text.partition("=")
    kpi, value = kpi.strip(), value.strip()
    if not sep or not kpi or not value:
        raise ValueError(f"expected KPI=VALUE or KPI=PERCENT%, got {text!r}")
    try:
        tolerance = (
            Tolerance(float(value[:-1]) / 100, relative=True)
            if value.endswith("%")
            else Tolerance(float(value))
        )
    except ValueError:
        raise ValueError(f"{kpi}: {value!r} is not a number") from None
    if tolerance.value < 0 or not math.isfinite(tolerance.value):
        raise ValueError(f"{kpi}: tolerance must be a non-negative number, got {value!r}")
    return kpi, tolerance


def timing_resolution(measured: Results) -> float:
    """Scenario seconds a replay cannot resolve: every reply crosses the gateway twice, each
    round trip up to its p99 acknowledgement latency, plus the largest offset of a Locust
    worker's clock from the master's (a response is timed on both), multiplied by the
    speedup."""
    validity, speedup = measured.extra.get("validity"), measured.extra.get("speedup")
    if not isinstance(validity, dict) or not speedup:
        return 0.0
    wall_ms = 2 * float(validity.get("ack_p99_ms", 0.0)) + abs(
        float(validity.get("clock_offset_ms") or 0.0)
    )
    return wall_ms / 1000.0 * float(speedup)


RESOLUTION_SHARE = 0.10
"""The largest share of a response it judges that a replay's timing resolution may be; above it
the speedup is too high to judge response times."""


def judgeable(resolution: float, speedup: float, response: float) -> str | None:
    """A warning when ``resolution`` (scenario seconds) is above :data:`RESOLUTION_SHARE` of
    ``response`` (a target or a predicted mean, seconds), with the largest safe speedup; None
    when the replay can judge it. The resolution grows with the speedup, so the safe speedup
    scales it down to the share."""
    if resolution <= 0 or response <= 0 or resolution <= RESOLUTION_SHARE * response:
        return None
    safe = speedup * RESOLUTION_SHARE * response / resolution
    return (
        f"speedup {speedup:g} is too high to judge response times: the replay cannot tell apart "
        f"{resolution:.1f} s, {100 * resolution / response:.0f}% of a {response:.0f} s response "
        f"(at most {100 * RESOLUTION_SHARE:.0f}%); replay at speedup {max(1.0, safe):.0f} or "
        "lower"
    )


def compare(
    predicted: Results, measured: Results, tolerances: Mapping[str, Tolerance] | None = None
) -> Verdict:
    """Every compared KPI in total and per common channel, with a pass or a fail."""
    added = [
        kpi for kpi in tolerances or {} if kpi not in DEFAULT_TOLERANCES and kpi_of(kpi).per_channel
    ]
    tolerances = dict(DEFAULT_TOLERANCES) | dict(tolerances or {})
    verdict = Verdict(f"{measured.source} vs {predicted.source} for {predicted.scenario}")
    if predicted.scenario != measured.scenario or (
        predicted.scenario_sha256
        and measured.scenario_sha256
        and predicted.scenario_sha256 != measured.scenario_sha256
    ):
        verdict.notes.append(
            f"different scenarios: {predicted.scenario} ({predicted.scenario_sha256[:12]}) "
            f"vs {measured.scenario} ({measured.scenario_sha256[:12]})"
        )
    if predicted.trace_sha256 != measured.trace_sha256:
        if predicted.trace_sha256 and measured.trace_sha256:
            verdict.notes.append(
                f"different traces ({predicted.trace_sha256[:12]} "
                f"vs {measured.trace_sha256[:12]}): "
                "the difference includes traffic noise, not only model error"
            )
        else:
            verdict.notes.append(
                "the results do not come from the same trace: "
                "the difference includes traffic noise, not only model error"
            )
    scopes: list[
        tuple[
            str,
            dict[str, dict[str, float | None]],
            dict[str, dict[str, float | None]],
            tuple[str, ...],
        ]
    ] = [("total", predicted.total, measured.total, tuple(tolerances))]
    for channel in predicted.channels:
        if channel in measured.channels:
            kpis = tuple(
                k.key for k in compared() if k.compared_per_channel and k.key in tolerances
            ) + tuple(added)
            scopes.append((channel, predicted.channels[channel], measured.channels[channel], kpis))
    resolution = timing_resolution(measured)
    responses = [v for k in ("frt_mean", "insession_mean") if (v := predicted.mean(k))]
    warning = judgeable(
        resolution, float(measured.extra.get("speedup") or 0), min(responses or [0])
    )
    if warning:
        verdict.notes.append(warning)
    if resolution:
        verdict.notes.append(
            "response times of the replay are widened by its timing resolution, "
            f"{resolution:.1f} s (two gateway round trips at p99 x speedup)"
        )
    missing = sorted(set(predicted.channels) ^ set(measured.channels))
    if missing:
        verdict.notes.append(f"channels in only one of the results: {', '.join(missing)}")
    for scope, left, right, kpis in scopes:
        for kpi in kpis:
            if (kpi in left) != (kpi in right):
                side = "measured" if kpi in left else "predicted"
                detail = (
                    f"{scope} {kpi}: absent from the {side} results (a partial or foreign file?)"
                )
                verdict.checks.append(
                    Check("tolerance", scope, kpi, None, None, 0.0, False, detail, None)
                )
                continue
            expected_stat, actual_stat = left.get(kpi, {}), right.get(kpi, {})
            expected, actual = expected_stat.get("mean"), actual_stat.get("mean")
            if expected is None or actual is None:
                continue  # undefined on both sides (a mean over nothing), or absent from both
            widen = (expected_stat.get("ci95") or 0.0) + (actual_stat.get("ci95") or 0.0)
            offered = right.get("offered", {}).get("mean")
            entry = kpi_of(kpi)
            if entry.unit is Unit.RATE and entry.per_channel and offered:
                widen += 1.0 / offered  # a rate over n conversations moves in steps of 1/n
                if actual_stat.get("ci95") is None:
                    p = min(max(expected, 0.0), 1.0)
                    widen += math.sqrt(p * (1.0 - p) / offered)
            if entry.unit is Unit.SECONDS:
                widen += resolution
            allowed = tolerances[kpi].allowed(expected) + widen
            passed = abs(actual - expected) <= allowed + 1e-12
            detail = (
                f"{scope} {kpi}: measured {entry.text(actual)}, predicted {entry.text(expected)}, "
                f"difference {entry.delta(actual - expected)}, allowed ±{entry.spread(allowed)} "
                f"(tolerance {tolerances[kpi]} + confidence {entry.spread(widen)})"
            )
            verdict.checks.append(
                Check(
                    "tolerance",
                    scope,
                    kpi,
                    expected,
                    actual,
                    allowed,
                    passed,
                    detail,
                    expected_stat.get("ci95"),
                )
            )
    return verdict
