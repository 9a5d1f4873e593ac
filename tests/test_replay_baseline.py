"""A replay against a replay baseline: the per-interval noise band with known numbers, its
fallback, the gateway measures' room, and ``--tolerance`` for them."""

from __future__ import annotations

import math

import pytest

from sim.catalogue import BY_KEY, Tolerance
from sim.replay_baseline import (
    gateway_allowed,
    gateway_checks,
    interval_band,
    kpi_checks,
    parse_gateway_tolerance,
)
from sim.results import Results

FRT = BY_KEY["frt_mean"]


def replay(frt: list[float | None], validity: dict[str, object] | None = None) -> Results:
    """A replay whose first response is ``frt[j]`` in interval ``j`` (all channels and the one
    channel ``webchat``), and its mean over the defined ones in total."""
    defined = [v for v in frt if v is not None]
    total = {"frt_mean": {"mean": sum(defined) / len(defined) if defined else None}}
    intervals = [
        {"start": f"09:{15 * j:02d}", "index": j, "channel": channel, "frt_mean": {"mean": v}}
        for j, v in enumerate(frt)
        for channel in ("all", "webchat")
    ]
    return Results(
        source="replay", scenario="s", scenario_sha256="x", replications=1, start="09:00",
        interval=900.0, total=total, channels={"webchat": dict(total)}, intervals=intervals,
        extra={"validity": validity or {}},
    )  # fmt: skip


def test_identical_intervals_leave_only_the_floor():
    same = replay([20.0, 30.0, 25.0, 40.0])
    assert interval_band(FRT, same, same, "total") == FRT.baseline_floor


def test_the_band_is_the_t_half_width_of_the_paired_interval_differences():
    # differences 1, 3, 0: mean 4/3, standard deviation sqrt(7/3); t(0.975, 2) = 4.302653
    band = interval_band(FRT, replay([11.0, 23.0, 30.0]), replay([10.0, 20.0, 30.0]), "webchat")
    assert band == pytest.approx(4.302653 * math.sqrt(7 / 3) / math.sqrt(3) + 0.2, abs=1e-5)


def test_intervals_undefined_on_either_side_are_left_out():
    # only intervals 0 and 3 pair: differences 2 and 4, standard deviation sqrt(2); t(0.975, 1)
    now, before = replay([12.0, None, 5.0, 44.0]), replay([10.0, 30.0, None, 40.0])
    band = interval_band(FRT, now, before, "total")
    assert band == pytest.approx(12.706205 * math.sqrt(2) / math.sqrt(2) + 0.2, abs=1e-5)


def test_with_fewer_than_two_intervals_the_band_is_the_floor_and_the_tolerance_with_a_note():
    now, before = replay([33.0, None]), replay([30.0, 20.0])
    assert interval_band(FRT, now, before, "total") is None
    checks, notes = kpi_checks(now, before)
    total = next(c for c in checks if c.scope == "total")
    # the baseline's mean is 25 s: the floor 0.2 s plus 10% of it
    assert total.allowed == pytest.approx(0.2 + 2.5) and not total.passed  # 33 against 25 s
    assert "fewer than 2 intervals" in notes[0] and "total frt_mean" in notes[0]


def test_a_slower_replay_fails_and_a_faster_one_passes():
    before = replay([20.0, 30.0, 25.0, 40.0])
    slower, faster = replay([26.0, 39.0, 32.5, 52.0]), replay([14.0, 21.0, 17.5, 28.0])
    assert {(c.scope, c.passed) for c in kpi_checks(slower, before)[0]} == {
        ("total", False),
        ("webchat", False),
    }
    assert all(c.passed for c in kpi_checks(faster, before)[0])


def test_gateway_measures_get_a_quarter_of_the_baseline_but_at_least_2_ms():
    assert gateway_allowed(3.0) == 2.0
    assert gateway_allowed(40.0) == 10.0
    assert gateway_allowed(40.0, Tolerance(5.0)) == 5.0
    assert gateway_allowed(40.0, Tolerance(0.5, relative=True)) == 20.0


def test_gateway_checks_in_total_and_delivery_per_channel():
    before = replay([20.0], {"ack_p99_ms": 4.0, "delivery_p99_ms": 40.0,
                             "channels": {"webchat": {"delivery_p99_ms": 60.0}}})  # fmt: skip
    now = replay([20.0], {"ack_p99_ms": 5.5, "delivery_p99_ms": 52.0,
                          "channels": {"webchat": {"delivery_p99_ms": 90.0}}})  # fmt: skip
    checks = {(c.scope, c.kpi): c.passed for c in gateway_checks(now, before)}
    # ack +1.5 ms within 2 ms; delivery +12 ms over 10 ms; webchat +30 ms over 15 ms
    assert checks == {
        ("total", "ack_p99"): True,
        ("total", "delivery_p99"): False,
        ("webchat", "delivery_p99"): False,
    }
    relaxed = {"delivery_p99": Tolerance(1.0, relative=True), "ack_p50": Tolerance(1.0)}
    assert all(c.passed for c in gateway_checks(now, before, relaxed))
    assert gateway_checks(replay([20.0]), before) == []  # nothing measured now: nothing held


def test_tolerances_are_for_gateway_measures_other_than_lateness():
    assert parse_gateway_tolerance("ack_p99=5") == ("ack_p99", Tolerance(5.0))
    assert parse_gateway_tolerance("delivery_p99=50%") == (
        "delivery_p99",
        Tolerance(0.5, relative=True),
    )
    for bad, says in (
        ("lateness_p99=5", "harness"),
        ("frt_mean=1", "noise band"),
        ("ack_p99", "KPI=VALUE"),
    ):
        with pytest.raises(ValueError, match=says):
            parse_gateway_tolerance(bad)


def test_response_times_allow_the_replays_timing_resolution():
    # Every interval 2 s slower: no spread, so the batch band is the floor alone (0.2 s). At
    # speedup 240 with an acknowledgement p99 of 5 ms the resolution is 2 x 5 ms x 240 = 2.4 s:
    # a whole-run shift smaller than that is what a busier machine does, not a verdict.
    def timed(frt: list[float | None], ack_p99_ms: float) -> Results:
        result = replay(frt, {"ack_p99_ms": ack_p99_ms})
        result.extra["speedup"] = 240.0
        return result

    before = timed([20.0, 30.0, 25.0], 5.0)
    checks, _ = kpi_checks(timed([22.0, 32.0, 27.0], 5.0), before)
    (total,) = [c for c in checks if c.scope == "total" and c.kpi == "frt_mean"]
    assert total.passed and total.allowed == pytest.approx(0.2 + 2.4)
    assert "timing resolution 2.4 s" in total.detail
    checks, _ = kpi_checks(timed([23.0, 33.0, 28.0], 5.0), before)
    assert not all(c.passed for c in checks if c.kpi == "frt_mean")
