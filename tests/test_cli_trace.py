"""``chatsim trace`` through the real entry point (sim.cli.main) and ``python -m sim``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.scenario import load_scenario
from sim.trace import read_trace, write_trace
from sim.traffic import draw_trace

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``chatsim ARGV`` (main() ends in sys.exit)."""
    code = 0
    try:
        main(list(argv))
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else 0 if exited.code is None else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_same_seed_gives_identical_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "sub" / "b.jsonl"
    code, out, err = run(capsys, "trace", str(SMALL), "--seed", "3", "--out", str(first))
    assert code == 0, err
    assert re.search(r"wrote \d+ conversations", out)
    code, _, err = run(capsys, "trace", str(SMALL), "--seed", "3", "--out", str(second))
    assert code == 0, err
    data = first.read_bytes()
    assert data == second.read_bytes()
    # And it is the library's trace for seed 3.
    expected = tmp_path / "expected.jsonl"
    write_trace(draw_trace(load_scenario(SMALL), 3), expected)
    assert data == expected.read_bytes()
    header = json.loads(data.split(b"\n", 1)[0])
    assert header["seed"] == 3
    assert header["scenario"] == "small"


def test_other_seed_gives_other_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(capsys, "trace", str(SMALL), "--seed", "3", "--out", str(tmp_path / "a.jsonl"))[0] == 0
    )
    assert (
        run(capsys, "trace", str(SMALL), "--seed", "4", "--out", str(tmp_path / "b.jsonl"))[0] == 0
    )
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "b.jsonl").read_bytes()


def test_python_dash_m_sim_matches_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = tmp_path / "sub.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "sim", "trace", str(SMALL), "--seed", "3", "--out", str(sub)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    local = tmp_path / "local.jsonl"
    assert run(capsys, "trace", str(SMALL), "--seed", "3", "--out", str(local))[0] == 0
    assert sub.read_bytes() == local.read_bytes()


def test_locale_en_us(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "en.jsonl"
    code, _, err = run(
        capsys, "trace", str(SMALL), "--seed", "3", "--out", str(out), "--locale", "en_US"
    )
    assert code == 0, err
    trace = read_trace(out)
    assert trace.header.locale == "en_US"
    assert all(
        c.customer is not None and re.fullmatch(r"[A-Za-z][A-Za-z .'-]*", c.customer.name)
        for c in trace
    )


def test_bad_locale_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.jsonl"
    code, _, err = run(
        capsys, "trace", str(SMALL), "--seed", "3", "--out", str(out), "--locale", "xx_XX"
    )
    assert code == 2
    assert "locale" in err and "xx_XX" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_missing_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "trace",
        str(tmp_path / "nope.yaml"),
        "--seed",
        "1",
        "--out",
        str(tmp_path / "t.jsonl"),
    )
    assert code == 2
    assert "nope.yaml" in err
    assert "Traceback" not in err


def test_invalid_scenario_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        SMALL.read_text(encoding="utf-8").replace("volume: 90", "volume: -90"), encoding="utf-8"
    )
    code, _, err = run(capsys, "trace", str(bad), "--seed", "1", "--out", str(tmp_path / "t.jsonl"))
    assert code == 2
    assert "bad.yaml" in err
    assert "channels.telegram.volume" in err


def test_missing_out_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "trace", str(SMALL), "--seed", "1")
    assert code == 2


def test_bad_seed_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        capsys, "trace", str(SMALL), "--seed", "three", "--out", str(tmp_path / "t.jsonl")
    )
    assert code == 2


def test_negative_seed_is_reported_as_a_seed_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "trace", str(SMALL), "--seed", "-1", "--out", str(tmp_path / "t.jsonl")
    )
    assert code == 2
    assert "seed" in err
    assert "--locale" not in err
