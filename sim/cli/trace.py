"""``chatsim trace``: draw a scenario's traffic into a JSON Lines trace file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli.app import app, console
from sim.cli.options import scenario_from
from sim.errors import InputError
from sim.texts import locale_exists
from sim.trace import write_trace
from sim.traffic import draw_trace


@app.command("trace")
def trace(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario YAML file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Trace file to write (JSON Lines).")],
    seed: Annotated[
        int,
        typer.Option(
            "--seed", min=0, help="Seed: the same scenario and seed give a byte-identical file."
        ),
    ] = 1,
    locale: Annotated[
        str, typer.Option("--locale", help="Faker locale of customer names and texts.")
    ] = "ru_RU",
) -> None:
    """Draw one day (the scenario's horizon) of conversations into a trace file."""
    if not locale_exists(locale):
        raise InputError(
            f"unknown faker locale {locale!r} (for example ru_RU, en_US, de_DE)", key="--locale"
        )
    scenario = scenario_from(scenario_path)
    drawn = draw_trace(scenario, seed, locale=locale)
    digest = write_trace(drawn, out)
    console.print(f"wrote {len(drawn):,} conversations to {out} (sha256 {digest[:12]})")
