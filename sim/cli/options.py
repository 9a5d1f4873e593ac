"""Shared pieces of the commands: loading inputs with clear errors, tables, progress bars."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from sim.catalogue import AGENT_HOURS, SUMMARY, Unit
from sim.catalogue import kpi as kpi_of
from sim.cli.app import console, err_console
from sim.errors import InputError
from sim.records import ConversationRecord
from sim.results import Results, Stat
from sim.scenario import Scenario, load_scenario
from sim.trace import Trace, read_trace

if TYPE_CHECKING:  # the report (and matplotlib) load only when a report is written
    from sim.report.html import Section


def seed_option(help: str = "Seed of the random streams.") -> Any:
    """``--seed S``: a non-negative integer."""
    return typer.Option("--seed", min=0, help=help)


def replications_option(
    help: str = "Independent replications (confidence intervals need 2 or more).", minimum: int = 1
) -> Any:
    """``-n/--replications N``: at least ``minimum``."""
    return typer.Option("--replications", "-n", min=minimum, help=help)


def tolerance_option(help: str) -> Any:
    """``-t/--tolerance KEY=VALUE`` (repeatable), parsed by the command."""
    return typer.Option("--tolerance", "-t", help=help)


def jobs_option(help: str = "Replications run in this many processes.") -> Any:
    """``-j/--jobs J``: at least 1."""
    return typer.Option("--jobs", "-j", min=1, help=help)


def allowed_intervals(per_interval: bool, allow: str) -> float | None:
    """``--per-interval`` with ``--allow-intervals``: the share of intervals that may miss."""
    if not per_interval:
        return None
    from sim.capacity import parse_share

    try:
        return parse_share(allow)
    except ValueError as error:
        raise InputError(str(error), key="--allow-intervals") from None


PerIntervalOption = Annotated[
    bool,
    typer.Option(
        "--per-interval", help="Also hold the targets in every interval (see --allow-intervals)."
    ),
]
AllowIntervalsOption = Annotated[
    str,
    typer.Option(
        "--allow-intervals", help="With --per-interval: the share of intervals that may miss."
    ),
]


def output_directory(path: Path | None, key: str = "--out") -> None:
    """Create an output directory before the work, so that a bad place is reported before
    minutes of running rather than after."""
    if path is None:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"cannot create the output directory: {error.strerror or error}", file=path, key=key
        ) from None


def scenario_from(path: Path) -> Scenario:
    return load_scenario(path)


def trace_for(scenario: Scenario, path: Path) -> Trace:
    """Read a trace and make sure it belongs to ``scenario``."""
    trace = read_trace(path)
    unknown = sorted({c.channel for c in trace} - set(scenario.channels))
    if unknown:
        raise InputError(
            f"trace has channels the scenario {scenario.name!r} does not have: "
            f"{', '.join(unknown)}",
            file=path,
        )
    if trace.header.scenario_sha256 != scenario.sha256:
        err_console.print(
            f"[yellow]note:[/] {path} was drawn from a different version of scenario "
            f"{trace.header.scenario!r}; using it anyway"
        )
    return trace


@contextmanager
def progress_bar(description: str, total: float) -> Iterator[Progress]:
    """A progress bar on stderr (hidden when stderr is not a terminal and on CI logs)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        progress.add_task(description, total=total)
        yield progress


def _cell(stat: Stat | None, key: str) -> str:
    kpi = kpi_of(key)
    if not stat:
        return "–"
    return kpi.with_ci(
        stat.get("mean"), stat.get("ci95") if kpi.unit is not Unit.COUNT else None, compact=True
    )


def summary_table(results: Results, title: str) -> Table:
    """Per channel and total, the KPIs a planner looks at first."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("channel")
    for key in SUMMARY:
        table.add_column(kpi_of(key).short, justify="right")
    for name, kpis in results.channels.items():
        table.add_row(name, *(_cell(kpis.get(key), key) for key in SUMMARY))
    table.add_section()
    table.add_row("[bold]total", *(_cell(results.total.get(key), key) for key in SUMMARY))
    caption = " · ".join(
        f"{kpi_of(key).label} {_cell(results.total.get(key), key)}"
        for key in ("occupancy", "slot_utilisation", "wasted_slot_seconds")
    )
    hours = " · ".join(
        f"{kpi_of(key).label} {_cell(results.total.get(key), key)}" for key in AGENT_HOURS
    )
    table.caption = f"{caption} (silent abandonment)\n{hours}"
    table.caption_justify = "left"
    return table


def write_html_report(
    path: Path,
    results: list[Results],
    scenario: Scenario,
    records: list[Sequence[ConversationRecord]],
    extra: Sequence[Section] = (),
) -> None:
    """The HTML report of results still in memory (matplotlib is imported only here), with
    ``extra`` sections after the headline."""
    from sim.report import build_report

    conversations = {i: [record.to_dict() for record in run] for i, run in enumerate(records)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        build_report(results, conversations=conversations, scenario=scenario, extra=extra),
        encoding="utf-8",
    )
    console.print(f"wrote {path}")
