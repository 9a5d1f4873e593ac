"""The command line's entry point: every command is there, and a command loads only itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim.cli import COMMANDS, main

PROBE = """
import sys
from sim.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(sorted(m for m in {heavy!r} if m in sys.modules))
"""
HEAVY = ("scipy.stats", "scipy.optimize", "statsmodels", "pandas", "sim.calibrate", "sim.fit")


def loaded_after(argv: list[str]) -> str:
    """The heavy modules a fresh interpreter has loaded after ``chatsim ARGV``."""
    found = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return found.stdout.strip().splitlines()[-1]


def test_the_overview_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert all(f" {name} " in shown for name in COMMANDS), shown


def test_a_command_starts_without_what_other_commands_need():
    # The gateway and simulate start in a fraction of a second; fit and calibrate load scipy's
    # statistics and optimisers, statsmodels and pandas (a second and more) for themselves.
    assert loaded_after(["gateway", "--help"]) == "[]"
    assert loaded_after(["simulate", "--help"]) == "[]"
    assert "sim.calibrate" in loaded_after(["calibrate", "--help"])


def test_a_misspelt_command_is_a_usage_error_naming_it(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulat", "x.yaml"])
    assert exit_info.value.code == 2
    assert "simulat" in capsys.readouterr().err
