"""``chatsim sweep``: the grid, common random numbers, the table, the report and bad arguments."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from sim.cli import main
from sim.scenario import load_scenario
from sim.sweep import (
    KPIS,
    Sweep,
    SweepError,
    Thinning,
    check_axes,
    grid,
    parse_axis,
    point_scenario,
    run_sweep,
    table,
)
from sim.traffic import draw_trace

ROOT = Path(__file__).resolve().parent.parent
SMALL_PATH = ROOT / "scenarios" / "small.yaml"
SMALL = load_scenario(SMALL_PATH)

TOLERANCE = 0.02
"""How far service level may move against the model's direction between neighbouring grid
points (2 pp): on common random numbers more agents never make the same conversations wait
longer on average beyond the reordering noise of routing, nor do more of the same conversations
(the lower volumes' traffic is a subset) make them wait less."""


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


@pytest.fixture(scope="module")
def swept() -> Sweep:
    axes = [parse_axis(SMALL, "volume=0.8:1.2:0.2"), parse_axis(SMALL, "agents.experts=-1:+1")]
    return run_sweep(SMALL, axes, replications=3, seed=2)


def _sl(sweep: Sweep, values: tuple[float, ...]) -> float:
    point = next(p for p in sweep.points if p.values == values)
    mean = point.results.total["service_level"]["mean"]
    assert mean is not None
    return mean


def test_the_grid_and_its_table(swept: Sweep):
    assert [p.values for p in swept.points] == [
        (v, a) for v in (0.8, 1.0, 1.2) for a in (-1.0, 0.0, 1.0)
    ]
    rows = table(swept)
    assert len(rows) == 9 * 4  # every point: all and three channels
    assert [r["channel"] for r in rows[:4]] == ["all", "whatsapp", "telegram", "webchat"]
    first = rows[0]
    assert first["volume"] == 0.8 and first["agents.experts"] == -1
    assert first["replications"] == 3 and first["seed"] == 2
    for key in KPIS:
        assert key in first and f"{key}_ci95" in first
    assert first["occupancy"] is not None and rows[1]["occupancy"] is None  # agents: total only
    # Shifts 09-12 x3 and 10-12 x1 are 11 agent-hours; one agent more in each shift: 16.
    hours = {p.values[1]: p.agent_hours for p in swept.points}
    assert hours == {-1.0: 6.0, 0.0: 11.0, 1.0: 16.0}
    assert all(p.cost == p.agent_hours for p in swept.points)  # small's group costs 1
    # Thinned traffic: the lower volume offers fewer of the same conversations.
    offered = {p.values: p.results.total["offered"]["mean"] for p in swept.points}
    assert offered[(0.8, 0.0)] < offered[(1.0, 0.0)] < offered[(1.2, 0.0)]
    assert offered[(1.0, -1.0)] == offered[(1.0, 0.0)] == offered[(1.0, 1.0)]


def test_service_level_is_monotone_on_common_random_numbers(swept: Sweep):
    for volume in (0.8, 1.0, 1.2):
        levels = [_sl(swept, (volume, a)) for a in (-1.0, 0.0, 1.0)]
        assert all(b >= a - TOLERANCE for a, b in itertools.pairwise(levels)), levels
    for agents in (-1.0, 0.0, 1.0):
        levels = [_sl(swept, (v, agents)) for v in (0.8, 1.0, 1.2)]
        assert all(b <= a + TOLERANCE for a, b in itertools.pairwise(levels)), levels


def test_the_cheapest_point_meeting_the_targets_is_the_tables(swept: Sweep):
    rows = [r for r in table(swept) if r["channel"] == "all"]
    targets = SMALL.targets

    def meets(row: dict[str, object]) -> bool:
        return (
            float(row["service_level"]) >= targets.service_level  # type: ignore[arg-type]
            and float(row["missed_rate"]) <= targets.missed_rate  # type: ignore[arg-type]
            and float(row["insession_mean"]) <= targets.insession_mean  # type: ignore[arg-type]
        )

    meeting = [r for r in rows if meets(r)]
    assert meeting and len(meeting) < len(rows)  # the grid straddles the targets
    expected = min(meeting, key=lambda r: (r["cost"], r["point"]))
    best = swept.cheapest()
    assert best is not None and best.index == expected["point"]
    assert [r["point"] for r in rows if r["cheapest"]] == [expected["point"]]
    assert all(r["meets_targets"] == meets(r) for r in rows)


def test_serial_and_parallel_sweeps_are_identical_and_written(tmp_path: Path):
    axes = [parse_axis(SMALL, "volume=0.9,1.1"), parse_axis(SMALL, "patience.mean=0.5,1")]
    serial = table(run_sweep(SMALL, axes, replications=2, seed=5))
    out, report = tmp_path / "out", tmp_path / "sweep.html"
    code = run_cli(
        "sweep", str(SMALL_PATH), "--vary", "volume=0.9,1.1", "--vary", "patience.mean=0.5,1",
        "-n", "2", "--seed", "5", "-j", "2", "--out", str(out), "--report", str(report),
    )  # fmt: skip
    assert code == 0
    with (out / "sweep.csv").open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert written == [{k: "" if v is None else str(v) for k, v in row.items()} for row in serial]
    html = report.read_text(encoding="utf-8")
    assert 'id="grid"' in html and 'id="cheapest"' in html and "data:image/png" in html


def test_thinning_keeps_nested_subsets():
    trace = draw_trace(SMALL, 1, 0, texts=False)
    half = {c.id for c in Thinning((("whatsapp", 0.5),))(trace).conversations}
    most = {c.id for c in Thinning((("whatsapp", 0.8),))(trace).conversations}
    every = {c.id for c in trace.conversations}
    assert half < most < every
    others = {c.id for c in trace.conversations if c.channel != "whatsapp"}
    assert others <= half  # other channels untouched
    whatsapp = sum(c.channel == "whatsapp" for c in trace.conversations)
    assert abs(len(half - others) - whatsapp / 2) < 4 * (whatsapp / 4) ** 0.5


def test_point_scenarios():
    axes = [
        parse_axis(SMALL, "agents.experts=-5"),
        parse_axis(SMALL, "channels.webchat.volume=2"),
        parse_axis(SMALL, "patience.mean=2m"),
        parse_axis(SMALL, "channels.whatsapp.reply.mean=1.5"),
    ]
    check_axes(axes)
    scenario, rewrite = point_scenario(SMALL, axes, grid(axes)[0])
    assert [s.count for s in scenario.agents[0].shifts or []] == [0, 0]  # never below 0
    assert scenario.channels["webchat"].mean_volume == 300
    assert scenario.channels["whatsapp"].mean_volume == 180
    patience = [c.patience.mean_value for c in scenario.channels.values()]
    assert sum(patience) / 3 == pytest.approx(120.0)  # the average mean, ratios kept
    assert scenario.channels["whatsapp"].reply.mean_value == pytest.approx(30.0)
    assert not rewrite.thinning  # the traces are drawn at webchat's largest factor
    assert rewrite.scale


@pytest.mark.parametrize(
    ("vary", "problem"),
    [
        ("volume", "expected PATH=VALUES"),
        ("volume=1:0.5:0.1", "STOP (0.5) is below START (1)"),
        ("volume=0.8:1.2", "a step is needed"),
        ("volume=-0.5", "at least 0"),
        ("volume=a:b:c", "'a' is not a number"),
        ("agents.experts=0.5", "whole numbers"),
        ("agents.nobody=1", "unknown agent group 'nobody'"),
        ("channels.sms.volume=1", "unknown channel 'sms'"),
        ("patience.mean=1,30s", "not both"),
        ("patience=1", "did you mean patience.mean?"),
        ("reply.mean=0:1:0", "the step must be above 0"),
    ],
)
def test_bad_vary_arguments_exit_2(vary: str, problem: str, capsys: pytest.CaptureFixture[str]):
    assert run_cli("sweep", str(SMALL_PATH), "--vary", vary) == 2
    err = capsys.readouterr().err
    assert "--vary" in err and problem in err, err


def test_axes_that_move_the_same_thing_are_refused():
    with pytest.raises(SweepError, match="both move"):
        check_axes(
            [parse_axis(SMALL, "volume=1,2"), parse_axis(SMALL, "channels.webchat.volume=1")]
        )
    with pytest.raises(SweepError, match="at least one axis"):
        check_axes([])
