"""``chatsim report``: one self-contained HTML page of figures from results files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli.app import app, console
from sim.scenario import load_scenario


@app.command("report")
def report(
    results: Annotated[
        list[Path],
        typer.Argument(
            metavar="RESULTS",
            help=(
                "results.json files or the directories holding them "
                "(a prediction, a measurement, or both)."
            ),
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Write the HTML report to this file.")],
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario", help="Scenario YAML: targets (green/red) and shifts (agents logged in)."
        ),
    ] = None,
) -> None:
    """Write an HTML report (self-contained, opens offline) of one or more results files."""
    from sim.report import write_report  # matplotlib loads only when a report is made

    loaded = load_scenario(scenario) if scenario is not None else None
    path = write_report(results, out, scenario=loaded)
    console.print(f"wrote {path}")
