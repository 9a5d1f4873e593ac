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
from sim.catalogue import BY_KEY, HIGHER, held_to_baseline
from sim.errors import InputError
from sim.results import Results, read_results
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


def baseline_checks(results: Results, baseline: Results) -> list[Check]:
    """Each baseline KPI, in total and per channel: worse by more than its noise band fails."""
    checks = []
    scopes = [("total", results.total, baseline.total)] + [
        (name, results.channels[name], baseline.channels[name])
        for name in results.channels
        if name in baseline.channels
    ]
    for scope, now, before in scopes:
        for kpi in held_to_baseline():
            current, reference = now.get(kpi.key, {}), before.get(kpi.key, {})
            actual, expected = current.get("mean"), reference.get("mean")
            if actual is None or expected is None:
                continue
            band = math.hypot(current.get("ci95") or 0.0, reference.get("ci95") or 0.0) + (
                kpi.baseline_floor or 0.0
            )
            worse_by = kpi.worse_by(actual, expected)
            passed = worse_by <= band
            verb = "worse" if worse_by > 0 else "better"
            detail = (
                f"{scope} {kpi.key}: {kpi.text(actual)} now, {kpi.text(expected)} in the baseline "
                f"({kpi.delta(actual - expected)}, {verb}; noise band ±{kpi.spread(band)})"
            )
            checks.append(
                Check(
                    "baseline",
                    scope,
                    kpi.key,
                    expected,
                    actual,
                    band,
                    passed,
                    detail,
                    reference.get("ci95"),
                )
            )
    return checks


def configuration(scenario: Scenario, seed: int, replications: int) -> dict[str, Any]:
    """What must match for a baseline to apply."""
    return {
        "scenario": scenario.name,
        "scenario_sha256": scenario.sha256,
        "seed": seed,
        "replications": replications,
        "chatsim_version": __version__,
    }


def write_baseline(
    results: Results, path: Path, scenario: Scenario, seed: int, replications: int
) -> None:
    data = results.to_dict()
    data["baseline"] = {
        **configuration(scenario, seed, replications),
        "recorded": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_baseline(path: Path, scenario: Scenario, seed: int, replications: int) -> Results:
    """A baseline recorded for exactly this configuration, or a clear refusal."""
    results = read_results(path)
    recorded = results.extra.get("baseline")
    if not isinstance(recorded, dict):
        raise InputError(
            'not a baseline (no "baseline" record): write one with --update-baseline', file=path
        )
    expected = configuration(scenario, seed, replications)
    differences = [
        f"{key} {recorded.get(key)!r} ≠ {value!r}"
        for key, value in expected.items()
        if recorded.get(key) != value
    ]
    if differences:
        raise InputError(
            "baseline was recorded for another configuration ("
            + "; ".join(differences)
            + "): check the scenario and options, or record it anew with --update-baseline",
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
        verdict.notes.append(
            "the scenario has no targets and no baseline was given: nothing to check"
        )
    return verdict
