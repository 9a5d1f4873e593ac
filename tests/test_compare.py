"""``compare``: tolerances, confidence widening, notes, outputs and exit codes."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pytest

from sim.cli import main
from sim.compare import Tolerance, compare, parse_tolerance
from sim.results import Results, read_results


def results(source="model", trace="abc", scenario="small", **total) -> Results:
    base = {
        "offered": 400.0,
        "service_level": 0.90,
        "missed_rate": 0.05,
        "frt_mean": 30.0,
        "frt_p90": 60.0,
        "insession_mean": 40.0,
        "occupancy": 0.5,
        "slot_utilisation": 0.4,
    }
    base.update(total)
    stats = {k: {"mean": v} for k, v in base.items()}
    return Results(
        source=source,
        scenario=scenario,
        scenario_sha256="sha-" + scenario,
        replications=1,
        start="00:00",
        interval=900.0,
        total=stats,
        channels={"chat": copy.deepcopy(stats)},
        intervals=[],
        trace_sha256=trace,
    )


def test_identical_results_pass():
    verdict = compare(results(), results("replay"))
    assert verdict.passed and verdict.exit_code == 0 and not verdict.notes
    assert {c.scope for c in verdict.checks} == {"total", "chat"}


def passed(verdict, name):
    return next(c for c in verdict.checks if c.name == name).passed


def test_absolute_and_relative_tolerances():
    # 3 pp absolute on service level, plus 1/400 for the step of one conversation, plus the
    # binomial standard error of a single run, sqrt(0.9 x 0.1 / 400) = 1.5 pp: 4.75 pp.
    assert compare(results(), results("replay", service_level=0.855)).passed
    assert not compare(results(), results("replay", service_level=0.85)).passed
    # 10% relative on the mean first response: 33 s passes, 33.5 s fails (total and channel).
    assert compare(results(), results("replay", frt_mean=33.0)).passed
    failed = compare(results(), results("replay", frt_mean=33.5))
    assert [c.name for c in failed.failures] == ["total.frt_mean", "chat.frt_mean"]
    assert compare(
        results(), results("replay", frt_mean=33.5), {"frt_mean": Tolerance(0.2, relative=True)}
    ).passed


def test_tolerance_widens_with_the_confidence_interval():
    predicted = results()
    predicted.total["frt_mean"]["ci95"] = 2.0
    assert passed(compare(predicted, results("replay", frt_mean=34.5)), "total.frt_mean")
    assert not passed(compare(results(), results("replay", frt_mean=34.5)), "total.frt_mean")


def test_different_traces_and_scenarios_are_noted():
    verdict = compare(results(trace="one"), results("replay", trace="two", scenario="other"))
    assert any("different traces" in note for note in verdict.notes)
    assert any("different scenarios" in note for note in verdict.notes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("frt_mean=10%", Tolerance(0.1, True)), ("service_level=0.02", Tolerance(0.02))],
)
def test_parse_tolerance(text, expected):
    assert parse_tolerance(text)[1] == expected


@pytest.mark.parametrize("text", ["frt_mean", "frt_mean=", "=3", "x=abc", "x=-1"])
def test_parse_tolerance_rejects(text):
    with pytest.raises(ValueError):
        parse_tolerance(text)


def write(tmp_path, name, result: Results):
    path = tmp_path / name
    path.write_text(json.dumps(result.to_dict()))
    return path


def run_cli(*args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return exit_info.value.code or 0


def test_cli_exit_codes_and_junit(tmp_path):
    predicted = write(tmp_path, "p.json", results())
    good = write(tmp_path, "good.json", results("replay"))
    bad = write(tmp_path, "bad.json", results("replay", missed_rate=0.2))
    junit, markdown, as_json = tmp_path / "j.xml", tmp_path / "m.md", tmp_path / "v.json"
    assert run_cli("compare", predicted, good) == 0
    assert (
        run_cli(
            "compare", predicted, bad, "--junit", junit, "--markdown", markdown, "--json", as_json
        )
        == 1
    )
    root = ET.parse(junit).getroot()
    assert (
        root.tag == "testsuites" and int(root.get("failures")) == 2
    )  # total and channel missed_rate
    cases = root.findall("testsuite/testcase")
    assert len(cases) == int(root.get("tests")) and all(
        c.get("classname") and c.get("name") for c in cases
    )
    failed = [c for c in cases if c.find("failure") is not None]
    assert {c.get("name") for c in failed} == {"missed_rate"} and failed[0].find("failure").get(
        "message"
    )
    assert "❌" in markdown.read_text() and "missed_rate" in markdown.read_text()
    assert json.loads(as_json.read_text())["passed"] is False
    assert read_results(predicted).source == "model"


def test_cli_bad_inputs_exit_2(tmp_path):
    predicted = write(tmp_path, "p.json", results())
    (tmp_path / "junk.json").write_text("{nope")
    assert run_cli("compare", predicted, tmp_path / "junk.json") == 2
    assert run_cli("compare", predicted, tmp_path / "missing.json") == 2
    assert run_cli("compare", predicted, predicted, "--tolerance", "bogus=1") == 2
    assert run_cli("compare", predicted, predicted, "--tolerance", "frt_mean") == 2


def test_replay_response_times_are_widened_by_timing_resolution():
    measured = results("replay", frt_mean=34.5)
    measured.extra = {"speedup": 100.0, "validity": {"ack_p99_ms": 10.0}}  # 2 x 10 ms x 100 = 2 s
    verdict = compare(results(), measured)
    assert passed(verdict, "total.frt_mean") and any(
        "timing resolution" in n for n in verdict.notes
    )
    assert not passed(compare(results(), results("replay", frt_mean=34.5)), "total.frt_mean")


def test_single_run_rates_carry_their_binomial_error():
    single = results(
        "replay", missed_rate=0.082
    )  # 3.2 pp within 2 + 0.25 + sqrt(0.05 x 0.95 / 400) = 3.34 pp
    assert passed(compare(results(), single), "total.missed_rate")
    replicated = results("model", missed_rate=0.082)
    for block in (replicated.total, *replicated.channels.values()):
        block["missed_rate"]["ci95"] = 0.0  # replications of its own: no binomial widening
    assert not passed(compare(results(), replicated), "total.missed_rate")


def test_a_tolerance_adds_a_kpi_per_channel_but_agents_stay_total(tmp_path):
    predicted, measured = results(), results("replay")
    for block in (predicted.total, *predicted.channels.values()):
        block["frt_p95"] = {"mean": 80.0}
    for block in (measured.total, *measured.channels.values()):
        block["frt_p95"] = {"mean": 95.0}
    verdict = compare(
        predicted,
        measured,
        {"frt_p95": Tolerance(0.10, relative=True), "occupancy": Tolerance(0.01)},
    )
    assert [c.name for c in verdict.failures] == ["total.frt_p95", "chat.frt_p95"]
    assert not any(c.name == "chat.occupancy" for c in verdict.checks)
    p, m = write(tmp_path, "p.json", predicted), write(tmp_path, "m.json", measured)
    assert run_cli("compare", p, m, "-t", "frt_p95=20%") == 0
    assert run_cli("compare", p, m, "-t", "frt_p95=10%") == 1


def test_a_kpi_absent_from_one_side_fails(tmp_path):
    partial = results("replay")
    del partial.total["frt_mean"]
    verdict = compare(results(), partial)
    (check,) = verdict.failures
    assert check.name == "total.frt_mean" and "absent from the measured" in check.detail


def test_an_output_the_os_refuses_is_exit_2(tmp_path, capsys):
    predicted = write(tmp_path, "p.json", results())
    assert run_cli("compare", predicted, predicted, "--json", "/dev/full") == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_speedup_too_high_to_judge_is_said():
    from sim.compare import judgeable

    assert judgeable(2.0, 120, 60.0) is None  # 3% of the target
    warning = judgeable(15.0, 600, 24.0)  # the case: 15 s on a 24 s mean
    assert warning is not None and "speedup 600 is too high" in warning
    assert "speedup 96 or lower" in warning  # 600 x 10% x 24 / 15
    predicted = results("model", frt_mean=24.0, insession_mean=40.0)
    measured = results("replay", frt_mean=33.0)
    measured.extra = {"speedup": 600, "validity": {"ack_p99_ms": 12.5}}
    verdict = compare(predicted, measured, {})
    assert any("too high to judge" in note for note in verdict.notes)
    assert any("widened by its timing resolution, 15.0 s" in note for note in verdict.notes)
