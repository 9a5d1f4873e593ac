"""Capacity checks for CI: does a scenario still meet its targets, and has it got worse?

``check`` runs the model with a fixed seed and holds the result to the scenario's targets and,
optionally, to a baseline recorded earlier. A KPI regresses when it is worse than the baseline
by more than its noise band: the combined 95% half-widths of the two estimates
(``sqrt(ci_now² + ci_base²)``) plus a small floor. With the same seed, replications, scenario
and chatsim version the model is deterministic, so a baseline records all four and refuses to
be compared with another configuration.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from sim import __version__
from sim.errors import InputError
from sim.results import Results, read_results
from sim.scenario import Scenario
from sim.verdict import Check, Verdict, show, show_delta

#: KPIs held to a baseline, with the direction that is better (+1 higher, -1 lower) and the
#: floor of their noise band.
BASELINE_KPIS: dict[str, tuple[int, float]] = {
    "service_level": (+1, 0.002),
    "missed_rate": (-1, 0.002),
    "frt_mean": (-1, 0.2),
    "frt_p90": (-1, 0.5),
    "insession_mean": (-1, 0.2),
}


def target_checks(results: Results, scenario: Scenario) -> list[Check]:
    """The scenario's targets against the predicted totals."""
    targets = scenario.targets
    wanted: list[tuple[str, float | None, int]] = [
        ("service_level", targets.service_level, +1),
        ("missed_rate", targets.missed_rate, -1),
        ("insession_mean", targets.in_session_mean, -1),
        ("frt_mean", targets.frt_mean, -1),
    ]
    checks = []
    for kpi, target, better in wanted:
        if target is None:
            continue
        actual = results.mean(kpi)
        passed = actual is not None and (actual >= target if better > 0 else actual <= target)
        relation = "at least" if better > 0 else "at most"
        detail = f"total {kpi}: predicted {show(kpi, actual)}, target {relation} {show(kpi, target)}"
        checks.append(Check("target", "total", kpi, target, actual, None, passed, detail))
    return checks


def baseline_checks(results: Results, baseline: Results) -> list[Check]:
    """Each baseline KPI, in total and per channel: worse by more than its noise band fails."""
    checks = []
    scopes = [("total", results.total, baseline.total)] + [
        (name, results.channels[name], baseline.channels[name]) for name in results.channels if name in baseline.channels
    ]
    for scope, now, before in scopes:
        for kpi, (better, floor) in BASELINE_KPIS.items():
            current, reference = now.get(kpi, {}), before.get(kpi, {})
            actual, expected = current.get("mean"), reference.get("mean")
            if actual is None or expected is None:
                continue
            band = math.hypot(current.get("ci95") or 0.0, reference.get("ci95") or 0.0) + floor
            worse_by = (expected - actual) * better
            passed = worse_by <= band
            verb = "worse" if worse_by > 0 else "better"
            detail = f"{scope} {kpi}: {show(kpi, actual)} now, {show(kpi, expected)} in the baseline ({show_delta(kpi, actual - expected)}, {verb}; noise band ±{show_delta(kpi, band).lstrip('+')})"
            checks.append(Check("baseline", scope, kpi, expected, actual, band, passed, detail, reference.get("ci95")))
    return checks


def configuration(scenario: Scenario, seed: int, replications: int) -> dict[str, Any]:
    """What must match for a baseline to apply."""
    return {"scenario": scenario.name, "scenario_sha256": scenario.sha256, "seed": seed, "replications": replications, "chatsim_version": __version__}


def write_baseline(results: Results, path: Path, scenario: Scenario, seed: int, replications: int) -> None:
    data = results.to_dict()
    data["baseline"] = {**configuration(scenario, seed, replications), "recorded": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_baseline(path: Path, scenario: Scenario, seed: int, replications: int) -> Results:
    """A baseline recorded for exactly this configuration, or a clear refusal."""
    results = read_results(path)
    recorded = results.extra.get("baseline")
    if not isinstance(recorded, dict):
        raise InputError("not a baseline (no \"baseline\" record): write one with --update-baseline", file=path)
    expected = configuration(scenario, seed, replications)
    differences = [f"{key} {recorded.get(key)!r} ≠ {value!r}" for key, value in expected.items() if recorded.get(key) != value]
    if differences:
        raise InputError(
            "baseline was recorded for another configuration (" + "; ".join(differences) + "): check the scenario and options, or record it anew with --update-baseline",
            file=path,
            key="baseline",
        )
    return results


def capacity_verdict(results: Results, scenario: Scenario, baseline: Results | None) -> Verdict:
    verdict = Verdict(f"capacity check of {scenario.name}")
    verdict.checks += target_checks(results, scenario)
    if baseline is not None:
        verdict.checks += baseline_checks(results, baseline)
    if not verdict.checks:
        verdict.notes.append("the scenario has no targets and no baseline was given: nothing to check")
    return verdict
