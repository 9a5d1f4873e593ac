"""``chatsim staff``: agents per interval that meet the targets, and shifts that cover them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from sim.cli.app import app, console
from sim.cli.options import (
    jobs_option,
    output_directory,
    progress_bar,
    replications_option,
    scenario_from,
    seed_option,
    write_html_report,
)
from sim.cli.outputs import ReportOption
from sim.durations import format_clock, format_duration, parse_duration
from sim.errors import InputError
from sim.planner import REPAIRS, Plan, PlanningError, plan_staff, planned_group, shift_intervals
from sim.results import write_results
from sim.scenario import Scenario


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def plan_table(plan: Plan) -> Table:
    table = Table(title=f"{plan.group}: agents per interval", title_justify="left")
    for column in (
        "interval",
        "offered",
        "Erlang A",
        "required",
        "on shift",
        "service level",
        "missed",
    ):
        table.add_column(column, justify="right")
    unmet = set(plan.unmet)
    for j, label in enumerate(plan.labels):
        style = "red" if j in unmet else None
        table.add_row(
            label, f"{plan.verified.offered[j]:.0f}", str(plan.erlang[j]), str(plan.required[j]),
            str(plan.on_shift[j]), _percent(plan.verified.service_level[j]),
            _percent(plan.verified.missed_rate[j]), style=style,
        )  # fmt: skip
    return table


def shift_rows(plan: Plan, scenario: Scenario) -> list[dict[str, object]]:
    clock = [
        format_clock(scenario.start + j * scenario.interval)
        for j in range(scenario.n_intervals + 1)
    ]
    return [
        {"start": clock[b.first], "end": clock[b.first + b.length], "count": b.count}
        for b in plan.shifts
    ]


def _current_hours(scenario: Scenario, group: str) -> float:
    agents = next(g for g in scenario.agents if g.group == group)
    if agents.staffing is not None:
        return sum(agents.staffing) * scenario.interval / 3600.0
    return (
        sum(
            (end - begin) * shift.count
            for shift in agents.shifts or ()
            for begin, end in [scenario.shift_window(shift)]
        )
        / 3600.0
    )


FLAGS = {
    "group": "--group",
    "shift_lengths": "--shift-length",
    "replications": "--replications",
    "seed": "--seed",
    "jobs": "--jobs",
}
"""The flag of each parameter of :func:`sim.planner.plan_staff`."""


def _input_error(error: PlanningError, scenario_path: Path) -> InputError:
    """An option's problem names the option; a scenario's names the file and its key."""
    if error.parameter is not None:
        return InputError(str(error), key=FLAGS.get(error.parameter, error.parameter))
    return InputError(str(error), file=scenario_path, key=error.key)


@app.command("staff")
def staff(
    scenario_path: Annotated[
        Path,
        typer.Argument(
            metavar="SCENARIO", help="Scenario YAML file (its targets are planned for)."
        ),
    ],
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            help=(
                "Agent group to size (default: the one with the most skills); "
                "other groups keep their shifts."
            ),
        ),
    ] = None,
    shift_length: Annotated[
        list[str] | None,
        typer.Option(
            "--shift-length", help="Allowed shift length, a duration (repeatable; default 8h)."
        ),
    ] = None,
    replications: Annotated[
        int, replications_option("Traces every candidate staffing is simulated on.")
    ] = 10,
    seed: Annotated[int, seed_option("Seed of the traces.")] = 1,
    max_evaluations: Annotated[
        int,
        typer.Option("--max-evaluations", min=2, help="Model evaluations the search may spend."),
    ] = 40,
    jobs: Annotated[int, jobs_option("Processes that simulate the traces of each evaluation.")] = 1,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write plan.csv, shifts.yaml and the verification results.json here."
        ),
    ] = None,
    report: ReportOption = None,
) -> None:
    """Size an agent group per interval against the scenario's targets, then cover it with shifts.

    Exit 1 when some interval still misses a target with the planned shifts.
    """
    scenario = scenario_from(scenario_path)
    output_directory(out)
    output_directory(report.parent if report is not None else None, key="--report")
    lengths = []
    for text in shift_length or ["8h"]:
        try:
            lengths.append(parse_duration(text))
        except ValueError as error:
            raise InputError(str(error), key="--shift-length") from None
    try:  # before any work: what cannot be planned is said at once
        planned_group(scenario, group)
        shift_intervals(scenario, lengths)
    except PlanningError as error:
        raise _input_error(error, scenario_path) from None
    bar_total = max_evaluations + REPAIRS + 1
    with progress_bar(f"planning {scenario.name}", bar_total) as bar:
        task = bar.task_ids[0]
        try:
            plan = plan_staff(
                scenario, group, shift_lengths=lengths, replications=replications, seed=seed,
                max_evaluations=max_evaluations, jobs=jobs,
                on_step=lambda evaluations, agents: bar.update(
                    task, completed=evaluations,
                    description=f"planning {scenario.name}: {agents:,} agent-intervals",
                ),
            )  # fmt: skip
        except PlanningError as error:
            raise _input_error(error, scenario_path) from None
        bar.update(task, completed=bar_total)
    console.print(plan_table(plan))
    shifts = shift_rows(plan, scenario)
    table = Table(title=f"{plan.group}: shifts", title_justify="left")
    for column in ("start", "end", "agents"):
        table.add_column(column, justify="right")
    for row in shifts:
        table.add_row(str(row["start"]), str(row["end"]), str(row["count"]))
    console.print(table)
    required, scheduled = plan.agent_hours(scenario.interval)
    total = plan.results.total
    targets = scenario.targets
    console.print(
        f"agent-hours of {plan.group}: {required:,.1f} required, {scheduled:,.1f} on shift "
        f"(shift lengths {', '.join(format_duration(x) for x in lengths)}), "
        f"{_current_hours(scenario, plan.group):,.1f} in the scenario now; "
        f"{plan.evaluations} model evaluations on {replications} traces"
    )
    console.print(
        f"with these shifts: service level {_percent(total['service_level']['mean'])} "
        f"(target {_percent(targets.service_level)}), "
        f"missed {_percent(total['missed_rate']['mean'])} (target {_percent(targets.missed_rate)})"
    )
    if out is not None:
        with (out / "plan.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                [
                    "interval",
                    "offered",
                    "erlang_a",
                    "required",
                    "on_shift",
                    "service_level",
                    "missed_rate",
                ]
            )
            for j, label in enumerate(plan.labels):
                writer.writerow(
                    [
                        label,
                        round(plan.verified.offered[j], 3),
                        plan.erlang[j],
                        plan.required[j],
                        plan.on_shift[j],
                        plan.verified.service_level[j],
                        plan.verified.missed_rate[j],
                    ]
                )
        (out / "shifts.yaml").write_text(
            f"# chatsim staff {scenario_path.name}: shifts of group {plan.group!r}, "
            "to paste into agents[]\n"
            + yaml.safe_dump(
                {"group": plan.group, "shifts": shifts}, sort_keys=False, allow_unicode=True
            ),
            encoding="utf-8",
        )
        write_results(plan.results, out / "verified")
        console.print(
            f"wrote {out / 'plan.csv'}, {out / 'shifts.yaml'} "
            f"and {out / 'verified' / 'results.json'}"
        )
    if report is not None:
        write_html_report(report, [plan.results], plan.scenario, [plan.records])
    if plan.unmet:
        labels = ", ".join(plan.labels[j] for j in plan.unmet)
        console.print(
            f"[red]still short of a target at {labels}[/]: more agents did not help there "
            "(reply work or patience set a floor) or the search ran out of evaluations"
        )
        raise typer.Exit(1)
