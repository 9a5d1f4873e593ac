"""``chatsim replay`` around the run itself: an invalid run is exit 3 with its reasons (after
the results and the report are written, so the user can see why), bad options are exit 2.

The Locust run is replaced by a fake that returns what a run measured; the real one is
exercised end to end in test_replay_e2e.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import sim.cli.replay
from sim.cli import main
from sim.experiment import run_experiment
from sim.loadtest.collect import Validity
from sim.loadtest.run import ReplayOutcome
from sim.results import write_results
from sim.scenario import load_scenario
from sim.traffic import draw_trace

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"


def run_cli(*args: object) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return int(exit_info.value.code or 0)


@pytest.fixture
def fake_run(monkeypatch):
    """Make ``run_replay`` return the model's own results with the validity a test sets."""
    scenario = load_scenario(SMALL)
    experiment = run_experiment(scenario, trace=draw_trace(scenario, 1))
    model = experiment.results
    state = {"validity": Validity(1.0, 5.0, 1.0, 3.0, 0, 0), "calls": []}

    def fake(scenario, scenario_path, trace, trace_path, **options):
        state["calls"].append(options)
        for name in ("model", "replay"):  # what run_replay writes
            write_results(model, options["out"] / name, experiment.first_run.conversations)
        validity = state["validity"]
        replay = dataclasses.replace(model, extra={**model.extra, "validity": validity.to_dict()})
        return ReplayOutcome(replay, model, validity)

    monkeypatch.setattr(sim.cli.replay, "run_replay", fake)
    return state


def test_a_valid_run_is_exit_0_and_reports(tmp_path, fake_run, capsys):
    report = tmp_path / "r.html"
    assert (
        run_cli(
            "replay",
            SMALL,
            "--speedup",
            200,
            "--out",
            tmp_path / "run",
            "--report",
            report,
            "--time-limit",
            50,
        )
        == 0
    )
    assert (
        report.read_text().startswith("<!DOCTYPE html>")
        and "data:image/png;base64," in report.read_text()
    )
    assert fake_run["calls"][0]["limit"] == 50 and fake_run["calls"][0]["speedup"] == 200
    assert "model vs replay" in capsys.readouterr().out


@pytest.mark.parametrize(
    "validity",
    [
        Validity(
            1.0,
            250.0,
            1.0,
            3.0,
            0,
            0,
            reasons=["dispatch lateness p99 250.0 ms is above the bound of 100 ms"],
        ),
        Validity(
            1.0,
            5.0,
            1.0,
            3.0,
            2,
            0,
            reasons=["lost messages: 2 acknowledged customer messages never reached an agent"],
        ),
    ],
    ids=["late", "lost"],
)
def test_an_invalid_run_is_exit_3_with_its_reason(tmp_path, fake_run, capsys, validity):
    fake_run["validity"] = validity
    report = tmp_path / "r.html"
    assert (
        run_cli("replay", SMALL, "--speedup", 200, "--out", tmp_path / "run", "--report", report)
        == 3
    )
    err = capsys.readouterr().err
    assert validity.reasons[0].split(":")[0] in err and "Traceback" not in err
    assert report.exists()  # written before the verdict, to look at what went wrong


def test_bad_replay_options_are_exit_2(tmp_path, fake_run):
    assert run_cli("replay", SMALL, "--speedup", 0) == 2
    assert run_cli("replay", SMALL, "--speedup", 10, "--processes", 0) == 2
    assert run_cli("replay", SMALL, "--speedup", 10, "--time-limit", -1) == 2
    assert run_cli("replay", SMALL, "--speedup", 10, "--trace", tmp_path / "missing.jsonl") == 2
    assert fake_run["calls"] == []


def test_thresholds_decide_the_exit_code_and_are_written_for_ci(tmp_path, fake_run, capsys):
    out = tmp_path / "run"
    common = ("replay", SMALL, "--speedup", 200, "--out", out)
    assert run_cli(*common, "--threshold", "ack_p99<50ms", "--threshold", "frt_mean<1000s") == 0
    assert "all checks passed" in capsys.readouterr().out
    files = {
        "--json": tmp_path / "v.json",
        "--junit": tmp_path / "v.xml",
        "--markdown": tmp_path / "v.md",
    }
    written = [str(a) for pair in files.items() for a in pair]
    failing = ("--threshold", "ack_p99<50ms", "--threshold", "frt_mean<1ms")
    assert run_cli(*common, *failing, *written) == 1
    printed = capsys.readouterr().out
    assert "threshold" in printed and "1 of 2 checks failed" in printed
    verdict = json.loads(files["--json"].read_text())
    assert [(c["kpi"], c["passed"]) for c in verdict["checks"]] == [
        ("ack_p99", True),
        ("frt_mean", False),
    ]
    assert 'name="chatsim.threshold"' in files["--junit"].read_text()
    assert "frt_mean" in files["--markdown"].read_text()


def test_a_bad_threshold_is_exit_2_before_the_run(fake_run, capsys):
    for bad in ("ack_p99=50ms", "nope<1", "missed_rate<3s", "missed_rate[sms]<3%"):
        assert run_cli("replay", SMALL, "--speedup", 10, "--threshold", bad) == 2
        assert "--threshold" in capsys.readouterr().err
    assert fake_run["calls"] == []


def test_an_invalid_run_with_thresholds_is_still_exit_3(tmp_path, fake_run):
    fake_run["validity"] = Validity(1.0, 250.0, 1.0, 3.0, 0, 0, reasons=["late"])
    verdict = tmp_path / "v.json"
    code = run_cli(
        "replay", SMALL, "--speedup", 200, "--out", tmp_path / "run",
        "--threshold", "frt_mean<1ms", "--json", verdict,
    )  # fmt: skip
    assert code == 3
    assert json.loads(verdict.read_text())["notes"] == ["the replay is invalid: late"]
