"""``chatsim check``: capacity regression for CI, against targets and a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.capacity import capacity_verdict, read_baseline, samples_of, write_baseline
from sim.cli.app import app, console
from sim.cli.cluster import executor_for, scheduler_option
from sim.cli.options import (
    AllowIntervalsOption,
    PerIntervalOption,
    allowed_intervals,
    jobs_option,
    output_directory,
    progress_bar,
    replications_option,
    scenario_from,
    seed_option,
    write_html_report,
)
from sim.cli.outputs import JsonOption, JunitOption, MarkdownOption, ReportOption, emit
from sim.errors import InputError
from sim.experiment import run_experiment
from sim.results import write_records, write_results


@app.command("check")
def check(
    scenario_path: Annotated[
        Path,
        typer.Argument(metavar="SCENARIO", help="Scenario YAML file (its targets are checked)."),
    ],
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline", help="Baseline results to hold the run to (reports/baselines/NAME.json)."
        ),
    ] = None,
    update_baseline: Annotated[
        bool,
        typer.Option(
            "--update-baseline",
            help="Record this run as the baseline instead of checking against it.",
        ),
    ] = False,
    replications: Annotated[
        int | None,
        replications_option(
            "Replications, at least 2: noise bands come from their spread (default: the "
            "baseline's, else 10; fixed seed: the verdict is reproducible).",
            minimum=2,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        seed_option("Seed of the random streams (default: the baseline's, else 1)."),
    ] = None,
    jobs: Annotated[int, jobs_option()] = 1,
    scheduler: Annotated[str | None, scheduler_option()] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also write results.json and conversations.jsonl here."),
    ] = None,
    per_interval: PerIntervalOption = False,
    allow_intervals: AllowIntervalsOption = "0%",
    json_path: JsonOption = None,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
    report: ReportOption = None,
) -> None:
    """Run the model and fail (exit 1) if targets are missed or KPIs regressed."""
    if update_baseline and baseline is None:
        raise InputError("--update-baseline needs --baseline FILE", key="--update-baseline")
    allowed = allowed_intervals(per_interval, allow_intervals)
    scenario = scenario_from(scenario_path)
    output_directory(out)
    output_directory(report.parent if report is not None else None, key="--report")
    reference = (
        read_baseline(baseline, scenario) if baseline is not None and not update_baseline else None
    )
    # With the baseline's own seed and replications both runs play the same conversations, and
    # the comparison is paired (see sim.capacity.baseline_checks).
    if seed is None:
        seed = reference.seed if reference is not None and reference.seed is not None else 1
    if replications is None:
        replications = max(2, reference.replications) if reference is not None else 10
    with (
        executor_for(scheduler, jobs) as executor,
        progress_bar(f"checking {scenario.name}", replications) as bar,
    ):
        task = bar.task_ids[0]
        experiment = run_experiment(
            scenario,
            replications=replications,
            seed=seed,
            jobs=jobs,
            executor=executor,
            on_replication=lambda done: bar.update(task, completed=done),
            on_first=None if out is None else lambda run: write_records(out, run.conversations),
        )
    results = experiment.results
    if out is not None:
        write_results(results, out, None)
    if update_baseline:
        assert baseline is not None
        write_baseline(
            results, baseline, scenario, seed, replications, samples_of(experiment.measurements)
        )
        console.print(f"recorded baseline {baseline} ({replications} replications, seed {seed})")
    verdict = capacity_verdict(
        results,
        scenario,
        reference,
        samples=samples_of(experiment.measurements),
        seed=seed,
        replications=replications,
        per_interval=allowed,
    )
    emit(verdict, json_path, junit, markdown)
    if report is not None:
        write_html_report(report, [results], scenario, [experiment.first_run.conversations])
    raise typer.Exit(verdict.exit_code)
