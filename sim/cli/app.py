"""The ``chatsim`` Typer application; commands register themselves on :data:`app`."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

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
