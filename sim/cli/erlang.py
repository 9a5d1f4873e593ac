"""``chatsim erlang``: Erlang C / Erlang A calculator, chat concurrency as extra slots."""

from __future__ import annotations

import math
from typing import Annotated

import typer
from rich.table import Table

from sim import erlang as queueing
from sim.durations import format_duration, parse_duration
from sim.errors import InputError

from .app import app, console

#: Most rows printed in the staffing table (the rows nearest the answer are kept).
_MAX_ROWS = 25


def _duration(value: str, key: str, *, positive: bool) -> float:
    """Seconds in a duration option; bad input is an :class:`InputError` naming the option."""
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        raise InputError(str(error), key=key) from None
    if positive and seconds <= 0:
        raise InputError(f"must be longer than zero, got {value!r}", key=key)
    return seconds


def _percent(value: float) -> str:
    return f"{100.0 * value:.1f}%"


def _seconds(value: float) -> str:
    if math.isinf(value):
        return "∞"
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@app.command("erlang")
def erlang_command(
    arrivals: Annotated[
        float,
        typer.Option(
            metavar="N", help="Conversations offered to agents per --period (after any bot)."
        ),
    ],
    aht: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="Mean handle time of one conversation, i.e. how long it holds an agent's chat "
            "slot: '180s', '3m' or a number of seconds.",
        ),
    ],
    period: Annotated[
        str,
        typer.Option(
            metavar="DURATION", help="Length of time the --arrivals count refers to ('15m', '1h')."
        ),
    ] = "1h",
    target: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="Service-level threshold T: answered within T counts as on time.",
        ),
    ] = "20s",
    patience: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Mean customer patience (exponential). Given: Erlang A, with abandonment. "
            "Absent: Erlang C, customers wait for ever.",
        ),
    ] = None,
    agents: Annotated[
        int | None,
        typer.Option(
            help="Evaluate exactly this many agents. Absent: a table from the smallest stable "
            "staffing to the staffing that meets --service-level, plus --extra rows."
        ),
    ] = None,
    service_level: Annotated[
        float,
        typer.Option(
            help="Target share of offered conversations answered within --target, "
            "between 0 and 1 (0.8 = 80%)."
        ),
    ] = 0.8,
    max_abandon: Annotated[
        float | None,
        typer.Option(help="Erlang A only: also require at most this share abandoning (0.05)."),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            help="Chats each agent handles at once (k). Modelled as k servers per "
            "agent, an approximation."
        ),
    ] = 1,
    extra: Annotated[
        int, typer.Option(help="Rows shown beyond the staffing that meets the target.")
    ] = 3,
) -> None:
    """Erlang C / Erlang A calculator: service level, waits and abandonment by staffing."""
    if not (math.isfinite(arrivals) and arrivals >= 0):
        raise InputError(
            f"must be a number of conversations >= 0, got {arrivals!r}", key="--arrivals"
        )
    period_s = _duration(period, "--period", positive=True)
    aht_s = _duration(aht, "--aht", positive=True)
    target_s = _duration(target, "--target", positive=False)
    patience_s = _duration(patience, "--patience", positive=True) if patience is not None else None
    if agents is not None and agents < 1:
        raise InputError(f"must be at least 1, got {agents}", key="--agents")
    if not 0 < service_level < 1:
        raise InputError(
            f"must be between 0 and 1 (0.8 means 80%), got {service_level!r}", key="--service-level"
        )
    if max_abandon is not None:
        if patience_s is None:
            raise InputError(
                "needs --patience (abandonment exists only in Erlang A)", key="--max-abandon"
            )
        if not 0 < max_abandon <= 1:
            raise InputError(
                f"must be between 0 and 1 (0.05 means 5%), got {max_abandon!r}", key="--max-abandon"
            )
    if concurrency < 1:
        raise InputError(f"must be at least 1, got {concurrency}", key="--concurrency")
    if extra < 0:
        raise InputError(f"must not be negative, got {extra}", key="--extra")

    rate = arrivals / period_s
    try:
        required = queueing.agents_for_service_level(
            rate,
            aht_s,
            target_s,
            service_level,
            mean_patience=patience_s,
            max_abandon=max_abandon,
            slots_per_agent=concurrency,
        )
        if agents is not None:
            counts = [agents]
        else:
            first = queueing.min_stable_agents(rate, aht_s, concurrency)
            if patience_s is not None:  # Erlang A is stable with any staffing
                first = min(first, required.agents)
            last = required.agents + extra
            counts = list(range(max(first, last - _MAX_ROWS + 1), last + 1))
        rows = [
            queueing.queue_metrics(
                rate, aht_s, n, target_s, mean_patience=patience_s, slots_per_agent=concurrency
            )
            for n in counts
        ]
    except ValueError as error:
        raise InputError(str(error), key="--patience" if patience_s else None) from None

    model = "Erlang A (M/M/n+M)" if patience_s is not None else "Erlang C (M/M/n)"
    load = rate * aht_s
    console.print(
        f"[bold]{model}[/]: {arrivals:g} conversations per {format_duration(period_s)} "
        f"({rate * 3600:.4g}/h), handle time {format_duration(aht_s)}, offered load "
        f"{load:.2f} Erlangs"
        + (f", mean patience {format_duration(patience_s)}" if patience_s is not None else ""),
        highlight=False,
    )
    if concurrency > 1:
        console.print(
            f"Note: {concurrency} concurrent chats per agent are modelled as {concurrency} servers"
            " per agent: an approximation that ignores the agent's single pair of hands and "
            "slowdown (use `chatsim simulate` for those).",
            style="yellow",
            highlight=False,
        )

    table = Table(title=f"Service level = answered within {format_duration(target_s)} / offered")
    table.add_column("Agents", justify="right")
    if concurrency > 1:
        table.add_column("Slots", justify="right")
    table.add_column("Occupancy", justify="right")
    table.add_column("P(wait)", justify="right")
    table.add_column("Mean wait", justify="right")
    if patience_s is not None:
        table.add_column("Wait if served", justify="right")
    table.add_column("Service level", justify="right")
    if patience_s is not None:
        table.add_column("Abandoned", justify="right")
    for row in rows:
        cells = [str(row.agents)]
        if concurrency > 1:
            cells.append(str(row.servers))
        cells += [_percent(row.occupancy), _percent(row.p_wait), _seconds(row.mean_wait)]
        if patience_s is not None:
            cells.append(_seconds(row.mean_wait_served))
        cells.append(_percent(row.service_level))
        if patience_s is not None:
            cells.append(_percent(row.p_abandon))
        style = "bold green" if row.agents == required.agents else None
        table.add_row(*cells, style=style)
    console.print(table)

    goal = f"{_percent(service_level)} within {format_duration(target_s)}"
    if max_abandon is not None:
        goal += f" with at most {_percent(max_abandon)} abandoning"
    if agents is not None:
        verdict = "meet" if rows[0].agents >= required.agents else "do not meet"
        console.print(
            f"{agents} agents {verdict} {goal}; {required.agents} are needed.", highlight=False
        )
    else:
        console.print(f"{required.agents} agents are needed for {goal}.", highlight=False)
