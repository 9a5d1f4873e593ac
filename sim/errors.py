"""Errors that end a command with a message instead of a traceback.

Each error carries the process exit code the command line promises: 2 for bad input or usage, 3 for
a run that was itself invalid. A check that fails is not an error (exit code 1 is a verdict).
"""

from __future__ import annotations

from pathlib import Path


class ChatsimError(Exception):
    """Base of all errors reported to the user as one message."""

    exit_code = 2


class InputError(ChatsimError):
    """Bad input: names the file, the key path inside it and the problem."""

    exit_code = 2

    def __init__(self, problem: str, *, file: str | Path | None = None, key: str | None = None):
        self.file = str(file) if file is not None else None
        self.key = key
        self.problem = problem
        super().__init__(self.format())

    def format(self) -> str:
        where = ": ".join(part for part in (self.file, self.key) if part)
        return f"{where}: {self.problem}" if where else self.problem


class InvalidRunError(ChatsimError):
    """The run itself cannot be trusted (gateway unreachable, late dispatch, lost messages)."""

    exit_code = 3


class PlanningError(ValueError):
    """A scenario cannot be planned as asked. ``key`` names the scenario key at fault, or
    ``parameter`` the planner's argument (a command line names its own flag)."""

    def __init__(
        self, problem: str, key: str | None = None, *, parameter: str | None = None
    ) -> None:
        super().__init__(problem)
        self.key = key
        self.parameter = parameter
