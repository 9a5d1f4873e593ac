"""``chatsim erlang`` through the real entry point ``sim.cli.main``."""

from __future__ import annotations

import re

import pytest

import sim.cli.erlang  # noqa: F401  (registers the command, whatever sim.cli imports)
from sim.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``chatsim erlang ARGV`` (main() ends in sys.exit)."""
    code: int = 0
    try:
        main(["erlang", *argv])
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else 0 if exited.code is None else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_erlang_c_table_shows_the_worked_example(capsys: pytest.CaptureFixture[str]) -> None:
    # Call Centre Helper's example: 100 calls per 30 minutes, AHT 180 s, 80% in 20 s -> 14.
    code, out, _ = run(
        capsys, "--arrivals", "100", "--period", "30m", "--aht", "180s", "--target", "20s"
    )
    assert code == 0
    assert "Erlang C" in out
    assert "10.00 Erlangs" in out
    assert re.search(r"14 .*71\.4% .*17\.4% .*7\.8s .*88\.8%", out)
    assert "14 agents are needed" in out


def test_erlang_a_with_concurrency_and_fixed_agents(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--arrivals",
        "240",
        "--aht",
        "10m",
        "--patience",
        "3m",
        "--concurrency",
        "3",
        "--agents",
        "15",
        "--target",
        "1m",
    )
    assert code == 0
    assert "Erlang A" in out
    assert "approximation" in out
    assert "Abandoned" in out
    assert re.search(r"\b15 .*\b45 .*\d+\.\d%", out)


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["--arrivals", "100", "--aht", "-5"], "--aht"),
        (["--arrivals", "100", "--aht", "3 minutes"], "--aht"),
        (["--arrivals", "-1", "--aht", "180"], "--arrivals"),
        (["--arrivals", "100", "--aht", "180", "--period", "0"], "--period"),
        (["--arrivals", "100", "--aht", "180", "--patience", "0s"], "--patience"),
        (["--arrivals", "100", "--aht", "180", "--service-level", "80"], "--service-level"),
        (["--arrivals", "100", "--aht", "180", "--max-abandon", "0.05"], "--max-abandon"),
        (["--arrivals", "100", "--aht", "180", "--concurrency", "0"], "--concurrency"),
    ],
)
def test_bad_input_exits_2_without_traceback(
    capsys: pytest.CaptureFixture[str], argv: list[str], key: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert key in err
    assert "Traceback" not in err
