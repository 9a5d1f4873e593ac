"""Verdict outputs shared by ``compare`` and ``check``: the table, JSON, JUnit, Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sim.cli.app import console
from sim.verdict import Verdict

JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the verdict as JSON here.")]
JunitOption = Annotated[
    Path | None, typer.Option("--junit", help="Write JUnit XML here (each KPI a test case).")
]
MarkdownOption = Annotated[
    Path | None,
    typer.Option("--markdown", help="Write a short Markdown summary (for a pull-request comment)."),
]
ReportOption = Annotated[
    Path | None, typer.Option("--report", help="Write the HTML report with plots here.")
]


def verdict_table(verdict: Verdict) -> Table:
    table = Table(title=verdict.title, title_justify="left", header_style="bold")
    for column in ("", "check", "scope", "KPI", "expected", "actual", "difference", "allowed"):
        table.add_column(
            column,
            justify="right"
            if column in ("expected", "actual", "difference", "allowed")
            else "left",
        )
    for check in verdict.checks:
        mark = "[green]pass[/]" if check.passed else "[bold red]FAIL[/]"
        kpi = check.entry
        expected = kpi.with_ci(check.expected, check.expected_ci95)
        table.add_row(
            mark,
            check.kind,
            check.scope,
            check.kpi,
            expected,
            kpi.text(check.actual),
            kpi.delta(check.difference),
            check.limit,
        )
    return table


def emit(
    verdict: Verdict, json_path: Path | None, junit: Path | None, markdown: Path | None
) -> None:
    """Print the verdict and write the files asked for."""
    console.print(verdict_table(verdict))
    for note in verdict.notes:
        console.print(f"[yellow]note:[/] {note}")
    failures = len(verdict.failures)
    console.print(
        "[bold green]all checks passed[/]"
        if verdict.passed
        else f"[bold red]{failures} of {len(verdict.checks)} checks failed[/]"
    )
    if json_path:
        verdict.write_json(json_path)
    if junit:
        verdict.write_junit(junit)
    if markdown:
        verdict.write_markdown(markdown)
