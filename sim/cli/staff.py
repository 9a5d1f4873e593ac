"""``chatsim staff``: agents per interval that meet the targets, and shifts that cover them."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Annotated

import typer
import yaml
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
from sim.durations import WeekTime, format_clock, format_day_clock, format_duration, parse_duration
from sim.errors import InputError
from sim.evidence import Z_95
from sim.kpi import ALL
from sim.planner import (
    REPAIRS,
    Plan,
    PlanningError,
    Scope,
    parse_floor,
    plan_staff,
    planned_groups,
    shift_intervals,
)
from sim.results import write_results
from sim.scenario import AgentGroup, Scenario
from sim.shifts import scenario_shifts, scheduled_agents
from sim.traffic import at_volume_quantile

FLAGS = {
    "group": "--group",
    "shift_lengths": "--shift-length",
    "replications": "--replications",
    "floor": "--floor",
}
"""The flag of each parameter of :func:`sim.planner.plan_staff`."""

CORES = max(1, min(os.cpu_count() or 1, 8))
"""The default number of processes of a plan: the machine's cores (the same plan, faster)."""

KPIS = ("service_level", "missed_rate", "frt_mean", "insession_mean")
"""The target KPIs, in the order the plan shows them."""


def _cell(plan: Plan, j: int, key: str) -> str:
    """An interval's verified KPI, marked where it misses its limit: red when the replications
    show it (one-sided 95%), ``≈`` when the estimate misses within noise."""
    found = plan.verified.intervals[j].get(key)
    if found is None or found.value is None:
        return "–"
    text = kpi_of(key).text(found.value)
    limit = (plan.targets if plan.scope == "interval" else plan.floors).get(key)
    if limit is None:
        return text
    z = found.z(limit)
    if z < -Z_95:
        return f"[red]{text}[/]"
    return f"≈{text}" if z < 0 else text


def plan_table(plan: Plan) -> Table:
    """Per interval: offered, fluid need, required and on shift per group, verified KPIs."""
    shown = [k for k in KPIS if k in plan.verified.intervals[0]]
    table = Table(title="agents per interval", title_justify="left")
    table.add_column("interval", justify="right")
    table.add_column("offered", justify="right")
    table.add_column("load", justify="right")
    for group in plan.groups:
        table.add_column(f"{group}\nrequired", justify="right")
        table.add_column(f"{group}\non shift", justify="right")
    for key in shown:
        table.add_column(kpi_of(key).short, justify="right")
    for j, label in enumerate(plan.labels):
        load = sum(plan.load[g][j] for g in plan.groups)
        cells = [label, f"{plan.verified.offered[j]:.0f}", f"{load:.1f}"]
        for group in plan.groups:
            cells += [str(plan.required[group][j]), str(plan.on_shift[group][j])]
        cells += [_cell(plan, j, key) for key in shown]
        table.add_row(*cells)
    table.caption = (
        "load: agents the traffic needs with no safety margin (slot and hand load, lag included); "
        "≈ below its target within noise; red: short at one-sided 95%"
    )
    table.caption_justify = "left"
    return table


def reach_table(plan: Plan) -> Table:
    """Each target against what unlimited staff attains, over the day and per channel."""
    table = Table(title="targets against their reach (unlimited staff)", title_justify="left")
    for column in ("target", "value", "reach, day", "reach by channel"):
        table.add_column(column, justify="left" if column != "value" else "right")
    for scope, kpis in plan.goals.items():
        for key, value in kpis.items():
            entry = kpi_of(key)
            pooled = scope == ALL
            day = (plan.reach.day if pooled else plan.reach.channels[scope])[key].value
            channels = ", ".join(
                f"{name} {entry.text(found[key].value)}"
                for name, found in plan.reach.channels.items()
                if pooled or name == scope
            )
            reachable = day is None or entry.meets(day, value)
            mark = entry.text(day) if reachable else f"[red]{entry.text(day)}[/]"
            table.add_row(key if pooled else f"{scope} {key}", entry.text(value), mark, channels)
    return table


def shift_rows(plan: Plan, group: str) -> list[dict[str, object]]:
    """The group's planned shifts as a scenario writes them, breaks included (a shift past the
    end of a horizon of whole days is its two parts)."""
    return [row for row, _ in _shift_rows(plan, group)]


def _shift_rows(plan: Plan, group: str) -> list[tuple[dict[str, object], str | None]]:
    """Each planned shift as a scenario's row, with the template it follows."""
    rows: list[tuple[dict[str, object], str | None]] = []
    for block in plan.shifts[group]:
        for shift in scenario_shifts(plan.scenario, block):
            row: dict[str, object] = {
                "start": _clock(shift.start),
                "end": _clock(shift.end),
                "count": shift.count,
            }
            if shift.breaks:
                row["breaks"] = [
                    {"length": format_duration(pause.length),
                     "at": _clock(pause.at or 0.0), "paid": pause.paid}
                    for pause in shift.breaks
                ]  # fmt: skip
            rows.append((row, getattr(block, "template", None)))
    return rows


def _clock(value: float) -> str:
    """A scenario's clock as it is written: with its day (``"Tue 07:00"``) or without."""
    return format_day_clock(value) if isinstance(value, WeekTime) else format_clock(value)


def _own_hours(scenario: Scenario, group: str) -> float:
    """Agent-hours the scenario itself schedules for ``group``."""
    return float(scheduled_agents(scenario).groups[group].sum()) * scenario.interval / 3600.0


def _input_error(error: PlanningError, scenario_path: Path) -> InputError:
    """An option's problem names the option; a scenario's names the file and its key."""
    if error.parameter is not None:
        return InputError(str(error), key=FLAGS.get(error.parameter, error.parameter))
    return InputError(str(error), file=scenario_path, key=error.key)


def write_plan(plan: Plan, scenario_path: Path, out: Path) -> None:
    """``plan.csv`` (per interval and group), ``shifts.yaml`` and the verification results.

    ``plan.csv``: ``required`` agents at work (net), ``scheduled`` agents the shifts have at work
    (on shift and not on a break, as rostered), ``over_under`` their difference, the verified
    KPIs, and last ``rostered`` (the requirement grossed up for shrinkage and absence, which
    ``scheduled`` covers). ``shifts.yaml``: each group's ``shifts:`` with their breaks, to paste
    into the scenario, each marked with its template.
    """
    with (out / "plan.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["interval", "group", "offered", "load", "required", "scheduled", "over_under", *KPIS,
             "rostered"]
        )  # fmt: skip
        for j, label in enumerate(plan.labels):
            estimates = plan.verified.intervals[j]
            kpis = [estimates[k].value if k in estimates else None for k in KPIS]
            for group in plan.groups:
                required, scheduled = plan.required[group][j], plan.on_shift[group][j]
                rostered = plan.rostered.get(group, plan.required[group])[j]
                writer.writerow(
                    [label, group, round(plan.verified.offered[j], 3),
                     round(plan.load[group][j], 3), required, scheduled, scheduled - required,
                     *(None if v is None else round(v, 6) for v in kpis), rostered]
                )  # fmt: skip
    lines = [f"# chatsim staff {scenario_path.name}: shifts of the planned groups, for agents[]"]
    for group in plan.groups:
        rows = _shift_rows(plan, group)
        name = yaml.safe_dump({"group": group}, allow_unicode=True).strip()
        lines += [f"- {name}", "  shifts:" if rows else "  shifts: []"]
        for row, template in rows:
            flow = yaml.safe_dump(row, default_flow_style=True, sort_keys=False, width=10_000)
            lines.append(f"  - {flow.strip()}" + (f"  # {template}" if template else ""))
    (out / "shifts.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_results(plan.results, out / "verified")


@app.command("staff")
def staff(
    scenario_path: Annotated[
        Path,
        typer.Argument(
            metavar="SCENARIO", help="Scenario YAML file (its targets are planned for)."
        ),
    ],
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            help="Agent group to size (repeatable; default all); the others keep their shifts.",
        ),
    ] = None,
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="Meet the targets on the day's totals ('day', cheapest) or in every interval "
            "('interval').",
        ),
    ] = "interval",
    floor: Annotated[
        list[str] | None,
        typer.Option(
            "--floor",
            help="With --scope day: a per-interval floor KPI=VALUE (service_level=0.8; "
            "repeatable).",
        ),
    ] = None,
    shift_length: Annotated[
        list[str] | None,
        typer.Option(
            "--shift-length",
            help="Allowed shift length, a duration (repeatable; default 8h), for the groups "
            "without shift templates (those with templates are rostered from them).",
        ),
    ] = None,
    replications: Annotated[
        int,
        replications_option(
            "Traces every candidate staffing is simulated on (at least; thin intervals draw "
            "more, up to 40)."
        ),
    ] = 4,
    seed: Annotated[int, seed_option("Seed of the traces.")] = 1,
    max_evaluations: Annotated[
        int,
        typer.Option("--max-evaluations", min=2, help="Model evaluations the search may spend."),
    ] = 40,
    jobs: Annotated[
        int,
        jobs_option("Processes that simulate the traces of each evaluation (default: every core)."),
    ] = CORES,
    scheduler: Annotated[str | None, scheduler_option()] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write plan.csv, shifts.yaml and the verification results.json here."
        ),
    ] = None,
    volume_quantile: Annotated[
        float | None,
        typer.Option(
            "--volume-quantile",
            min=0.0,
            max=1.0,
            help="Plan for this quantile of each uncertain volume ({mean, cv}): 0.9 is a "
            "volume exceeded on one day in ten (default: draw the volume per replication).",
        ),
    ] = None,
    report: ReportOption = None,
) -> None:
    """Size agent groups per interval against the scenario's targets, then cover them with shifts.

    Exit 1 when a target is out of staffing's reach or the planned shifts still miss one.
    """
    scenario = scenario_from(scenario_path)
    if volume_quantile is not None:
        if not 0 < volume_quantile < 1:
            raise InputError(
                f"a quantile is between 0 and 1, got {volume_quantile:g}", key="--volume-quantile"
            )
        if not any(c.volume_cv > 0 for c in scenario.channels.values()):
            raise InputError(
                "no channel's volume is uncertain: give a channel volume: {mean, cv} (a "
                "forecast writes one)",
                key="--volume-quantile",
            )
        scenario = at_volume_quantile(scenario, volume_quantile)
    output_directory(out)
    output_directory(report.parent if report is not None else None, key="--report")
    if scope not in ("day", "interval"):
        raise InputError(f"expected 'day' or 'interval', got {scope!r}", key="--scope")
    chosen: Scope = "day" if scope == "day" else "interval"
    lengths = []
    for text in shift_length or ["8h"]:
        try:
            lengths.append(parse_duration(text))
        except ValueError as error:
            raise InputError(str(error), key="--shift-length") from None
    try:  # before any work: what cannot be planned is said at once
        planned_groups(scenario, group)
        shift_intervals(scenario, lengths)
        floors = dict(parse_floor(text) for text in floor or [])
        if floors and chosen != "day":
            raise PlanningError(
                "floors apply to --scope day (with --scope interval every interval meets the "
                "targets)",
                parameter="floor",
            )
    except PlanningError as error:
        raise _input_error(error, scenario_path) from None
    bar_total = max_evaluations + REPAIRS + 1
    with (
        executor_for(scheduler, jobs) as executor,
        progress_bar(f"planning {scenario.name}", bar_total) as bar,
    ):
        task = bar.task_ids[0]
        try:
            plan = plan_staff(
                scenario, group, scope=chosen, floors=floors, shift_lengths=lengths,
                replications=replications, seed=seed, max_evaluations=max_evaluations, jobs=jobs,
                executor=executor,
                on_step=lambda evaluations, hours: bar.update(
                    task, completed=evaluations,
                    description=f"planning {scenario.name}: {hours:,.0f} agent-hours",
                ),
            )  # fmt: skip
        except PlanningError as error:
            raise _input_error(error, scenario_path) from None
        bar.update(task, completed=bar_total)
    _show(plan, lengths)
    if out is not None:
        write_plan(plan, scenario_path, out)
        console.print(
            f"wrote {out / 'plan.csv'}, {out / 'shifts.yaml'} and "
            f"{out / 'verified' / 'results.json'}"
        )
    if report is not None:  # the planner's page (issue 13): matplotlib only when asked for
        from sim.report.plan import write_plan_report

        console.print(f"wrote {write_plan_report(plan, report)}")
    problems = [f"{u.name} ({u.where}) is out of staffing's reach" for u in plan.unreachable]
    problems += [f"{kpi} still short at {where}" for where, kpi in plan.short]
    if problems:
        shown = "; ".join(problems[:8]) + (
            f"; and {len(problems) - 8} more" if len(problems) > 8 else ""
        )
        console.print(f"[red]not met:[/] {shown}")
        raise typer.Exit(1)


def _show(plan: Plan, lengths: list[float]) -> None:
    """The plan in the terminal: reach, per interval, shifts, hours and cost, trade-off."""
    console.print(reach_table(plan))
    for unreachable in plan.unreachable:
        if unreachable.where == "day" or len(plan.unreachable) <= 6:
            entry = kpi_of(unreachable.kpi)
            err_console.print(
                f"[red]out of reach:[/] {unreachable.name} {entry.text(unreachable.target)} "
                f"({unreachable.where}): unlimited staff reaches {entry.text(unreachable.reach)}; "
                f"{unreachable.reason}. Left out of the search."
            )
    if len(plan.unreachable) > 6:
        err_console.print(
            f"[red]out of reach:[/] {len(plan.unreachable)} interval targets in all; left out "
            "of the search"
        )
    for note in plan.near:
        err_console.print(f"[yellow]near:[/] {note}")
    console.print(plan_table(plan))
    for group in plan.groups:
        table = Table(title=f"{group}: shifts", title_justify="left")
        for column in ("template", "start", "end", "agents", "breaks"):
            table.add_column(
                column, justify="left" if column in ("template", "breaks") else "right"
            )
        for row, template in _shift_rows(plan, group):
            breaks = row.get("breaks") or []
            pauses = ", ".join(
                f"{b['at']} {b['length']}{'' if b['paid'] else ' unpaid'}"
                for b in breaks  # type: ignore[attr-defined]
            )
            table.add_row(
                template or "–",
                str(row["start"]),
                str(row["end"]),
                str(row["count"]),
                pauses or "–",
            )
        console.print(table)
    costs = {g.group: g.cost for g in plan.scenario.agents}
    own = {g: _own_hours(plan.original, g) for g in plan.groups}
    summary = Table(title="agent-hours and cost", title_justify="left")
    for column in ("group", "required", "on shift", "in the scenario now", "cost on shift"):
        summary.add_column(column, justify="right" if column != "group" else "left")
    interval_hours = plan.scenario.interval / 3600.0
    for group in plan.groups:
        summary.add_row(
            group,
            f"{sum(plan.required[group]) * interval_hours:,.1f}",
            f"{plan.agent_hours(group):,.1f}",
            f"{own[group]:,.1f}",
            f"{plan.agent_hours(group) * costs[group]:,.1f}",
        )
    summary.add_row(
        "[bold]total",
        f"{sum(sum(v) for v in plan.required.values()) * interval_hours:,.1f}",
        f"{sum(plan.agent_hours(g) for g in plan.groups):,.1f}",
        f"{sum(own.values()):,.1f}",
        f"{plan.cost():,.1f}",
    )
    templated = [g for g in plan.groups if _group(plan, g).templates]
    shifts_from = [f"templates of {', '.join(templated)}"] if templated else []
    if len(templated) < len(plan.groups):
        shifts_from.append(f"shift lengths {', '.join(format_duration(x) for x in lengths)}")
    summary.caption = (
        f"scope {plan.scope}; {'; '.join(shifts_from)}; "
        f"{plan.evaluations} model evaluations on {plan.replications} traces"
    )
    summary.caption_justify = "left"
    console.print(summary)
    day = ", ".join(
        f"{k} {kpi_of(k).text(plan.verified.day[k].value)} (target {kpi_of(k).text(v)})"
        for k, v in plan.targets.items()
    )
    console.print(f"with these shifts, over the day: {day}")
    if plan.near or any(u.where == "day" for u in plan.unreachable):
        console.print(tradeoff_table(plan))


def _group(plan: Plan, name: str) -> AgentGroup:
    return next(g for g in plan.scenario.agents if g.group == name)


def tradeoff_table(plan: Plan) -> Table:
    """The staffings tried, by agent-hours: what the last points of each target cost."""
    table = Table(title="trade-off: day KPIs against agent-hours tried", title_justify="left")
    table.add_column("agent-hours", justify="right")
    table.add_column("cost", justify="right")
    for key in plan.targets:
        table.add_column(kpi_of(key).short, justify="right")
    seen: set[float] = set()
    for point in sorted(plan.tradeoff, key=lambda p: p.agent_hours):
        if round(point.agent_hours, 1) in seen:
            continue
        seen.add(round(point.agent_hours, 1))
        table.add_row(
            f"{point.agent_hours:,.1f}",
            f"{point.cost:,.1f}",
            *(kpi_of(k).text(point.day[k].value) for k in plan.targets),
        )
    return table
