"""The ``chatsim`` Typer application; commands register themselves on :data:`app`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from sim import __version__

app = typer.Typer(
    name="chatsim",
    help="Capacity tool for chat customer service: simulate, replay, compare, plan.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Logs and CI capture output without a terminal; rich would wrap tables at 80 columns.
    return Console(stderr=stderr, width=None if stream.isatty() else 120)


#: Tables and summaries go to stdout; progress bars and errors to stderr.
console = _console(stderr=False)
err_console = _console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"chatsim {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print chatsim's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Capacity tool for chat customer service: simulate, replay, compare, plan."""
