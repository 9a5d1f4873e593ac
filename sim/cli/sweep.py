"""``chatsim sweep``: a grid of what-ifs on common random numbers, a table and a report."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sim.catalogue import kpi as kpi_of
from sim.cli.app import app, console, err_console
from sim.cli.cluster import executor_for, scheduler_option
from sim.cli.options import (
    jobs_option,
    output_directory,
    progress_bar,
    replications_option,
    scenario_from,
    seed_option,
)
from sim.cli.outputs import ReportOption
from sim.errors import InputError
from sim.sweep import Row, Sweep, SweepError, check_axes, grid, parse_axis, run_sweep, table

FLAGS = {"vary": "--vary", "replications": "--replications"}

VARY_HELP = (
    "PATH=VALUES, repeatable (one axis each): volume or channels.NAME.volume (factors), agents "
    "or agents.GROUP (agents added, such as -2:+3), reply.mean, patience.mean... or "
    "channels.NAME.FIELD.mean (bare numbers: factors; durations such as 30s:90s:15s: means), "
    "agents.GROUP.reply_factor or agents.GROUP.slowdown (values). VALUES: START:STOP:STEP, "
    "A,B,C or one value."
)


def _input_error(error: SweepError) -> InputError:
    return InputError(str(error), key=FLAGS.get(error.parameter, error.parameter))


@app.command("sweep")
def sweep(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario YAML file.")],
    vary: Annotated[list[str] | None, typer.Option("--vary", help=VARY_HELP)] = None,
    replications: Annotated[int, replications_option()] = 3,
    seed: Annotated[int, seed_option()] = 1,
    jobs: Annotated[int, jobs_option("The grid's runs go to this many processes.")] = 1,
    scheduler: Annotated[str | None, scheduler_option()] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write sweep.csv (and sweep.parquet with pyarrow) here."),
    ] = None,
    report: ReportOption = None,
) -> None:
    """Run a grid of what-ifs (volume, agents, patience, reply work...) on the same draws."""
    scenario = scenario_from(scenario_path)
    if not vary:
        raise InputError("give at least one axis, such as --vary volume=0.8:1.2:0.1", key="--vary")
    try:
        axes = [parse_axis(scenario, text) for text in vary]
        check_axes(axes)
    except SweepError as error:
        raise _input_error(error) from None
    output_directory(out)
    output_directory(report.parent if report is not None else None, key="--report")
    runs = len(grid(axes)) * replications
    with (
        executor_for(scheduler, jobs) as executor,
        progress_bar(f"sweeping {scenario.name} (runs)", runs) as bar,
    ):
        task = bar.task_ids[0]
        try:
            result = run_sweep(
                scenario,
                axes,
                replications=replications,
                seed=seed,
                jobs=jobs,
                executor=executor,
                on_run=lambda done: bar.update(task, completed=done),
            )
        except SweepError as error:
            raise _input_error(error) from None
    rows = table(result)
    console.print(_summary(result))
    console.print(cheapest_text(result))
    if out is not None:
        for path in write_table(rows, out):
            console.print(f"wrote {path}")
    if report is not None:
        from sim.report.sweep import sweep_report

        report.write_text(sweep_report(result), encoding="utf-8")
        console.print(f"wrote {report}")
    if replications < 2:
        err_console.print("[yellow]note:[/] one replication: no confidence intervals")


def cheapest_text(result: Sweep) -> str:
    """One line on the cheapest point meeting the targets."""
    if not result.has_targets:
        return "the scenario sets no targets: no point is marked as the cheapest meeting them"
    best = result.cheapest()
    if best is None:
        return "no point of the grid meets the targets (on the means)"
    where = ", ".join(
        f"{axis.name} {axis.text(value)}"
        for axis, value in zip(result.axes, best.values, strict=True)
    )
    return (
        f"cheapest point meeting the targets: #{best.index} ({where}): cost {best.cost:,.1f}, "
        f"{best.agent_hours:,.1f} agent-hours"
    )


def _summary(result: Sweep) -> Table:
    keys = ("service_level", "missed_rate", "frt_mean", "insession_mean")
    title = (
        f"{result.scenario.name}: sweep of {len(result.points)} points, "
        f"{result.replications} replications each, seed {result.seed}"
    )
    summary = Table(title=title, title_justify="left", header_style="bold")
    summary.add_column("#", justify="right")
    for axis in result.axes:
        summary.add_column(axis.name, justify="right")
    for key in keys:
        summary.add_column(kpi_of(key).short, justify="right")
    summary.add_column("agent-h", justify="right")
    summary.add_column("cost", justify="right")
    summary.add_column("targets")
    best = result.cheapest()
    for point in result.points:
        cells = [str(point.index)]
        cells += [axis.text(v) for axis, v in zip(result.axes, point.values, strict=True)]
        for key in keys:
            stat = point.results.total.get(key, {})
            cells.append(kpi_of(key).with_ci(stat.get("mean"), stat.get("ci95"), compact=True))
        cells += [f"{point.agent_hours:,.1f}", f"{point.cost:,.1f}"]
        mark = "[green]met[/]" if point.meets else "[red]missed[/]"
        if best is not None and point.index == best.index:
            mark += " [bold]cheapest[/]"
        cells.append(mark if result.has_targets else "–")
        summary.add_row(*cells)
    return summary


def write_table(rows: list[Row], directory: Path) -> list[Path]:
    """``sweep.csv`` (empty cells for undefined values) and, when pyarrow is installed,
    ``sweep.parquet``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sweep.csv"
    columns = list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    written = [path]
    if importlib.util.find_spec("pyarrow") is not None:
        import pyarrow as pa  # type: ignore[import-not-found,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-not-found,unused-ignore]

        parquet = directory / "sweep.parquet"
        pq.write_table(pa.Table.from_pylist(rows), parquet)
        written.append(parquet)
    return written
