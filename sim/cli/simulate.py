"""``chatsim simulate``: replications of the model, a summary table, results files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli.app import app, console, err_console
from sim.cli.cluster import executor_for, scheduler_option
from sim.cli.options import (
    jobs_option,
    output_directory,
    progress_bar,
    replications_option,
    scenario_from,
    seed_option,
    summary_table,
    trace_for,
    write_html_report,
)
from sim.cli.outputs import ReportOption
from sim.experiment import run_experiment
from sim.results import write_records, write_results


@app.command("simulate")
def simulate(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario YAML file.")],
    trace: Annotated[
        Path | None,
        typer.Option(
            "--trace",
            help="Play this trace file instead of drawing traffic (one deterministic run).",
        ),
    ] = None,
    replications: Annotated[int, replications_option()] = 10,
    seed: Annotated[int, seed_option()] = 1,
    jobs: Annotated[int, jobs_option()] = 1,
    scheduler: Annotated[str | None, scheduler_option()] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write results.json and conversations.jsonl here.")
    ] = None,
    report: ReportOption = None,
) -> None:
    """Predict KPIs of a scenario with the SimPy model."""
    scenario = scenario_from(scenario_path)
    output_directory(out)
    output_directory(report.parent if report is not None else None, key="--report")
    played = trace_for(scenario, trace) if trace is not None else None
    if played is not None and replications > 1:
        err_console.print(
            "[yellow]note:[/] a trace is one fixed draw and the model is deterministic on it: "
            "running 1 replication"
        )
        replications = 1
    with (
        executor_for(scheduler, jobs) as executor,
        progress_bar(f"simulating {scenario.name}", replications) as bar,
    ):
        task = bar.task_ids[0]
        experiment = run_experiment(
            scenario,
            replications=replications,
            seed=seed,
            trace=played,
            jobs=jobs,
            executor=executor,
            on_replication=lambda done: bar.update(task, completed=done),
            # The records are written while the other replications run (in workers).
            on_first=None if out is None else lambda run: write_records(out, run.conversations),
        )
    results = experiment.results
    what = (
        f"trace {trace}"
        if played is not None
        else f"{replications} replication{'s' if replications > 1 else ''}, seed {seed}"
    )
    console.print(summary_table(results, f"{scenario.name}: model, {what}"))
    if out is not None:
        path = write_results(results, out, None)
        console.print(f"wrote {path} and {path.parent / 'conversations.jsonl'}")
    if report is not None:
        write_html_report(report, [results], scenario, [experiment.first_run.conversations])
