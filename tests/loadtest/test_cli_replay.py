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
from sim.results import Results, write_results
from sim.scenario import load_scenario
from sim.traffic import draw_trace

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"


def run_cli(*args: object) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return int(exit_info.value.code or 0)


RESPONSES = ("frt_mean", "frt_p90", "insession_mean")


def slowed(results: Results, factor: float) -> Results:
    """``results`` with every response time ``factor`` times as long, in total, per channel and
    per interval: a gateway build that answers slower (or faster)."""

    def scale(table: dict) -> dict:
        return {
            key: {**stat, "mean": stat["mean"] * factor}
            if key in RESPONSES and stat.get("mean") is not None
            else stat
            for key, stat in table.items()
        }

    return dataclasses.replace(
        results,
        total=scale(results.total),
        channels={name: scale(table) for name, table in results.channels.items()},
        intervals=[scale(row) for row in results.intervals],
    )


@pytest.fixture
def fake_run(monkeypatch):
    """Make ``run_replay`` return the model's own results with the validity a test sets, and
    its response times ``slower`` times as long."""
    scenario = load_scenario(SMALL)
    experiment = run_experiment(scenario, trace=draw_trace(scenario, 1))
    model = experiment.results
    state = {"validity": Validity(1.0, 5.0, 1.0, 3.0, 0, 0), "calls": [], "slower": 1.0}

    def fake(scenario, scenario_path, trace, trace_path, **options):
        state["calls"].append(options)
        for name in ("model", "replay"):  # what run_replay writes
            write_results(model, options["out"] / name, experiment.first_run.conversations)
        validity = state["validity"]
        replay = dataclasses.replace(
            slowed(model, state["slower"]),
            extra={**model.extra, "validity": validity.to_dict()},
            trace_sha256=trace.sha256(),  # the trace it was given, as run_replay's results say
            seed=trace.header.seed,
        )
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


GATEWAY = {"delivery_p50_ms": 5.0, "delivery_p99_ms": 12.0,
           "channels": {"webchat": {"delivery_p50_ms": 30.0, "delivery_p99_ms": 60.0}}}  # fmt: skip


def build(ack_p99: float, delivery: dict | None = None) -> Validity:
    """What a gateway build measured: acknowledgement p99 and reply delivery (ms)."""
    return Validity(1.0, 5.0, 1.0, ack_p99, 0, 0, **(delivery or GATEWAY))


def test_a_replay_is_held_to_a_replay_baseline_of_another_gateway_build(tmp_path, fake_run, capsys):
    """Build A records the baseline; the same replay passes, build B answering slower fails
    naming the KPIs and scopes, a faster build passes."""
    baseline = tmp_path / "baselines" / "small-replay.json"
    common = ("replay", SMALL, "--speedup", 200, "--out", tmp_path / "run", "--baseline", baseline)
    fake_run["validity"] = build(3.0)
    assert run_cli(*common, "--update-baseline") == 0
    recorded = json.loads(baseline.read_text())
    assert recorded["baseline"] | {"recorded": None, "chatsim_version": None} == {
        "source": "replay", "scenario": "small", "channels": ["whatsapp", "telegram", "webchat"],
        "scenario_sha256": load_scenario(SMALL).sha256, "seed": 1, "replications": 1,
        "trace_sha256": draw_trace(load_scenario(SMALL), 1).sha256(), "speedup": 200,
        "gateway": "reference", "recorded": None, "chatsim_version": None,
    }  # fmt: skip
    assert recorded["validity"]["ack_p99_ms"] == 3.0
    assert "recorded replay baseline" in capsys.readouterr().out

    verdict = tmp_path / "v.json"
    assert run_cli(*common, "--json", verdict) == 0
    checks = json.loads(verdict.read_text())["checks"]
    held = {(c["scope"], c["kpi"]) for c in checks if c["kind"] == "baseline"}
    assert {("total", "service_level"), ("webchat", "frt_mean"), ("total", "ack_p99"),
            ("total", "delivery_p99"), ("webchat", "delivery_p99")} <= held  # fmt: skip
    assert not any(c["kpi"].startswith("lateness") for c in checks)
    assert json.loads(verdict.read_text())["notes"] == []  # nothing differs
    assert all(c["allowed"] == pytest.approx(0.2) for c in checks if c["kpi"] == "frt_mean")

    fake_run["slower"], fake_run["validity"] = 1.3, build(9.0)  # build B: slower
    assert run_cli(*common, "--json", verdict) == 1
    printed = capsys.readouterr().out
    failed = {(c["scope"], c["kpi"]) for c in json.loads(verdict.read_text())["checks"]
              if not c["passed"]}  # fmt: skip
    assert {("total", "frt_mean"), ("total", "insession_mean"), ("total", "ack_p99")} <= failed
    assert ("webchat", "frt_mean") in failed and ("total", "service_level") not in failed
    assert "FAIL" in printed and "frt_mean" in printed

    fake_run["slower"], fake_run["validity"] = 0.7, build(2.0)  # faster: never a failure
    assert run_cli(*common) == 0
    # a looser room for ack_p99 lets the slower acknowledgement through, not the responses
    fake_run["slower"], fake_run["validity"] = 1.0, build(9.0)
    assert run_cli(*common) == 1
    assert run_cli(*common, "--tolerance", "ack_p99=300%") == 0


def test_a_replay_baseline_lists_what_differs_and_plays_its_own_seed(tmp_path, fake_run, capsys):
    baseline = tmp_path / "b.json"
    common = ("replay", SMALL, "--out", tmp_path / "run", "--baseline", baseline)
    assert run_cli(*common, "--speedup", 200, "--seed", 3, "--update-baseline") == 0
    assert json.loads(baseline.read_text())["baseline"]["seed"] == 3
    verdict = tmp_path / "v.json"
    assert run_cli(*common, "--speedup", 100, "--gateway", "http://b:8080", "--json", verdict) == 0
    notes = json.loads(verdict.read_text())["notes"]
    assert "differs from the baseline: speedup 100 now, 200 in the baseline" in " ".join(notes)
    assert "gateway http://b:8080 now, reference in the baseline" in " ".join(notes)
    assert not any("seed" in n or "trace" in n for n in notes)  # the baseline's own seed: 3
    assert draw_trace(load_scenario(SMALL), 3).sha256() == _trace_sha(tmp_path / "run")
    assert run_cli(*common, "--speedup", 200, "--seed", 4, "--json", verdict) == 0
    notes = " ".join(json.loads(verdict.read_text())["notes"])
    assert "seed 4 now, 3 in the baseline" in notes and "trace" in notes


def _trace_sha(out: Path) -> str:
    from sim.trace import read_trace

    return read_trace(out / "trace.jsonl").sha256()


def test_a_replay_baseline_refuses_a_model_one_another_scenario_and_says_how_to_record(
    tmp_path, fake_run, capsys
):
    model_baseline = Path(__file__).resolve().parents[2] / "reports" / "baselines" / "small.json"
    common = ("replay", SMALL, "--speedup", 200, "--out", tmp_path / "run")
    assert run_cli(*common, "--baseline", model_baseline) == 2
    err = capsys.readouterr().err
    assert "a baseline of the model, not of the replay" in err and "baseline.source" in err
    assert "Traceback" not in err

    replay_baseline = tmp_path / "replay.json"
    assert run_cli(*common, "--baseline", replay_baseline, "--update-baseline") == 0
    assert run_cli("check", SMALL, "--baseline", replay_baseline) == 2
    assert "a baseline of the replay, not of the model" in capsys.readouterr().err

    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(SMALL.read_text().replace("name: small", "name: other"))
    assert run_cli("replay", renamed, "--speedup", 200, "--baseline", replay_baseline) == 2
    assert "not of 'other'" in capsys.readouterr().err

    assert run_cli(*common, "--baseline", tmp_path / "missing.json") == 2
    err = capsys.readouterr().err
    assert "chatsim replay SCENARIO --speedup K" in err and "--update-baseline" in err
    assert len(fake_run["calls"]) == 1  # refusals come before the run


def test_an_invalid_replay_is_never_recorded_as_a_baseline(tmp_path, fake_run, capsys):
    fake_run["validity"] = Validity(1.0, 250.0, 1.0, 3.0, 0, 0, reasons=["late"])
    baseline = tmp_path / "b.json"
    code = run_cli("replay", SMALL, "--speedup", 200, "--out", tmp_path / "run",
                   "--baseline", baseline, "--update-baseline")  # fmt: skip
    assert code == 3 and not baseline.exists()
    assert "not recorded as the baseline" in capsys.readouterr().err


def test_baseline_options_are_checked_before_the_run(tmp_path, fake_run, capsys):
    common = ("replay", SMALL, "--speedup", 200, "--out", tmp_path / "run")
    assert run_cli(*common, "--update-baseline") == 2
    assert "--update-baseline" in capsys.readouterr().err
    assert run_cli(*common, "--tolerance", "ack_p99=5") == 2  # without a baseline
    for bad in ("lateness_p99=5", "frt_mean=1", "ack_p99=fast"):
        assert run_cli(*common, "--baseline", tmp_path / "b.json", "--tolerance", bad) == 2
        assert "--tolerance" in capsys.readouterr().err
    assert fake_run["calls"] == []
