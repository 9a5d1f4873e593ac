"""The planner: shift covers are optimal (checked by brute force), the staffing it finds for a
queue that theory can size agrees with Erlang A, and ``chatsim staff`` writes its plan."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import textbook
from sim.cli import main
from sim.erlang import agents_for_service_level
from sim.planner import (
    Planner,
    PlanningError,
    ShiftBlock,
    cover,
    head_count,
    plan_staff,
    with_shifts,
    with_staffing,
)
from sim.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "scenarios" / "small.yaml"


def cost(shifts: list[ShiftBlock]) -> int:
    return sum(b.length * b.count for b in shifts)


def test_cover_hand_example():
    # Two 4-interval shifts of 1 and 2 agents are the only cheapest cover (12 agent-intervals).
    shifts = cover([1, 1, 1, 1, 2, 2, 2, 2], [4])
    assert sorted(shifts, key=lambda b: b.first) == [ShiftBlock(0, 4, 1), ShiftBlock(4, 4, 2)]
    assert cover([0, 0, 0], [2]) == []
    with pytest.raises(PlanningError):
        cover([1, 2], [0])


def brute_force(required: list[int], lengths: list[int]) -> int:
    """Every combination of every shift (start, full length), up to max(required) of each."""
    n = len(required)
    options = [(first, length) for length in lengths for first in range(n)]
    best = None
    for counts in itertools.product(range(max(required) + 1), repeat=len(options)):
        covered = [0] * n
        for (first, length), count in zip(options, counts, strict=True):
            for j in range(first, min(first + length, n)):
                covered[j] += count
        if all(c >= r for c, r in zip(covered, required, strict=True)):
            total = sum(
                length * count for (_, length), count in zip(options, counts, strict=True)
            )  # paid in full
            best = total if best is None else min(best, total)
    assert best is not None
    return best


def paid(shifts: list[ShiftBlock], n: int, lengths: list[int]) -> int:
    """What the cover's shifts cost: their full length, also when cut at the horizon."""
    return sum(
        b.count * (b.length if b.first + b.length < n else min(x for x in lengths if x >= b.length))
        for b in shifts
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 2), min_size=1, max_size=4),
    st.lists(st.integers(2, 3), min_size=1, max_size=2, unique=True),
)
def test_cover_is_feasible_and_optimal(required, lengths):
    shifts = cover(required, lengths)
    assert all(c >= r for c, r in zip(head_count(shifts, len(required)), required, strict=True))
    assert paid(shifts, len(required), lengths) == (
        brute_force(required, lengths) if any(required) else 0
    )


def test_a_shift_cut_at_the_horizon_costs_its_full_length():
    # A late peak is not covered by cheap stubs: the 4-interval shift costs 4 even when cut at 1.
    assert cover([0, 0, 0, 2], [4]) == [ShiftBlock(3, 1, 2)]
    assert cover([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 3], [4, 8]) == [
        ShiftBlock(0, 8, 1),
        ShiftBlock(11, 1, 3),
    ]


RATE, HANDLE, PATIENCE = 0.03, 300.0, 120.0


def queue_data(targets: dict, hours: int = 6) -> dict:
    """M/M/n+M in chat clothes (sim.textbook): one chat per agent, a flat 108 conversations an
    hour, 12 agents staffed as the scenario's own plan."""
    return textbook.queue_data(
        12, RATE, HANDLE, PATIENCE, intervals=hours, interval="1h", target=20, targets=targets
    )


def queue(targets: dict, hours: int = 6) -> tuple:
    return parse_scenario(queue_data(targets, hours)), RATE, HANDLE, PATIENCE


def test_a_queue_theory_sizes_gets_erlang_a_staffing():
    """On M/M/n+M the model's answer must be Erlang A's (sim.erlang, checked on its own against
    published examples). Intervals are an hour of about 108 conversations, 8 traces each, so a
    per-interval service level carries about 1.5 pp of noise while one agent moves it by 5 pp
    or more here: every interval after the first (which starts empty) lands within one agent of
    theory, and most on it."""
    scenario, rate, handle, patience = queue({"service_level": 0.8})
    theory = agents_for_service_level(rate, handle, 20.0, 0.8, mean_patience=patience).agents
    planner = Planner(scenario, replications=8, seed=3)
    start = planner.erlang_start()
    assert all(abs(n - theory) <= 1 for n in start[1:])  # measured inputs, then the formula
    required, evaluation = planner.search(start)
    assert all(abs(n - theory) <= 1 for n in required[1:]), (required, theory)
    assert sum(n == theory for n in required[1:]) >= 3, (required, theory)
    assert all(sl >= 0.8 for sl in evaluation.service_level)
    fewer = planner.evaluate(
        with_staffing(scenario, "a", [n - 1 if j == 3 else n for j, n in enumerate(required)])
    )
    assert fewer.service_level[3] < 0.8  # and it is the least: one agent fewer misses


def test_plan_covers_the_requirement_with_shifts_and_verifies():
    scenario, *_ = queue({"service_level": 0.8, "missed_rate": 0.05})
    plan = plan_staff(scenario, shift_lengths=[3 * 3600, 2 * 3600], replications=4, seed=2)
    assert all(on >= req for on, req in zip(plan.on_shift, plan.required, strict=True))
    assert plan.scenario.agents[0].shifts and plan.scenario.agents[0].staffing is None
    assert plan.unmet == []
    assert plan.agent_hours(3600.0)[1] == sum(b.length * b.count for b in plan.shifts)


def test_parallel_evaluation_gives_the_same_plan():
    scenario, *_ = queue({"service_level": 0.8})
    serial = plan_staff(scenario, shift_lengths=[7200], replications=4, seed=5)
    parallel = plan_staff(scenario, shift_lengths=[7200], replications=4, seed=5, jobs=2)
    assert (parallel.required, parallel.shifts, parallel.results.to_dict()) == (
        serial.required,
        serial.shifts,
        serial.results.to_dict(),
    )


def test_shifts_become_clock_times():
    scenario, *_ = queue({"service_level": 0.8})
    planned = with_shifts(scenario, "a", [ShiftBlock(0, 2, 3), ShiftBlock(4, 2, 1)])
    windows = [(scenario.shift_window(s), s.count) for s in planned.agents[0].shifts or []]
    assert windows == [((0.0, 7200.0), 3), ((14400.0, 21600.0), 1)]


@pytest.mark.parametrize(
    ("targets", "group", "lengths", "problem"),
    [
        ({}, None, [7200], "no target"),
        ({"service_level": 0.8}, "nobody", [7200], "no agent group"),
        ({"service_level": 0.8}, None, [5400], "whole number of intervals"),
    ],
)
def test_what_cannot_be_planned(targets, group, lengths, problem):
    scenario, *_ = queue(targets)
    with pytest.raises(PlanningError, match=problem):
        plan_staff(scenario, group, shift_lengths=lengths, replications=1)


def test_only_plannable_scenarios(tmp_path):
    scenario, *_ = queue({"service_level": 0.8})
    with pytest.raises(PlanningError, match="up to 24 hours"):
        plan_staff(scenario.model_copy(update={"duration": 2 * 86400.0}), replications=1)
    with pytest.raises(PlanningError, match="whole minutes"):
        plan_staff(scenario.model_copy(update={"interval": 90.0}), replications=1)


def test_the_group_answers_for_its_own_channels():
    """Two groups, two channels: the other group's channel failing its target is not a reason
    to grow the planned group."""
    data = queue_data({"service_level": 0.8})
    data["channels"]["other"] = {
        **data["channels"]["chat"],
        "first_response_target": 0.001,
        "patience": {"dist": "constant", "value": 1.0},
    }
    data["agents"].append({"group": "b", "skills": ["other"], "max_chats": 1, "staffing": [1] * 6})
    scenario = parse_scenario(data)
    planner = Planner(scenario, "a", replications=3, seed=1)
    required, evaluation = planner.search(planner.erlang_start())
    assert not any(planner.out_of_reach) and max(required) <= 14
    assert all(sl >= 0.8 for sl in evaluation.service_level)  # those of channel chat


def test_an_unreachable_target_does_not_inflate_the_staffing():
    """Patience of one second under reply work of five: nobody is ever answered in time, so the
    service level target is out of reach; the planner stops and keeps no useless agents."""
    data = queue_data({"service_level": 0.8})
    data["channels"]["chat"]["patience"] = {"dist": "constant", "value": 1.0}
    data["channels"]["chat"]["reply"] = {"dist": "constant", "value": 5.0}
    planner = Planner(parse_scenario(data), replications=2, seed=1)
    required, _ = planner.search([3] * 6)
    assert all(planner.out_of_reach) and required == [3] * 6


def run_cli(*args: object) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return int(exit_info.value.code or 0)


def test_cli_writes_the_plan(tmp_path, capsys):
    report = tmp_path / "plan.html"
    code = run_cli(
        "staff",
        SMALL,
        "-n",
        4,
        "--shift-length",
        "3h",
        "--shift-length",
        "2h",
        "--out",
        tmp_path,
        "--report",
        report,
    )
    out = capsys.readouterr().out
    assert report.read_text().startswith("<!DOCTYPE html>")  # the planned shifts, simulated
    assert "agents per interval" in out and "agent-hours of experts" in out
    with (tmp_path / "plan.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    targets = load_scenario(SMALL).targets
    short = [
        r
        for r in rows
        if r["service_level"]
        and (
            float(r["service_level"]) < targets.service_level
            or float(r["missed_rate"]) > targets.missed_rate
        )
    ]
    assert code == (1 if short else 0) and ("still short" in out) == bool(short)
    assert len(rows) == load_scenario(SMALL).n_intervals and all(
        int(r["on_shift"]) >= int(r["required"]) for r in rows
    )
    assert [int(r["required"]) for r in rows] != [0] * len(rows)
    shifts = yaml.safe_load((tmp_path / "shifts.yaml").read_text())
    assert shifts["group"] == "experts" and sum(s["count"] for s in shifts["shifts"]) >= 1
    planned = yaml.safe_load(SMALL.read_text())
    planned["agents"][0]["shifts"] = shifts["shifts"]  # pasted back, the scenario still loads
    path = tmp_path / "planned.yaml"
    path.write_text(yaml.safe_dump(planned))
    assert load_scenario(path).agents[0].shifts
    assert (tmp_path / "verified" / "results.json").exists()


def test_cli_bad_input_exits_2(tmp_path):
    assert run_cli("staff", SMALL, "--group", "nobody") == 2
    assert run_cli("staff", SMALL, "--shift-length", "7m") == 2
    assert run_cli("staff", SMALL, "--shift-length", "soon") == 2
    untargeted = tmp_path / "untargeted.yaml"
    data = yaml.safe_load(SMALL.read_text())
    del data["targets"]
    untargeted.write_text(yaml.safe_dump(data))
    assert run_cli("staff", untargeted) == 2
