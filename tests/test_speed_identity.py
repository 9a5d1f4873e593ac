"""Issue 15: the vectorised measurement and aggregation give, to the bit, what the code before
them gave (tests/reference_measure.py keeps that code verbatim).

One exception: the agent KPIs (occupancy, slot utilisation and the hours) are time in bins,
which the old code took as the difference of two running integrals over the sorted spans and
the new code sums span by span (no sort). The integrals' running sums reach about 1e10 on a
day, so the old figures carried absolute errors of about 1e-6 agent-seconds a bin: a ratio such
as occupancy differs by up to 2e-11 (1e-8 relative in a nearly idle bin of week.yaml, where the
new figure is the exact sum, checked with math.fsum). The test allows 1e-9, absolute or
relative."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import reference_measure

from sim.kpi import measure
from sim.model import simulate_trace
from sim.results import ResultsHeader, aggregate, summarise, summarise_rows
from sim.scenario import Scenario, load_scenario
from sim.traffic import draw_trace

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


AGENT_KEYS = {"occupancy", "slot_utilisation", "paid_hours", "logged_in_hours", "productive_hours"}


def _same(a: Any, b: Any, close: bool = False) -> bool:
    """Equal to the bit (NaN equal to NaN, -0.0 distinct from 0.0 is not asked for); with
    ``close``, floats within 1e-9 (the agent KPIs: see the module docstring)."""
    if isinstance(a, float) and isinstance(b, float):
        if close:
            return (math.isnan(a) and math.isnan(b)) or math.isclose(
                a, b, rel_tol=1e-9, abs_tol=1e-9
            )
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], close or k in AGENT_KEYS) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, close) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _runs(scenario: Scenario, n: int) -> list[Any]:
    return [simulate_trace(scenario, draw_trace(scenario, 7, r, texts=False)) for r in range(n)]


@pytest.mark.parametrize("name", ["small.yaml", "week.yaml"])
@pytest.mark.parametrize("quantiles", [True, False])
def test_measure_is_the_old_measure_to_the_bit(name: str, quantiles: bool) -> None:
    scenario = load_scenario(SCENARIOS / name)
    scopes = [None, *({channel} for channel in scenario.channels)]
    for run in _runs(scenario, 2):
        for scope in scopes:
            new = measure(run, scenario, scope, quantiles=quantiles)
            old = reference_measure.measure(run, scenario, scope, quantiles=quantiles)
            assert _same(dict(new), dict(old))


@pytest.mark.parametrize("replications", [1, 2, 3, 10])
def test_aggregate_is_the_old_aggregate_to_the_bit(replications: int) -> None:
    scenario = load_scenario(SCENARIOS / "small.yaml")
    measured = [measure(run, scenario) for run in _runs(scenario, replications)]
    results = aggregate(measured, ResultsHeader.of(scenario, seed=7))
    total, channels, intervals = reference_measure.aggregate_tables(measured)
    assert _same(results.total, total)
    assert _same(results.channels, channels)
    assert _same(
        [{k: v for k, v in row.items() if k != "start"} for row in results.intervals], intervals
    )


def test_summarise_rows_is_summarise_of_each_row() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 9, 17):
        table = rng.lognormal(size=(200, n)) * rng.choice([1e-3, 1.0, 1e4], size=(200, 1))
        table[rng.random(table.shape) < 0.1] = np.nan
        table[:5] = np.nan
        expected = [
            summarise([None if math.isnan(v) else v for v in row]) for row in table.tolist()
        ]
        assert _same(summarise_rows(table), expected)


def test_tele2_weekday_is_measured_as_before() -> None:
    scenario = load_scenario(SCENARIOS / "tele2-weekday.yaml")
    (run,) = _runs(scenario, 1)
    assert _same(dict(measure(run, scenario)), dict(reference_measure.measure(run, scenario)))


def test_grouped_percentiles_are_numpys_to_the_bit() -> None:
    from sim.kpi import grouped_percentiles, within

    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        size = int(rng.integers(0, 300))
        group = rng.integers(0, n, size=size)
        values = np.round(rng.lognormal(size=size) * 100, int(rng.integers(0, 4)))
        found = grouped_percentiles(values, group, n, (50, 90, 95))
        for g in range(n):
            mine = values[group == g]
            if mine.size:
                assert found[g] == [float(p) for p in np.percentile(mine, (50, 90, 95))]
            else:
                assert all(math.isnan(p) for p in found[g])
        # In the order of a larger column, filtered (as measure passes them): the same, to the
        # bit.
        column = np.concatenate((values, np.round(rng.lognormal(size=size) * 100, 1)))
        keep = rng.permutation(np.arange(2 * size) < size)
        column[keep] = values
        ordered = within(np.argsort(column), keep)
        ranked = grouped_percentiles(values, group, n, (50, 90, 95), ordered)
        assert ranked == found or all(
            a == b or (math.isnan(a) and math.isnan(b))
            for row_a, row_b in zip(ranked, found, strict=True)
            for a, b in zip(row_a, row_b, strict=True)
        )


def test_results_json_reads_back_as_the_results_to_the_bit(tmp_path: Path) -> None:
    """Figures are written exactly, NaN and infinities as null."""
    import json

    from sim.results import dump_results, read_results, write_results

    scenario = load_scenario(SCENARIOS / "small.yaml")
    measured = [measure(run, scenario) for run in _runs(scenario, 2)]
    results = aggregate(measured, ResultsHeader.of(scenario, seed=7), {"note": "é\n"})
    data = results.to_dict()
    write_results(results, tmp_path, None)
    again = read_results(tmp_path / "results.json")
    assert _same(again.to_dict(), data)
    odd = [1, 2.123456789, None, True, float("nan"), -math.inf, 1e-17, 1e300]
    data["odd"] = {"a": odd, "b": {}, "c": [], 3: (0.5,)}
    written = json.loads(dump_results(data))
    assert written["odd"] == {
        "a": [1, 2.123456789, None, True, None, None, 1e-17, 1e300],
        "b": {},
        "c": [],
        "3": [0.5],
    }
    assert written["note"] == "é\n"


def test_the_first_run_played_beside_the_workers_is_the_serial_one() -> None:
    from sim.runner import Runner, Traffic

    scenario = load_scenario(SCENARIOS / "small.yaml")
    traffic = Traffic(scenario, seed=2, replications=3)
    with Runner(traffic, jobs=2) as parallel:
        two = parallel.run(scenario, keep_first=True)
    one = Runner(traffic).run(scenario, keep_first=True)
    assert two.first_run is not None and one.first_run is not None
    assert [r.to_dict() for r in two.first_run.conversations] == [
        r.to_dict() for r in one.first_run.conversations
    ]
    assert two.measurements == one.measurements
