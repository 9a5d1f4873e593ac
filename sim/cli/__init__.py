"""Command line: thin wrappers over the library, one module per command."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.markup import escape

from sim.errors import ChatsimError, InputError

from . import (  # noqa: F401  (commands register on import)
    calibrate,
    check,
    compare,
    erlang,
    fit,
    forecast,
    gateway,
    replay,
    report,
    simulate,
    staff,
    sweep,
    trace,
)
from .app import app, err_console


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``chatsim`` console script and ``python -m sim``.

    Click handles usage errors itself (exit code 2); chatsim's own errors become one red line
    and their exit code (2 bad input, 3 invalid run) instead of a traceback. So does a file the
    operating system refuses to read or write (an output path in a missing or read-only place).
    """
    try:
        app(args=argv, prog_name="chatsim")
    except ChatsimError as error:
        fail(error)
    except OSError as error:
        fail(InputError(f"cannot read or write: {error.strerror or error}", file=error.filename))


def fail(error: ChatsimError) -> NoReturn:
    # Escaped: a message may quote input that looks like markup (frt_mean[whatsapp]).
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    sys.exit(error.exit_code)
