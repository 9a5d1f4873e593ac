"""The planner: shift covers are optimal (checked by brute force), the staffing it finds for a
queue that theory can size agrees with Erlang A, and ``chatsim staff`` writes its plan."""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path

import numpy as np
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
    with_staffing,  # noqa: F401  (the planner's public API)
)
from sim.scenario import load_scenario, parse_scenario
from sim.shifts import scheduled_agents

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


def queue_data(targets: dict, hours: int = 6, rate: float = RATE) -> dict:
    """M/M/n+M in chat clothes (sim.textbook): one chat per agent, a flat ``rate`` per second,
    12 agents staffed as the scenario's own plan."""
    return textbook.queue_data(
        12, rate, HANDLE, PATIENCE, intervals=hours, interval="1h", target=20, targets=targets
    )


def queue(targets: dict, hours: int = 6, rate: float = RATE) -> tuple:
    return parse_scenario(queue_data(targets, hours, rate)), rate, HANDLE, PATIENCE


@pytest.mark.parametrize("rate", [0.01, 0.03, 0.08])
def test_a_stationary_queue_gets_erlang_a_staffing(rate):
    """On M/M/n+M (max_chats 1) the model's requirement must be Erlang A's (sim.erlang, checked
    on its own against published examples), at loads of 3, 9 and 24 Erlangs. An hour holds
    36-290 conversations and the planner draws enough traces for 200 an interval; one agent
    moves the service level by several standard errors there, so every interval but the first
    (which starts empty) and the last (whose agents leave at the horizon with a queue still
    waiting) lands within one agent of theory."""
    scenario, rate, handle, patience = queue({"service_level": 0.8}, rate=rate)
    theory = agents_for_service_level(rate, handle, 20.0, 0.8, mean_patience=patience).agents
    with Planner(scenario, scope="interval", replications=4, seed=3) as planner:
        required, evaluation = planner.search_interval()
    assert all(abs(n - theory) <= 1 for n in required["a"][1:-1]), (required, theory)
    assert not any(evaluation.intervals[j]["service_level"].short(0.8) for j in range(6))


def test_the_requirement_follows_a_sinusoidal_load_with_its_lag():
    """Arrivals that rise and fall over three hours, conversations of 20 minutes: agents are
    needed where conversations are held, which peaks later than arrivals (the modified offered
    load); every interval's verified service level stays within a few points of the target."""
    data = textbook.queue_data(
        10, 0.02, 1200.0, 600.0, intervals=24, interval="15m", target=60,
        targets={"service_level": 0.8},
    )  # fmt: skip
    profile = [1.0 + 0.8 * math.sin(2 * math.pi * j / 12) for j in range(24)]
    data["channels"]["chat"]["profile"] = profile
    scenario = parse_scenario(data)
    plan = plan_staff(scenario, scope="interval", shift_lengths=[900], replications=6, seed=2)
    required = plan.required["a"]
    arrival_peak = int(np.argmax(profile[:12]))
    staffing_peak = int(np.argmax(required[:12]))
    assert staffing_peak > arrival_peak, (required, profile)
    for j in range(2, 24):  # the first half hour starts empty
        assert plan.verified.intervals[j]["service_level"].value >= 0.8 - 0.05, j


@settings(max_examples=4, deadline=None)
@given(st.sampled_from([0.01, 0.02, 0.04]), st.integers(1, 50))
def test_more_volume_never_needs_fewer_agents(rate, seed):
    """Half as much traffic again never lowers the total requirement (every interval's load grows
    by half, far more than the noise of its estimate)."""
    totals = []
    for scale in (1.0, 1.5):
        scenario, *_ = queue({"service_level": 0.8}, hours=3, rate=rate * scale)
        with Planner(scenario, replications=3, seed=seed) as planner:
            required, _ = planner.search_interval()
        totals.append(sum(required["a"]))
    assert totals[1] >= totals[0]


def test_a_second_seed_moves_each_interval_by_at_most_one_agent():
    """Two seeds draw different traffic; an interval's decision moves only where its estimate
    sits within noise of the target, and one agent moves it by several standard errors here."""
    scenario, *_ = queue({"service_level": 0.8, "missed_rate": 0.1})
    found = []
    for seed in (1, 2):
        with Planner(scenario, replications=4, seed=seed) as planner:
            required, _ = planner.search_interval()
        found.append(required["a"])
    pairs = zip(found[0][1:-1], found[1][1:-1], strict=True)
    assert all(abs(a - b) <= 1 for a, b in pairs), found


def test_plan_covers_the_requirement_with_shifts_and_verifies():
    scenario, *_ = queue({"service_level": 0.8, "missed_rate": 0.05})
    plan = plan_staff(scenario, shift_lengths=[3 * 3600, 2 * 3600], replications=4, seed=2)
    assert all(on >= req for on, req in zip(plan.on_shift["a"], plan.required["a"], strict=True))
    assert plan.scenario.agents[0].shifts and plan.scenario.agents[0].staffing is None
    assert plan.short == [] and plan.unreachable == []
    assert plan.agent_hours("a") == sum(b.length * b.count for b in plan.shifts["a"])


def test_day_scope_meets_the_day_with_fewer_agents_than_every_interval():
    scenario, *_ = queue({"service_level": 0.8})
    day = plan_staff(scenario, scope="day", shift_lengths=[3600], replications=4, seed=1)
    interval = plan_staff(scenario, scope="interval", shift_lengths=[3600], replications=4, seed=1)
    assert day.verified.day["service_level"].meets(0.8)
    assert day.cost() <= interval.cost()
    assert [p.agent_hours for p in day.tradeoff]  # every candidate is a point of the trade-off
    floored = plan_staff(
        scenario, scope="day", floors={"service_level": 0.85}, shift_lengths=[3600],
        replications=4, seed=1,
    )  # fmt: skip
    assert not any(floored.verified.intervals[j]["service_level"].short(0.85) for j in range(1, 6))
    assert floored.cost() >= day.cost()


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
        ({"service_level": 0.8}, ["nobody"], [7200], "no agent group"),
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


def two_groups(junior_cost: float | None) -> dict:
    """Chat and web, 0.03 conversations a second each; experts serve both, juniors (when
    given) only web, at ``junior_cost`` an agent-hour against the experts' 1."""
    data = queue_data({"service_level": 0.8, "missed_rate": 0.1}, hours=4)
    data["channels"]["web"] = dict(data["channels"]["chat"])
    data["agents"][0]["skills"] = ["chat", "web"]
    if junior_cost is not None:
        data["agents"].append(
            {"group": "juniors", "skills": ["web"], "max_chats": 1, "cost": junior_cost,
             "staffing": [1] * 4}
        )  # fmt: skip
    return data


def test_a_cheaper_group_for_some_channels_lowers_the_cost():
    one = plan_staff(parse_scenario(two_groups(None)), shift_lengths=[3600], replications=4)
    two = plan_staff(parse_scenario(two_groups(0.5)), shift_lengths=[3600], replications=4)
    assert sum(two.on_shift["juniors"]) > 0  # the juniors are worth their cost on web
    assert two.cost() < one.cost()
    assert two.short == [] and two.verified.day["service_level"].meets(0.8)


def test_a_group_not_planned_keeps_its_schedule_and_carries_load():
    data = two_groups(0.5)
    data["agents"][1]["staffing"] = [3] * 4
    plan = plan_staff(parse_scenario(data), ["a"], shift_lengths=[3600], replications=3)
    assert plan.groups == ["a"] and "juniors" not in plan.required
    assert plan.scenario.agents[1].staffing == [3] * 4
    alone = plan_staff(parse_scenario(two_groups(None)), shift_lengths=[3600], replications=3)
    assert sum(plan.required["a"]) < sum(alone.required["a"])  # the juniors take web's load


def test_an_unreachable_target_is_diagnosed_and_no_agent_is_added_for_it():
    """Patience of one second under reply work of five: nobody is ever answered in time, so the
    service level target is out of reach everywhere. It is named, and the staffing is what the
    other target alone asks for."""
    data = queue_data({"service_level": 0.8, "missed_rate": 1.0})
    data["channels"]["chat"]["patience"] = {"dist": "constant", "value": 1.0}
    data["channels"]["chat"]["reply"] = {"dist": "constant", "value": 5.0}
    scenario = parse_scenario(data)
    plan = plan_staff(scenario, shift_lengths=[3600], replications=2, seed=1)
    assert {u.kpi for u in plan.unreachable} == {"service_level"}
    assert len(plan.unreachable) == 6 and "patience" in plan.unreachable[0].reason
    data["targets"] = {"missed_rate": 1.0}
    alone = plan_staff(parse_scenario(data), shift_lengths=[3600], replications=2, seed=1)
    assert plan.required == alone.required
    day = plan_staff(scenario, scope="day", shift_lengths=[3600], replications=2, seed=1)
    assert [(u.kpi, u.where) for u in day.unreachable] == [("service_level", "day")]


@pytest.mark.slow
def test_tele2_day_scope_meets_the_day_with_no_more_hours_than_its_own_shifts():
    """The bundled operator day: planned over the day with 8 and 9 hour shifts, the verified
    plan meets every day target with no more agent-hours than the scenario's own shifts."""
    scenario = load_scenario(ROOT / "scenarios" / "tele2-weekday.yaml")
    plan = plan_staff(
        scenario, scope="day", shift_lengths=[8 * 3600, 9 * 3600], replications=4, seed=1, jobs=2
    )
    assert all(plan.verified.day[k].meets(v) for k, v in plan.targets.items()), plan.verified.day
    own = sum(float(a.sum()) for a in scheduled_agents(scenario).groups.values()) * 0.25
    planned = sum(plan.agent_hours(g) for g in plan.groups)
    assert planned <= own, (planned, own)


def run_cli(*args: object) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return int(exit_info.value.code or 0)


def test_cli_writes_the_plan(tmp_path, capsys):
    report = tmp_path / "plan.html"
    code = run_cli(
        "staff", SMALL, "-n", 4, "--shift-length", "3h", "--shift-length", "2h",
        "--out", tmp_path, "--report", report,
    )  # fmt: skip
    out = capsys.readouterr().out
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>")  # the planned shifts, simulated
    assert 'id="tradeoff"' in html and "agent-hours" in html
    assert "agents per interval" in out and "agent-hours and cost" in out and "reach" in out
    with (tmp_path / "plan.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert set(rows[0]) >= {
        "interval",
        "group",
        "offered",
        "load",
        "required",
        "scheduled",
        "over_under",
        "service_level",
        "missed_rate",
        "insession_mean",
    }
    assert len(rows) == load_scenario(SMALL).n_intervals and all(
        int(r["scheduled"]) >= int(r["required"]) for r in rows
    )
    assert all(int(r["over_under"]) == int(r["scheduled"]) - int(r["required"]) for r in rows)
    assert code == (1 if "not met" in out else 0)
    assert [int(r["required"]) for r in rows] != [0] * len(rows)
    shifts = yaml.safe_load((tmp_path / "shifts.yaml").read_text())
    assert shifts[0]["group"] == "experts" and sum(s["count"] for s in shifts[0]["shifts"]) >= 1
    planned = yaml.safe_load(SMALL.read_text())
    planned["agents"][0]["shifts"] = shifts[0]["shifts"]  # pasted back, the scenario still loads
    path = tmp_path / "planned.yaml"
    path.write_text(yaml.safe_dump(planned))
    assert load_scenario(path).agents[0].shifts
    assert (tmp_path / "verified" / "results.json").exists()


def test_cli_names_an_unreachable_target_and_exits_1(tmp_path, capsys):
    data = queue_data({"service_level": 0.8})
    data["channels"]["chat"]["patience"] = {"dist": "constant", "value": 1.0}
    data["channels"]["chat"]["reply"] = {"dist": "constant", "value": 5.0}
    path = tmp_path / "hopeless.yaml"
    path.write_text(yaml.safe_dump(data))
    assert run_cli("staff", path, "-n", 2, "--shift-length", "1h", "--scope", "day") == 1
    captured = capsys.readouterr()
    assert "out of reach" in captured.err and "service_level" in captured.out
    assert "trade-off" in captured.out


def test_cli_bad_input_exits_2(tmp_path):
    assert run_cli("staff", SMALL, "--group", "nobody") == 2
    assert run_cli("staff", SMALL, "--shift-length", "7m") == 2
    assert run_cli("staff", SMALL, "--shift-length", "soon") == 2
    untargeted = tmp_path / "untargeted.yaml"
    data = yaml.safe_load(SMALL.read_text())
    del data["targets"]
    untargeted.write_text(yaml.safe_dump(data))
    assert run_cli("staff", untargeted) == 2
    assert run_cli("staff", SMALL, "--scope", "week") == 2
    assert run_cli("staff", SMALL, "--floor", "service_level=0.8") == 2  # floors are for day scope
    assert run_cli("staff", SMALL, "--scope", "day", "--floor", "speed=3") == 2


def test_an_interval_whose_every_target_is_out_of_reach_keeps_its_start():
    """With its only target out of reach, nothing bounds an interval from below: it keeps the
    safety staffing it started with instead of shrinking to one agent."""
    data = queue_data({"service_level": 0.8}, hours=3)
    data["channels"]["chat"]["reply"] = {"dist": "constant", "value": 5.0}
    data["channels"]["chat"]["first_response_target"] = 1  # five seconds of typing: never
    with Planner(parse_scenario(data), replications=2, seed=1) as planner:
        assert len(planner.unreachable) == 3
        required, _ = planner.search_interval()
        start = planner.staffing(4.0)  # the start bisects down from here; every share is met
    assert all(n >= 3 for n in required["a"]), required  # a fluid load of about nine agents
    assert all(n <= s for n, s in zip(required["a"], start["a"], strict=True))


def test_a_channel_with_its_own_targets_is_held_to_them():
    """Web chat promises 95% where the scenario promises 80%: web is judged alone against its
    own target, chat (pooled) against the scenario's, and the stricter promise costs agents."""
    data = two_groups(None)
    plain = plan_staff(parse_scenario(data), shift_lengths=[3600], replications=4, seed=2)
    data["channels"]["web"]["targets"] = {"service_level": 0.95}
    strict = plan_staff(parse_scenario(data), shift_lengths=[3600], replications=4, seed=2)
    assert strict.goals == {"all": {"service_level": 0.8, "missed_rate": 0.1},
                            "web": {"service_level": 0.95}}  # fmt: skip
    assert strict.short == [], strict.short
    for j in range(1, 4):
        assert strict.verified.at("web", j)["service_level"].value >= 0.95 - 0.03
    assert strict.cost() > plain.cost()


def test_an_isolated_peak_within_noise_is_smoothed_away():
    """An interval one agent above both neighbours, whose one-agent-fewer estimate missed only
    within noise, comes down; a peak backed by a clear miss, or one a neighbour shares, stays."""
    scenario, *_ = queue({"service_level": 0.8})
    with Planner(scenario, replications=2, seed=1) as planner:
        staffing = {"a": [9, 10, 9, 9, 11, 9]}
        assert planner._smooth(staffing, {1: (9, -0.8), 4: (10, -3.0)})
        assert staffing["a"] == [9, 9, 9, 9, 11, 9]  # 4: a clear miss at ten
        shared = {"a": [9, 10, 10, 9, 9, 9]}
        assert not planner._smooth(shared, {1: (9, -0.5)}) and shared["a"][1] == 10
