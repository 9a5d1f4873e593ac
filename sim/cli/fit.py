"""``chatsim fit``: conversation logs in, a commented scenario out."""

from __future__ import annotations

import shlex
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sim.cli.app import app, console, err_console
from sim.durations import parse_duration
from sim.errors import InputError
from sim.fit import FitError, FitOptions, Fitted, fit_scenario
from sim.history import History, RowProblem, parse_utc_offset, read_history
from sim.protocols import PROTOCOLS
from sim.scenario import Targets

_EXAMPLES = 3
"""Rows shown per kind of problem (all of them are counted)."""


def parse_pairs(values: list[str], option: str, what: str) -> dict[str, str]:
    """``NAME=VALUE`` options as a mapping; a malformed one is bad input naming the option."""
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, given = value.partition("=")
        if not sep or not name.strip() or not given.strip():
            raise InputError(f"expected {what}, got {value!r}", key=option)
        if name.strip() in pairs:
            raise InputError(f"{name.strip()!r} is given twice", key=option)
        pairs[name.strip()] = given.strip()
    return pairs


def _targets(values: list[str]) -> dict[str, float]:
    targets: dict[str, float] = {}
    known = list(Targets.model_fields)
    for name, text in parse_pairs(values, "--target", "KPI=VALUE (service_level=0.9)").items():
        if name not in known:
            raise InputError(
                f"unknown target {name!r} (targets: {', '.join(known)})", key="--target"
            )
        try:
            value = parse_duration(text) if name in ("frt_mean", "insession_mean") else float(text)
        except ValueError as error:
            raise InputError(f"{name}: {error}", key="--target") from None
        if name in ("service_level", "missed_rate") and not 0 <= value <= 1:
            raise InputError(f"{name} must be between 0 and 1, got {text}", key="--target")
        targets[name] = value
    return targets


def _protocols(values: list[str]) -> dict[str, str]:
    protocols = parse_pairs(values, "--protocol", "CHANNEL=PROTOCOL (app=webchat)")
    for channel, protocol in protocols.items():
        if protocol not in PROTOCOLS:
            raise InputError(
                f"{channel}: unknown protocol {protocol!r} (one of {', '.join(PROTOCOLS)})",
                key="--protocol",
            )
    return protocols


def report_problems(problems: list[RowProblem]) -> None:
    """How many rows were skipped and why, grouped by kind, with the first few of each."""
    if not problems:
        return
    groups: dict[str, list[RowProblem]] = defaultdict(list)
    for problem in problems:
        groups[problem.kind].append(problem)
    err_console.print(
        f"[yellow]skipped {len(problems):,} row{'s' if len(problems) != 1 else ''}[/] "
        "(--strict makes them fatal):",
        highlight=False,
    )
    for kind, rows in sorted(groups.items(), key=lambda item: -len(item[1])):
        err_console.print(f"  {len(rows):,} {kind}", highlight=False)
        for row in rows[:_EXAMPLES]:
            err_console.print(f"    {row.format()}", highlight=False, soft_wrap=True)
        if len(rows) > _EXAMPLES:
            err_console.print(f"    … and {len(rows) - _EXAMPLES:,} more", highlight=False)


def _ci(interval: tuple[float, float] | None, scale: float = 1.0, unit: str = "") -> str:
    if interval is None:
        return ""
    return f" [{interval[0] / scale:,.1f}–{interval[1] / scale:,.1f}{unit}]"


def summary(fitted: Fitted, history: History) -> Table:
    """Per channel, the headline estimates."""
    per = fitted.horizon
    table = Table(
        title=f"{len(history.conversations):,} conversations over {fitted.days:.2f} days, "
        f"fitted as a {per}",
        title_justify="left",
        header_style="bold",
    )
    for column in (
        "channel",
        "conversations",
        f"volume/{per} [95% CI]",
        "bot",
        "patience [95% CI of mean]",
        "gave up/censored/ambiguous",
        "turns",
    ):
        table.add_column(column, justify="left" if column == "channel" else "right")
    for c in fitted.channels:
        table.add_row(
            f"{c.name} ({c.protocol})",
            f"{c.conversations:,}",
            f"{c.volume:,.1f}{_ci(c.volume_ci)}",
            "–" if c.containment is None else f"{c.containment:.1%}",
            f"{c.patience}{_ci(c.patience_ci, 60, 'm')}",
            f"{c.abandonments:,}/{c.censored:,}/{c.ambiguous:,}",
            f"{c.turns:.2f}",
        )
    return table


@app.command("fit")
def fit(
    logs: Annotated[
        list[Path],
        typer.Argument(
            metavar="LOGS...",
            help="Conversation logs: generic CSVs (one row per conversation) or chatsim's "
            "conversations.jsonl.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Write the fitted scenario YAML here.")],
    messages: Annotated[
        list[Path] | None,
        typer.Option(
            "--messages", help="Message-level CSV (conversation_id, at, sender); repeatable."
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="OUR_NAME=THEIR_COLUMN: read chatsim's column OUR_NAME from the export's "
            "THEIR_COLUMN (repeatable).",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Stop at a bad row (exit 2) instead of skipping it.")
    ] = False,
    interval: Annotated[
        str, typer.Option("--interval", help="The scenario's interval (whole minutes).")
    ] = "15m",
    horizon: Annotated[
        str,
        typer.Option(
            "--horizon",
            help="day, week, or auto: a week (profiles by weekday) when the logs span 7 days.",
        ),
    ] = "auto",
    protocol: Annotated[
        list[str] | None,
        typer.Option(
            "--protocol",
            help="CHANNEL=PROTOCOL for a channel not named like its protocol (repeatable); "
            "others default to webchat.",
        ),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="KPI=VALUE written as the scenario's targets (repeatable)."),
    ] = None,
    utc_offset: Annotated[
        str | None,
        typer.Option(
            "--utc-offset",
            help="Offset of times written without one, and the clock epoch seconds are shown "
            "on (+03:00).",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The scenario's name (default: --out's stem).")
    ] = None,
) -> None:
    """Fit a scenario to conversation logs: volumes, profiles, bot, patience (censored), turns,
    think time, close_after, first guesses of reply work and the agents on duty."""
    try:
        seconds = parse_duration(interval)
    except ValueError as error:
        raise InputError(str(error), key="--interval") from None
    offset = None
    if utc_offset is not None:
        try:
            offset = parse_utc_offset(utc_offset)
        except ValueError as error:
            raise InputError(str(error), key="--utc-offset") from None
    options = FitOptions(
        name=name or out.stem,
        interval=seconds,
        horizon=horizon,
        protocols=_protocols(protocol or []),
        targets=_targets(target or []),
        command="chatsim " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["fit"] else "",
    )
    columns = parse_pairs(mapping or [], "--map", "OUR_NAME=THEIR_COLUMN (created_at=Started)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"cannot create its folder: {error.strerror}", file=out, key="--out"
        ) from None
    history = read_history(
        logs, mapping=columns, strict=strict, messages=messages or [], utc_offset=offset
    )
    report_problems(history.problems)
    try:
        fitted = fit_scenario(history, options)
    except FitError as error:
        raise InputError(str(error)) from None
    out.write_text(fitted.text, encoding="utf-8")
    console.print(summary(fitted, history))
    for note in fitted.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    used = len(history.conversations)
    console.print(
        f"wrote {out}: {used:,} conversations used, {len(history.problems):,} rows skipped",
        highlight=False,
    )
