"""Locust workers' clocks against the master's: the offset's arithmetic, the verdict on a run
whose clocks disagree, and the timing resolution that carries the offset into ``compare``."""

from __future__ import annotations

import pytest
from test_collect import setup, typed

from sim.compare import timing_resolution
from sim.loadtest.collect import judge, replay_results
from sim.loadtest.raw import ClockOffset


def test_the_offset_is_ntps_with_half_the_round_trip_as_its_uncertainty():
    # The master asks at 100.000 s, the worker (2 ms ahead) reads 100.0025 s on its clock as the
    # probe arrives 0.5 ms later, and the answer is back at 100.001 s on the master's clock.
    found = ClockOffset.of(100.000, 100.0025, 100.001)
    assert found.offset_ms == pytest.approx(2.0)
    assert found.round_trip_ms == pytest.approx(1.0)
    behind = ClockOffset.of(100.000, 99.9975, 100.001)
    assert behind.offset_ms == pytest.approx(-3.0)


def clocked(offsets: dict[str, tuple[float, float]]):
    s, tr, raw = setup()
    raw["workers"] = len(offsets)
    raw["clocks"] = {w: {"offset_ms": o, "round_trip_ms": t} for w, (o, t) in offsets.items()}
    return s, tr, typed(raw)


def test_the_worst_worker_is_reported_and_a_far_clock_makes_the_run_invalid():
    _, _, raw = clocked({"0": (0.3, 0.8), "1": (-1.2, 0.9)})
    near = judge(raw, max_lateness_ms=100.0)
    assert near.valid, near.reasons
    assert near.clock_offset_ms == -1.2 and near.clock_round_trip_ms == 0.9
    _, _, raw = clocked({"0": (0.3, 0.8), "1": (150.0, 1.0)})
    far = judge(raw, max_lateness_ms=100.0)
    assert not far.valid
    assert "clock is +150.0 ms (±0.5) off the master's" in far.reasons[0]
    assert "NTP" in far.reasons[0]
    # Within its uncertainty of the bound, an offset is not held against the run.
    _, _, raw = clocked({"0": (100.4, 1.0)})
    assert judge(raw, max_lateness_ms=100.0).valid


def test_one_process_has_no_clock_to_compare_and_old_files_read():
    *_, raw = setup()
    assert typed(raw).clocks == {}
    validity = judge(typed(raw), max_lateness_ms=100.0)
    assert validity.clock_offset_ms is None and validity.to_dict()["clock_offset_ms"] is None


def test_the_offset_widens_the_timing_resolution_by_itself_times_the_speedup():
    s, tr, raw = clocked({"0": (0.0, 0.5)})
    base = timing_resolution(replay_results(raw, s, tr, judge(raw, 100.0))[0])
    s, tr, raw = clocked({"0": (-4.0, 0.5)})
    off = timing_resolution(replay_results(raw, s, tr, judge(raw, 100.0))[0])
    assert off - base == pytest.approx(4.0 / 1000 * raw.speedup)
