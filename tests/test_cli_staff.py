"""``chatsim staff`` end to end on a week: templates with breaks, shrinkage, an uncertain volume
planned at a quantile, the written shifts and the planner's page."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.scenario import load_scenario, parse_scenario

WEEK = Path(__file__).resolve().parent / "scenarios" / "tiny-week.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exited:
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_week_simulates_plans_and_reports(tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "simulate", str(WEEK), "-n", "2", "--out", str(tmp_path / "sim"))
    assert code == 0, err
    assert "paid agent-hours" in " ".join(out.split())
    code, out, err = run(
        capsys, "staff", str(WEEK), "--scope", "day", "-n", "2", "--max-evaluations", "8",
        "--volume-quantile", "0.8", "--out", str(tmp_path / "plan"),
        "--report", str(tmp_path / "plan.html"), "-j", "1",
    )  # fmt: skip
    assert code == 0, out + err
    assert "templates of desk" in " ".join(out.split())
    # The shifts written load back into the scenario: every day of the week has shifts, each
    # with its unpaid lunch inside its 3rd to 5th hour, written with its day.
    written = yaml.safe_load((tmp_path / "plan" / "shifts.yaml").read_text(encoding="utf-8"))
    shifts = written[0]["shifts"]
    assert {s["start"].split()[0] for s in shifts} == {
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
        "Sat",
        "Sun",
    }
    data = yaml.safe_load(WEEK.read_text(encoding="utf-8"))
    data["agents"][0]["shifts"] = shifts
    planned = parse_scenario(data)
    for shift in planned.agents[0].shifts or ():
        (lunch,) = shift.breaks
        first, _ = shift.break_starts(lunch)
        assert 3 * 3600 <= first <= 5 * 3600 and not lunch.paid
    # plan.csv: one row per hour of the week.
    with (tmp_path / "plan" / "plan.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 168 and rows[0]["interval"] == "Mon 00:00"
    assert rows[-1]["interval"] == "Sun 23:00"
    page = (tmp_path / "plan.html").read_text(encoding="utf-8")
    assert "chatsim plan: tiny-week" in page and "Sun 23:00" in page
    # With shrinkage the page draws and tabulates what must be rostered beside the
    # requirement, and over/under is measured against it.
    assert "desk<br>rostered" in page and "Rostered (with shrinkage or absence)" in page
    assert any(int(r["rostered"]) > int(r["required"]) for r in rows)


def test_a_volume_quantile_needs_an_uncertain_volume(capsys) -> None:
    plain = Path(__file__).resolve().parents[1] / "scenarios" / "small.yaml"
    code, _, err = run(capsys, "staff", str(plain), "--volume-quantile", "0.9")
    assert code == 2 and "--volume-quantile" in err and "no channel's volume is uncertain" in err
    assert load_scenario(WEEK).channels["chat"].volume_cv == 0.1
