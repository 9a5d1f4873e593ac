"""Command line: thin wrappers over the library, one module per command."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from rich.markup import escape

from sim.errors import ChatsimError, InputError

from .app import app, err_console

COMMANDS = (
    "calibrate",
    "check",
    "compare",
    "erlang",
    "fit",
    "forecast",
    "gateway",
    "replay",
    "report",
    "simulate",
    "staff",
    "sweep",
    "trace",
)
"""Every command, one module each, in the order ``--help`` lists them."""


def load_commands(argv: Sequence[str]) -> None:
    """Register on :data:`app` the command ``argv`` names, or every command when it names none
    (``chatsim``, ``--help``, ``--version``, a misspelt command: Click then lists them all).

    A command module imports the library it drives, and together they take a second and more
    (scipy's statistics and optimisers, statsmodels, pandas): ``chatsim gateway`` and
    ``chatsim simulate`` start without what only ``fit`` or ``calibrate`` need.
    """
    named = next((arg for arg in argv if not arg.startswith("-")), None)
    for name in [named] if named in COMMANDS else COMMANDS:
        importlib.import_module(f"{__name__}.{name}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``chatsim`` console script and ``python -m sim``.

    Click handles usage errors itself (exit code 2); chatsim's own errors become one red line
    and their exit code (2 bad input, 3 invalid run) instead of a traceback. So does a file the
    operating system refuses to read or write (an output path in a missing or read-only place).
    """
    args = sys.argv[1:] if argv is None else argv
    load_commands(args)
    try:
        app(args=args, prog_name="chatsim")
    except ChatsimError as error:
        fail(error)
    except OSError as error:
        fail(InputError(f"cannot read or write: {error.strerror or error}", file=error.filename))


def fail(error: ChatsimError) -> NoReturn:
    # Escaped: a message may quote input that looks like markup (frt_mean[whatsapp]).
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    sys.exit(error.exit_code)
