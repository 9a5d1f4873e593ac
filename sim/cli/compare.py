"""``chatsim compare``: a measurement against a prediction, KPI by KPI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.capacity import interval_checks
from sim.catalogue import BY_KEY, Tolerance
from sim.cli.app import app
from sim.cli.options import (
    AllowIntervalsOption,
    PerIntervalOption,
    allowed_intervals,
    scenario_from,
    tolerance_option,
)
from sim.cli.outputs import JsonOption, JunitOption, MarkdownOption, emit
from sim.compare import DEFAULT_TOLERANCES, compare, parse_tolerance
from sim.errors import InputError
from sim.results import read_results

_DEFAULTS = ", ".join(f"{kpi}={tolerance}" for kpi, tolerance in DEFAULT_TOLERANCES.items())


@app.command("compare")
def compare_command(
    predicted: Annotated[
        Path,
        typer.Argument(
            metavar="PREDICTED", help="Results of the model (results.json or its directory)."
        ),
    ],
    measured: Annotated[
        Path,
        typer.Argument(metavar="MEASURED", help="Results of a replay (or of another model run)."),
    ],
    tolerance: Annotated[
        list[str] | None,
        tolerance_option(
            "KPI=ABS or KPI=REL% (repeatable): changes a default or compares one more KPI "
            f"(any of the results file). Defaults: {_DEFAULTS}."
        ),
    ] = None,
    per_interval: PerIntervalOption = False,
    allow_intervals: AllowIntervalsOption = "0%",
    scenario_path: Annotated[
        Path | None,
        typer.Option("--scenario", help="The scenario whose targets --per-interval holds."),
    ] = None,
    json_path: JsonOption = None,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
) -> None:
    """Compare measured KPIs with predicted ones; exit 1 when any is out of tolerance."""
    tolerances: dict[str, Tolerance] = {}
    for text in tolerance or []:
        try:
            kpi, value = parse_tolerance(text)
        except ValueError as error:
            raise InputError(str(error), key="--tolerance") from None
        if kpi not in BY_KEY:
            raise InputError(f"unknown KPI {kpi!r} (one of {', '.join(BY_KEY)})", key="--tolerance")
        tolerances[kpi] = value
    allowed = allowed_intervals(per_interval, allow_intervals)
    if allowed is not None and scenario_path is None:
        raise InputError(
            "--per-interval holds the scenario's targets: give --scenario F", key="--per-interval"
        )
    scenario = scenario_from(scenario_path) if scenario_path is not None else None
    observed = read_results(measured)
    verdict = compare(read_results(predicted), observed, tolerances)
    if allowed is not None and scenario is not None:
        verdict.checks += interval_checks(observed, scenario, allowed)
    emit(verdict, json_path, junit, markdown)
    raise typer.Exit(verdict.exit_code)
