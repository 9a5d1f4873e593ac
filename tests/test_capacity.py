"""``check``: targets, baselines with noise bands, refusal of foreign baselines, exit codes."""

from __future__ import annotations

import json
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from sim.capacity import baseline_checks
from sim.cli import main
from sim.results import Results

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "scenarios" / "small.yaml"
BASELINE = ROOT / "reports" / "baselines" / "small.json"


def run_cli(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code or 0


def stats(**means):
    return {
        k: {"mean": v, "ci95": 0.01 if k in ("service_level", "missed_rate") else 1.0}
        for k, v in means.items()
    }


def model_results(**means) -> Results:
    return Results(
        source="model", scenario="s", scenario_sha256="x", replications=10, start="00:00",
        interval=900.0, total=stats(**means), channels={}, intervals=[],
    )  # fmt: skip


def test_baseline_noise_band_and_direction():
    before = model_results(service_level=0.90, frt_mean=30.0)
    slightly_worse = model_results(service_level=0.89, frt_mean=31.0)
    much_worse = model_results(service_level=0.85, frt_mean=36.0)
    better = model_results(service_level=0.99, frt_mean=10.0)
    assert all(
        c.passed for c in baseline_checks(slightly_worse, before)
    )  # inside sqrt(2) x ci + floor
    assert not any(c.passed for c in baseline_checks(much_worse, before))
    assert all(c.passed for c in baseline_checks(better, before))  # improving is never a failure


def test_committed_baseline_passes_end_to_end(tmp_path):
    """The CI use: small.yaml against its committed baseline, JUnit for the CI system."""
    started = time.monotonic()
    junit = tmp_path / "check.xml"
    assert run_cli("check", SMALL, "--baseline", BASELINE, "--junit", junit) == 0
    assert time.monotonic() - started < 60
    root = ET.parse(junit).getroot()
    assert {s.get("name") for s in root.findall("testsuite")} == {
        "chatsim.target",
        "chatsim.baseline",
    }
    assert root.get("failures") == "0"


def test_target_miss_exits_1(tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text(SMALL.read_text().replace("service_level: 0.80", "service_level: 0.99"))
    report = tmp_path / "check.html"
    assert run_cli("check", strict, "-n", "3", "--report", report) == 1
    html = report.read_text()  # the report is written whatever the verdict: it shows why
    assert html.startswith("<!DOCTYPE html>") and html.count("data:image/png;base64,") >= 5


def test_regression_against_a_better_baseline_exits_1(tmp_path):
    better = json.loads(BASELINE.read_text())
    better["total"]["frt_mean"]["mean"] -= 5.0  # the baseline was 5 s faster than the model is now
    path = tmp_path / "better.json"
    path.write_text(json.dumps(better))
    markdown = tmp_path / "pr.md"
    assert run_cli("check", SMALL, "--baseline", path, "--markdown", markdown) == 1
    assert "frt_mean" in markdown.read_text() and "❌" in markdown.read_text()


def test_another_scenario_or_channel_set_is_refused_and_a_missing_baseline_says_how(
    tmp_path, capsys
):
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(SMALL.read_text().replace("name: small", "name: other"))
    assert run_cli("check", renamed, "--baseline", BASELINE) == 2
    assert "not of 'other'" in capsys.readouterr().err
    fewer_channels = yaml.safe_load(SMALL.read_text())
    del fewer_channels["channels"]["telegram"]
    fewer_channels["agents"][0]["skills"].remove("telegram")
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(fewer_channels))
    assert run_cli("check", path, "--baseline", BASELINE) == 2
    assert "channels" in capsys.readouterr().err
    plain = tmp_path / "plain.json"
    shutil.copy(BASELINE, plain)
    data = json.loads(plain.read_text())
    del data["baseline"]
    plain.write_text(json.dumps(data))
    assert run_cli("check", SMALL, "--baseline", plain) == 2
    assert run_cli("check", SMALL, "--baseline", tmp_path / "missing.json") == 2
    assert "--update-baseline" in capsys.readouterr().err


def shifts(first: int, second: int, tmp_path: Path) -> Path:
    """small.yaml with ``first`` agents 09:00-12:00 and ``second`` 10:00-12:00 (3 and 1)."""
    data = yaml.safe_load(SMALL.read_text())
    data["agents"][0]["shifts"] = [
        {"start": "09:00", "end": "12:00", "count": first},
        {"start": "10:00", "end": "12:00", "count": second},
    ]
    path = tmp_path / f"small-{first}-{second}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_baseline_catches_one_agent_fewer_and_lets_an_improvement_pass(tmp_path, capsys):
    """Run with the baseline's seed and replications, both sides play the same conversations:
    the same scenario differs by nothing, one agent fewer fails naming KPIs and channels, one
    agent more passes. What changed is listed."""
    assert run_cli("check", SMALL, "--baseline", BASELINE) == 0
    assert "differs from the baseline" not in capsys.readouterr().out
    verdict = tmp_path / "fewer.json"
    assert run_cli("check", shifts(2, 1, tmp_path), "--baseline", BASELINE, "--json", verdict) == 1
    assert "the scenario's content changed" in capsys.readouterr().out
    failed = {(c["scope"], c["kpi"]) for c in json.loads(verdict.read_text())["checks"]
              if c["kind"] == "baseline" and not c["passed"]}  # fmt: skip
    assert {
        ("total", "service_level"),
        ("total", "missed_rate"),
        ("webchat", "service_level"),
    } <= failed
    assert run_cli("check", shifts(3, 2, tmp_path), "--baseline", BASELINE) == 0
    assert run_cli("check", SMALL, "--baseline", BASELINE, "--seed", "7") in (0, 1)
    assert "seed 7 now, 1 in the baseline" in capsys.readouterr().out


def test_update_baseline_writes_configuration(tmp_path):
    path = tmp_path / "b.json"
    assert run_cli("check", SMALL, "-n", "3", "--baseline", path, "--update-baseline") == 0
    recorded = json.loads(path.read_text())["baseline"]
    assert (
        recorded["seed"] == 1
        and recorded["replications"] == 3
        and len(recorded["scenario_sha256"]) == 64
    )
    assert recorded["channels"] == ["whatsapp", "telegram", "webchat"]
    assert len(recorded["samples"]["total"]["service_level"]) == 3
    assert run_cli("check", SMALL, "--baseline", path) == 0  # its own seed and replications


def test_a_channel_is_held_to_its_own_targets():
    from sim.capacity import target_checks
    from sim.scenario import parse_scenario

    data = yaml.safe_load(SMALL.read_text(encoding="utf-8"))
    data["channels"]["webchat"]["targets"] = {"service_level": 0.99}
    scenario = parse_scenario(data)
    stat = {"mean": 0.9, "ci95": 0.01}
    results = Results(
        source="model", scenario="small", scenario_sha256="x", replications=2, start="09:00",
        interval=900.0, total={"service_level": stat, "missed_rate": {"mean": 0.05}},
        channels={"webchat": {"service_level": stat}}, intervals=[],
    )  # fmt: skip
    checks = {(c.scope, c.kpi): c.passed for c in target_checks(results, scenario)}
    assert checks[("total", "service_level")] is True  # 90% against the scenario's 80%
    assert checks[("webchat", "service_level")] is False  # against its own 99%


def test_per_interval_verdicts_find_the_intervals_that_miss(tmp_path, capsys):
    """small.yaml with its agents all day, except two intervals left with one agent: the day
    totals can pass while those intervals miss. --per-interval names them; --allow-intervals
    lets a share miss; the report says how many miss and shades them."""
    data = yaml.safe_load(SMALL.read_text())
    staffing = [5] * 12
    staffing[4] = staffing[5] = 1  # 10:00-10:30
    data["agents"][0]["shifts"] = None
    data["agents"][0]["staffing"] = staffing
    data["targets"] = {"service_level": 0.6}
    path = tmp_path / "gap.yaml"
    path.write_text(yaml.safe_dump(data))
    verdict = tmp_path / "v.json"
    assert run_cli("check", path, "-n", "4", "--per-interval", "--json", verdict) == 1
    checks = json.loads(verdict.read_text())["checks"]
    interval = next(c for c in checks if c["kind"] == "interval" and c["kpi"] == "service_level")
    assert (
        not interval["passed"] and "10:00" in interval["detail"] and "10:15" in interval["detail"]
    )
    total = next(c for c in checks if c["kind"] == "target")
    assert total["passed"]  # the day hides the gap
    report = tmp_path / "r.html"
    args = (
        "check",
        path,
        "-n",
        "4",
        "--per-interval",
        "--allow-intervals",
        "50%",
        "--report",
        report,
    )
    assert run_cli(*args) == 0
    assert "intervals miss a target" in report.read_text()
    assert run_cli("check", path, "--per-interval", "--allow-intervals", "120%") == 2
    model = tmp_path / "model"
    assert run_cli("simulate", path, "-n", "2", "--out", model) == 0
    assert run_cli("compare", model, model, "--per-interval") == 2  # needs the scenario's targets
    assert run_cli("compare", model, model, "--per-interval", "--scenario", path) == 1
