"""scripts/scale_bench.py keeps working: its scenarios validate, staff in proportion to the
volume, and one tiny point draws, plays and measures (no timings are asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "scale_bench.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_bench"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["scale_bench"]
    return module


def test_sized_staffing_grows_with_the_volume(bench: ModuleType) -> None:
    profile = bench.day_profile()
    assert len(profile) == 96 and sum(profile) == pytest.approx(1.0)
    small, large = bench.sized_staffing(10_000, profile), bench.sized_staffing(100_000, profile)
    assert 10 <= max(small) <= 40
    assert max(large) == pytest.approx(10 * max(small), rel=0.15)
    assert all(count >= 1 for count in small)


def test_day_scenario_is_a_valid_day(bench: ModuleType) -> None:
    scenario = bench.day_scenario(10_000)
    assert scenario.duration == 86_400 and scenario.n_intervals == 96
    assert sum(channel.mean_volume for channel in scenario.channels.values()) == 10_000
    assert bench.day_scenario(10_000, 7).agents[0].staffing == [7] * 96


def test_one_tiny_point(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--point", "400:sized"])
    found = json.loads(capsys.readouterr().out)
    assert 300 < found["conversations"] < 500
    assert found["draw"] > 0 and found["model"] > 0 and found["measure"] > 0
    assert 0 <= found["service_level"] <= 1 and 0 < found["occupancy"] <= 1
    best = bench.best_of([found, found])
    assert best["total"] == pytest.approx(found["draw"] + found["model"] + found["measure"])
    line = bench.row(best, best)
    assert line.split()[-2:] == ["1.00", "1.00"] or best["memory_kib"] == 0
