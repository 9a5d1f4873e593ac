"""``chatsim forecast``: next week's volumes and profiles from conversation logs, backtested."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
import yaml
from rich.table import Table

from sim.cli.app import app, console, err_console
from sim.cli.fit import parse_pairs, report_problems
from sim.cli.options import output_directory, seed_option
from sim.durations import DAY, format_duration, parse_duration
from sim.errors import InputError
from sim.forecast import (
    MIN_DAYS,
    FloatArray,
    Forecast,
    ForecastError,
    day_label,
    forecast_history,
)
from sim.forecast_scenario import (
    forecast_scenario,
    fragment,
    header_lines,
    left_out,
    render,
)
from sim.history import read_history
from sim.scenario import Scenario, load_scenario

_FLAGS = {"days": "--days", "interval": "--interval"}


def read_arrivals(
    paths: Sequence[Path], mapping: Mapping[str, str] | None, strict: bool
) -> dict[str, FloatArray]:
    """Local arrival times (seconds) per channel, read as ``chatsim fit`` reads logs (chatsim's
    conversations.jsonl or the generic CSV); bad rows are reported as fit reports them, and are
    fatal with ``strict``."""
    history = read_history(list(paths), mapping=mapping, strict=strict)
    report_problems(history.problems)
    times: dict[str, list[float]] = {}
    for conversation in history.conversations:
        times.setdefault(conversation.channel, []).append(
            conversation.created_at + conversation.utc_offset
        )
    return {channel: np.asarray(values, dtype=float) for channel, values in times.items()}


def _interval(text: str | None, scenario: Scenario | None, scenario_path: Path | None) -> float:
    """The profiles' interval: the scenario's, or ``--interval`` (15 minutes by default)."""
    given = None
    if text is not None:
        try:
            given = parse_duration(text)
        except ValueError as error:
            raise InputError(str(error), key="--interval") from None
    if scenario is not None:
        if given is not None and abs(given - scenario.interval) > 1e-9:
            raise InputError(
                f"{format_duration(given)} is not the scenario's interval "
                f"({format_duration(scenario.interval)}): drop --interval, or change the "
                "scenario's",
                key="--interval",
            )
        interval, where, key = scenario.interval, scenario_path, "interval"
    else:
        interval, where, key = (given if given is not None else 900.0), None, "--interval"
    per_day = DAY / interval if interval > 0 else 0.5
    if interval <= 0 or abs(per_day - round(per_day)) > 1e-9:
        raise InputError(
            f"profiles by weekday need an interval that divides a day, got "
            f"{format_duration(interval)}",
            file=where,
            key=key,
        )
    return interval


@app.command("forecast")
def forecast(
    logs: Annotated[
        list[Path],
        typer.Argument(
            metavar="LOGS",
            help="Conversation logs: chatsim's conversations.jsonl or the generic CSV "
            "(as chatsim fit reads them).",
        ),
    ],
    days: Annotated[
        int,
        typer.Option(
            "--days", min=1, max=7, help="Days to forecast after the history (a horizon: 1 to 7)."
        ),
    ] = 7,
    scenario_path: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            help="Base scenario: written with the forecast's horizon, volumes and profiles.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the forecast scenario here (without --scenario: a scenario fragment).",
        ),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            help="Interval of the intraday profiles without --scenario (default 15m); with it, "
            "the scenario's.",
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="our_name=their_column: read another export's column names (repeat)."
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="A bad row in the logs is fatal (else reported).")
    ] = False,
    origins: Annotated[
        int,
        typer.Option(
            "--backtest",
            min=0,
            max=52,
            help="Backtest origins, a week apart in the last weeks (0: no backtest).",
        ),
    ] = 4,
    seed: Annotated[int, seed_option("Seed of the simulated forecast paths.")] = 1,
) -> None:
    """Forecast the next days' volumes per channel, with prediction intervals and weekday
    profiles, from conversation logs; backtest the method against the seasonal-naive forecast."""
    columns = parse_pairs(mapping or [], "--map", "OUR_NAME=THEIR_COLUMN (created_at=Started)")
    base = load_scenario(scenario_path) if scenario_path is not None else None
    step = _interval(interval, base, scenario_path)
    if out is not None:
        output_directory(out.parent, key="--out")
    arrivals = read_arrivals(logs, columns, strict)
    try:
        result = forecast_history(arrivals, days=days, interval=step, seed=seed, origins=origins)
    except ForecastError as error:
        raise _input_error(error) from None
    for table in forecast_tables(result):
        console.print(table)
    if origins > 0:
        console.print(backtest_table(result))
    notes: list[str] = []
    if base is not None:
        notes = [
            f"the logs' channel {name!r} is not in the scenario: forecast above, not written"
            for name in left_out(result, base)
        ]
    for note in notes:
        err_console.print(f"[yellow]note:[/] {note}")
    for day, missing in result.window.dropped:
        err_console.print(
            f"[yellow]note:[/] {day_label(day)} left out of the history: the logs cover it only "
            f"in part (about {missing:.0%} of a day's conversations missing)"
        )
    if out is None:
        return
    command = _command(
        logs, days, scenario_path, out, interval, mapping or [], strict, origins, seed
    )
    header = header_lines(
        result,
        command=command,
        base=str(scenario_path) if scenario_path is not None else None,
        notes=notes,
    )
    data: dict[str, Any]
    if base is not None and scenario_path is not None:
        raw = yaml.safe_load(scenario_path.read_text(encoding="utf-8"))
        try:
            data, _ = forecast_scenario(result, base, raw, file=scenario_path)
        except ForecastError as error:
            raise _input_error(error, file=scenario_path) from None
    else:
        data = fragment(result)
    out.write_text(render(data, result, header), encoding="utf-8")
    what = "scenario" if base is not None else "scenario fragment"
    console.print(
        f"wrote {out}: {what} of {days} day{'s' if days > 1 else ''} from "
        f"{day_label(result.first_day)}"
    )


def _input_error(error: ForecastError, file: Path | None = None) -> InputError:
    if error.parameter is not None:
        return InputError(str(error), key=_FLAGS.get(error.parameter, error.parameter))
    if error.channel is not None:
        key = f"channels.{error.channel}" if file is not None else f"channel {error.channel}"
        return InputError(str(error), file=file, key=key)
    return InputError(str(error), file=file)


def _command(
    logs: Sequence[Path],
    days: int,
    scenario: Path | None,
    out: Path,
    interval: str | None,
    mapping: Sequence[str],
    strict: bool,
    origins: int,
    seed: int,
) -> str:
    """The command line that writes the file, for its header."""
    words = ["chatsim", "forecast", *map(str, logs), "--days", str(days)]
    if scenario is not None:
        words += ["--scenario", str(scenario)]
    if interval is not None:
        words += ["--interval", interval]
    for pair in mapping:
        words += ["--map", pair]
    if strict:
        words.append("--strict")
    if origins != 4:
        words += ["--backtest", str(origins)]
    if seed != 1:
        words += ["--seed", str(seed)]
    words += ["--out", str(out)]
    return shlex.join(words)


def _count(value: float) -> str:
    return f"{value:,.0f}"


def forecast_tables(result: Forecast) -> list[Table]:
    """Per channel: each forecast day with its 80% and 95% intervals, and the total."""
    tables = []
    for name, channel in result.channels.items():
        series = channel.series
        table = Table(
            title=f"{name}: {series.model}, {channel.history_days} days of history",
            title_justify="left",
            header_style="bold",
        )
        for column in ("day", "forecast", "80% interval", "95% interval"):
            table.add_column(column, justify="left" if column == "day" else "right")
        for day, spread in zip(result.forecast_days, series.days, strict=True):
            table.add_row(
                day_label(day),
                _count(spread.mean),
                f"{_count(spread.lo80)} – {_count(spread.hi80)}",
                f"{_count(spread.lo95)} – {_count(spread.hi95)}",
            )
        total = series.total
        table.add_section()
        table.add_row(
            "[bold]total",
            _count(total.mean),
            f"{_count(total.lo80)} – {_count(total.hi80)}",
            f"{_count(total.lo95)} – {_count(total.hi95)}",
        )
        table.caption = f"cv of the total {channel.cv:.3f}"
        table.caption_justify = "left"
        tables.append(table)
    return tables


def backtest_table(result: Forecast) -> Table:
    """Per channel, the backtest's errors against the seasonal-naive forecast's."""
    table = Table(
        title=f"backtest, {result.days} days from each origin (a week apart), against the "
        "seasonal-naive forecast",
        title_justify="left",
        header_style="bold",
    )
    for column in ("channel", "origins", "MAPE (naive)", "MASE (naive)", "held 80%/95%"):
        table.add_column(column, justify="left" if column == "channel" else "right")
    table.add_column("MASE by day ahead")
    for name, channel in result.channels.items():
        test = channel.backtest
        if test is None:
            table.add_row(
                name, "0", "–", "–", "–", f"history too short (< {MIN_DAYS} + {result.days} days)"
            )
            continue
        table.add_row(
            name,
            str(len(test.origins)),
            f"{test.mape:.1f}% ({test.naive_mape:.1f}%)",
            f"{test.mase:.2f} ({test.naive_mase:.2f})",
            f"{test.coverage80:.0%}/{test.coverage95:.0%}",
            " ".join(f"{h.mase:.2f}" for h in test.per_horizon),
        )
    return table
