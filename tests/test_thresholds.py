"""Thresholds: parsing (names, channels, operators, units) and judging a results file."""

from __future__ import annotations

import pytest

from sim.results import Results
from sim.thresholds import Threshold, judge_thresholds, parse_threshold
from sim.verdict import Verdict


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ack_p99<50ms", Threshold("ack_p99", "<", 50.0)),
        ("ack_p99 < 0.05s", Threshold("ack_p99", "<", 50.0)),
        ("delivery_p99<=250", Threshold("delivery_p99", "<=", 250.0)),  # gateway: plain = ms
        ("lateness_p99<20ms", Threshold("lateness_p99", "<", 20.0)),
        ("frt_mean<40s", Threshold("frt_mean", "<", 40.0)),
        ("frt_mean<1500ms", Threshold("frt_mean", "<", 1.5)),
        ("frt_p90<=60", Threshold("frt_p90", "<=", 60.0)),  # KPI: plain = seconds
        ("missed_rate<3%", Threshold("missed_rate", "<", 0.03)),
        ("service_level>90%", Threshold("service_level", ">", 0.9)),
        ("service_level>=0.85", Threshold("service_level", ">=", 0.85)),
        ("offered>1e2", Threshold("offered", ">", 100.0)),
        ("missed_rate[webchat]<5%", Threshold("missed_rate", "<", 0.05, "webchat")),
        ("delivery_p50[ whatsapp ]<.5s", Threshold("delivery_p50", "<", 500.0, "whatsapp")),
    ],
)
def test_thresholds_parse_with_their_units(text, expected):
    parsed = parse_threshold(text, channels={"webchat", "whatsapp"})
    assert (parsed.kpi, parsed.operator, parsed.channel) == (
        expected.kpi,
        expected.operator,
        expected.channel,
    )
    assert parsed.limit == pytest.approx(expected.limit) and parsed.text == text.strip()
    assert parsed.scope == (expected.channel or "total")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("ack_p99", "expected NAME<VALUE"),
        ("ack_p99=50ms", "expected NAME<VALUE"),
        ("ack_p99<<50", "expected NAME<VALUE"),
        ("ack_p99<fast", "expected NAME<VALUE"),
        ("ack_p99<50min", "expected NAME<VALUE"),
        ("<50ms", "expected NAME<VALUE"),
        ("ack_p95<50ms", "unknown KPI 'ack_p95'"),
        ("frt_mean<3%", "frt_mean is a time: write ms or s"),
        ("missed_rate<3s", "missed_rate is a rate"),
        ("missed_rate<3", "write 3% or 0.03"),
        ("offered>10%", "offered is a count: write a plain number"),
        ("occupancy[webchat]<90%", "occupancy is measured in total only"),
        ("missed_rate[sms]<3%", "unknown channel 'sms' (one of webchat, whatsapp)"),
        ("missed_rate[]<3%", "empty channel"),
    ],
)
def test_bad_thresholds_say_what_is_wrong(text, problem):
    with pytest.raises(ValueError) as error:
        parse_threshold(text, channels={"webchat", "whatsapp"})
    assert problem in str(error.value)


def results() -> Results:
    """A replay's results: FRT mean 30 s, 4% missed, ack p99 12 ms, delivery p99 80 ms."""
    return Results(
        source="replay",
        scenario="small",
        scenario_sha256="0" * 64,
        start="09:00",
        interval=900.0,
        replications=1,
        total={
            "frt_mean": {"mean": 30.0},
            "missed_rate": {"mean": 0.04},
            "frt_p90": {"mean": None},
        },
        channels={"webchat": {"frt_mean": {"mean": 45.0}}},
        intervals=[],
        extra={
            "validity": {
                "ack_p99_ms": 12.0,
                "delivery_p99_ms": 80.0,
                "delivery_p50_ms": None,
                "channels": {"webchat": {"delivery_p99_ms": 120.0}},
            }
        },
    )


@pytest.mark.parametrize(
    "text, passed, actual",
    [
        ("frt_mean<40s", True, 30.0),
        ("frt_mean<30s", False, 30.0),  # the bound itself is out with <
        ("frt_mean<=30s", True, 30.0),
        ("frt_mean[webchat]<40s", False, 45.0),
        ("missed_rate<3%", False, 0.04),
        ("missed_rate>=4%", True, 0.04),
        ("ack_p99<50ms", True, 12.0),
        ("ack_p99<0.01s", False, 12.0),
        ("delivery_p99<100ms", True, 80.0),
        ("delivery_p99[webchat]<100ms", False, 120.0),
        ("delivery_p50<100ms", False, None),  # nothing delivered: undefined fails
        ("frt_p90<60s", False, None),
        ("lateness_p99<20ms", False, None),  # not in this file
    ],
)
def test_judging_a_results_file(text, passed, actual):
    (check,) = judge_thresholds(results(), [parse_threshold(text)])
    assert check.kind == "threshold" and check.passed is passed
    assert check.actual == (None if actual is None else pytest.approx(actual))
    assert check.scope == ("webchat" if "[webchat]" in text else "total")
    assert ("undefined" in check.detail) is (actual is None)


def test_a_threshold_verdict_fails_on_one_failure_and_renders_for_ci():
    thresholds = [parse_threshold("ack_p99<50ms"), parse_threshold("frt_mean<1s")]
    verdict = Verdict("thresholds", judge_thresholds(results(), thresholds))
    assert verdict.exit_code == 1 and [c.passed for c in verdict.checks] == [True, False]
    junit = verdict.junit()
    assert 'name="chatsim.threshold"' in junit and 'failures="1"' in junit
    assert "frt_mean 30.0 s, required &lt; 1.0 s" in junit
    markdown = verdict.markdown()
    assert "| ❌ threshold | total | `frt_mean` | 1.0 s | 30.0 s | +29.0 s | < 1.0 s |" in markdown
    assert verdict.to_dict()["checks"][0]["operator"] == "<"
    passing = Verdict("thresholds", judge_thresholds(results(), thresholds[:1]))
    assert passing.exit_code == 0
