"""Shared pieces of the commands: loading inputs with clear errors, tables, progress bars."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from sim.cli.app import console, err_console
from sim.errors import InputError
from sim.records import ConversationRecord
from sim.results import Results, Stat
from sim.scenario import Scenario, load_scenario
from sim.trace import Trace, read_trace


def output_directory(path: Path | None, key: str = "--out") -> None:
    """Create an output directory before the work, so that a bad place is reported before
    minutes of running rather than after."""
    if path is None:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the output directory: {error.strerror or error}", file=path, key=key) from None


def scenario_from(path: Path) -> Scenario:
    return load_scenario(path)


def trace_for(scenario: Scenario, path: Path) -> Trace:
    """Read a trace and make sure it belongs to ``scenario``."""
    trace = read_trace(path)
    unknown = sorted({c.channel for c in trace} - set(scenario.channels))
    if unknown:
        raise InputError(f"trace has channels the scenario {scenario.name!r} does not have: {', '.join(unknown)}", file=path)
    if trace.header.scenario_sha256 != scenario.sha256:
        err_console.print(f"[yellow]note:[/] {path} was drawn from a different version of scenario {trace.header.scenario!r}; using it anyway")
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


def _fmt(stat: Stat | None, kind: str) -> str:
    if not stat or stat.get("mean") is None:
        return "–"
    mean = stat["mean"]
    ci = stat.get("ci95")
    assert mean is not None
    if kind == "pct":
        text = f"{100 * mean:.1f}%"
        return f"{text} ±{100 * ci:.1f}" if ci else text
    if kind == "s":
        text = f"{mean:.1f}s"
        return f"{text} ±{ci:.1f}" if ci else text
    return f"{mean:,.0f}"


SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("offered", "offered", "n"),
    ("service_level", "SL", "pct"),
    ("missed_rate", "missed", "pct"),
    ("frt_mean", "FRT mean", "s"),
    ("frt_p90", "FRT p90", "s"),
    ("insession_mean", "in-session", "s"),
    ("bot_contained", "bot", "n"),
    ("max_queue", "max queue", "n"),
)


def summary_table(results: Results, title: str) -> Table:
    """Per channel and total, the KPIs a planner looks at first."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("channel")
    for _, header, _kind in SUMMARY_COLUMNS:
        table.add_column(header, justify="right")
    for name, kpis in results.channels.items():
        table.add_row(name, *(_fmt(kpis.get(key), kind) for key, _, kind in SUMMARY_COLUMNS))
    table.add_section()
    table.add_row("[bold]total", *(_fmt(results.total.get(key), kind) for key, _, kind in SUMMARY_COLUMNS))
    occupancy = _fmt(results.total.get("occupancy"), "pct")
    slots = _fmt(results.total.get("slot_utilisation"), "pct")
    wasted = results.total.get("wasted_slot_seconds", {}).get("mean")
    table.caption = f"occupancy {occupancy} · slot utilisation {slots} · wasted slot time {0 if wasted is None else wasted / 3600:.1f} h (silent abandonment)"
    table.caption_justify = "left"
    return table


def write_html_report(path: Path, results: list[Results], scenario: Scenario, records: list[Sequence[ConversationRecord]]) -> None:
    """The HTML report of results still in memory (matplotlib is imported only here)."""
    from sim.report import build_report

    conversations = {i: [record.to_dict() for record in run] for i, run in enumerate(records)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_report(results, conversations=conversations, scenario=scenario), encoding="utf-8")
    console.print(f"wrote {path}")
