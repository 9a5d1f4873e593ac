"""Shift templates (sim.templates): the integer program's roster with breaks is optimal (brute
force over explicit placements), keeps every break in its window and the head counts within
their bounds, says why when no roster exists, wraps night shifts on a day; the scenario checks
templates; the planner rosters them gross of shrinkage and absence and verifies them."""

from __future__ import annotations

import copy
import csv
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import textbook
from sim.cli import main
from sim.durations import parse_duration
from sim.errors import InputError, PlanningError
from sim.planner import plan_staff, planned_groups
from sim.roster import draw_roster
from sim.scenario import Scenario, Targets, load_scenario, parse_scenario
from sim.shifts import (
    BreakBlock,
    ShiftBlock,
    head_count,
    paid_intervals,
    scenario_shifts,
    with_shifts,
)
from sim.templates import cover_templates, program, template_starts

ROOT = Path(__file__).resolve().parent.parent


def scenario(
    templates: list[dict[str, Any]],
    *,
    start: str = "09:00",
    duration: str = "2h",
    interval: str = "15m",
    **group: Any,
) -> Scenario:
    n = round(_seconds(duration) / _seconds(interval))
    return parse_scenario(
        {
            "name": "templates",
            "start": start,
            "duration": duration,
            "interval": interval,
            "channels": {
                "chat": {
                    "protocol": "webchat",
                    "volume": 10,
                    "patience": {"dist": "exponential", "mean": "2m"},
                    "reply": {"dist": "constant", "value": 10},
                }
            },
            "agents": [
                {"group": "a", "skills": ["chat"], "staffing": [1] * n, "templates": templates}
                | group
            ],
        },
        file="t.yaml",
    )


def _seconds(text: str) -> float:
    return parse_duration(text)


# --- brute force over explicit placements -------------------------------------------------


def explicit(s: Scenario) -> list[tuple[int, tuple[int, ...], int]]:
    """Every (template, start, length, placement) of the group, from first principles:
    ``(template, intervals at work, paid intervals)``. Starts are the template's clock times
    on the day; a shift past the horizon wraps when the horizon is whole days, else is cut."""
    n, step = s.n_intervals, s.interval
    wrap = s.duration % 86400 == 0
    found = []
    for k, t in enumerate(s.agents[0].templates or []):
        clock = t.earliest
        while clock <= t.latest:
            first = round(((clock - s.start) % 86400) / step)
            clock += t.step or step
            if first >= n:
                continue
            windows = [
                range(round(b.earliest / step), round(b.latest / step) + 1) for b in t.breaks
            ]
            for seconds in t.lengths:
                length = round(seconds / step)
                for way in itertools.product(*windows):
                    lengths = [round(b.length / step) for b in t.breaks]
                    ends = [p + size for p, size in zip(way, lengths, strict=True)]
                    if any(way[i + 1] < ends[i] for i in range(len(way) - 1)):
                        continue  # in order, one after another
                    away = {
                        p + d for p, size in zip(way, lengths, strict=True) for d in range(size)
                    }
                    work = [first + o for o in range(length) if o not in away]
                    covers = tuple(sorted(j % n for j in work if wrap or j < n))
                    unpaid = sum(
                        size for size, b in zip(lengths, t.breaks, strict=True) if not b.paid
                    )
                    found.append((k, covers, length - unpaid))
    return found


def brute_force(s: Scenario, required: list[int]) -> int | None:
    """The least paid agent-intervals of any head counts per explicit option (up to the largest
    requirement or minimum, which an optimal roster never exceeds on one option) that cover
    ``required`` within the head-count bounds; None when none does."""
    group = s.agents[0]
    templates = group.templates or []
    options = explicit(s)
    bound = max([*required, group.min_agents or 0, *(t.min for t in templates)])
    counts = np.array(list(itertools.product(range(bound + 1), repeat=len(options))))
    coverage = np.zeros((len(options), s.n_intervals), dtype=int)
    for i, (_, covers, _) in enumerate(options):
        for j in covers:
            coverage[i, j] += 1
    ok = (counts @ coverage >= np.array(required)).all(axis=1)
    for k, t in enumerate(templates):
        heads = counts @ np.array([o[0] == k for o in options], dtype=int)
        ok &= (heads >= t.min) & (heads <= (t.max if t.max is not None else 10**9))
    total = counts.sum(axis=1)
    ok &= (total >= (group.min_agents or 0)) & (total <= (group.max_agents or 10**9))
    if not ok.any():
        return None
    return int((counts[ok] @ np.array([o[2] for o in options])).min())


def check_roster(s: Scenario, blocks: list[ShiftBlock], required: list[int]) -> None:
    """Coverage holds, every break is in its window and order, head counts are in bounds."""
    group = s.agents[0]
    templates = {t.name: t for t in group.templates or []}
    assert all(c >= r for c, r in zip(head_count(blocks, s.n_intervals), required, strict=True)), (
        blocks,
        required,
    )
    for block in blocks:
        template = templates[block.template or ""]
        assert block.first in template_starts(s, template)
        end = block.first + block.length
        for pause, rule in zip(block.breaks, template.breaks, strict=False):
            offset = (pause.first - block.first) * s.interval
            assert rule.earliest <= offset <= rule.latest, (block, rule)
            assert pause.length * s.interval == rule.length and pause.paid == rule.paid
            assert pause.first < end
        starts = [p.first for p in block.breaks]
        assert starts == sorted(starts)
    for name, template in templates.items():
        heads = sum(b.count for b in blocks if b.template == name)
        assert template.min <= heads <= (template.max if template.max is not None else heads)
    total = sum(b.count for b in blocks)
    assert (group.min_agents or 0) <= total <= (group.max_agents or total)


CUT = [  # two hours from 09:00: 1h shifts with an unpaid 15-minute break, and 1h shifts without
    # from 09:15 (the last cut at the horizon, paid in full); 9 explicit options
    {"name": "hour", "lengths": ["1h"], "earliest": "09:00", "latest": "10:00", "step": "30m",
     "breaks": [{"length": "15m", "earliest": "15m", "latest": "30m", "paid": False}]},
    {"name": "short", "lengths": ["1h"], "earliest": "09:15", "latest": "10:15", "step": "30m"},
]  # fmt: skip

WRAP = [  # a day in two-hour intervals: day shifts with a break, night shifts past midnight
    {"name": "day", "lengths": ["8h"], "earliest": "06:00", "latest": "10:00", "step": "2h",
     "breaks": [{"length": "2h", "earliest": "2h", "latest": "4h"}]},
    {"name": "night", "lengths": ["8h"], "earliest": "20:00", "latest": "22:00", "step": "2h"},
]  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 2), min_size=8, max_size=8),
    st.sampled_from([None, 0, 1, 2]),
    st.sampled_from([0, 1, 2]),
)
def test_cover_with_breaks_is_optimal_on_a_cut_horizon(required, short_max, hour_min):
    templates = copy.deepcopy(CUT)
    templates[0]["min"] = hour_min
    if short_max is not None:
        templates[1]["max"] = short_max
    s = scenario(templates)
    best = brute_force(s, required)
    if best is None:
        with pytest.raises(PlanningError, match="group 'a'"):
            cover_templates(required, s, s.agents[0])
        return
    blocks = cover_templates(required, s, s.agents[0])
    check_roster(s, blocks, required)
    assert paid_intervals(blocks) == best


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=12, max_size=12), st.sampled_from([None, 1, 2]))
def test_cover_with_breaks_is_optimal_on_a_day_that_wraps(required, group_max):
    s = scenario(WRAP, start="00:00", duration="24h", interval="2h", max_agents=group_max)
    best = brute_force(s, required)
    if best is None:
        with pytest.raises(PlanningError, match="group 'a'"):
            cover_templates(required, s, s.agents[0])
        return
    blocks = cover_templates(required, s, s.agents[0])
    check_roster(s, blocks, required)
    assert paid_intervals(blocks) == best


OVERLAP = [  # two hours from 09:00, two breaks whose windows overlap (15m to 1h after the start)
    {"name": "t", "lengths": ["2h"], "earliest": "09:00", "latest": "09:15", "step": "15m",
     "breaks": [{"length": "30m", "earliest": "15m", "latest": "1h"},
                {"length": "15m", "earliest": "15m", "latest": "1h", "paid": False}]},
]  # fmt: skip


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=7, max_size=7), st.integers(0, 1))
def test_two_breaks_whose_windows_overlap_keep_their_order(required, last):
    """The second break never starts before the first has ended, and the roster is as cheap as
    the best explicit one (without the order rows the program takes the short break first and
    undercuts it)."""
    required = [*required, last]
    s = scenario(OVERLAP)
    assert program(s, s.agents[0]).order is not None
    best = brute_force(s, required)
    if best is None:
        with pytest.raises(PlanningError):
            cover_templates(required, s, s.agents[0])
        return
    blocks = cover_templates(required, s, s.agents[0])
    check_roster(s, blocks, required)
    for block in blocks:
        first, second = block.breaks
        assert second.first >= first.first + first.length
    assert paid_intervals(blocks) == best


# --- bounds and what cannot be rostered ---------------------------------------------------


def test_head_count_bounds_hold_and_a_binding_maximum_costs_more():
    s = scenario(CUT)
    required = [1, 1, 1, 1, 1, 1, 1, 1]
    free = cover_templates(required, s, s.agents[0])
    assert sum(b.count for b in free if b.template == "hour") >= 2  # cheaper (unpaid break)
    templates = copy.deepcopy(CUT)
    templates[0]["max"] = 1
    bounded = scenario(templates, min_agents=5)
    blocks = cover_templates(required, bounded, bounded.agents[0])
    check_roster(bounded, blocks, [0, 1, 1, 1, 1, 1, 1, 1])
    assert sum(b.count for b in blocks if b.template == "hour") <= 1
    assert sum(b.count for b in blocks) == 5
    assert paid_intervals(blocks) > paid_intervals(free)
    with pytest.raises(PlanningError, match="09:00 needs 2"):
        cover_templates([2, 1, 1, 1, 1, 1, 1, 1], bounded, bounded.agents[0])


def test_infeasible_bounds_name_the_group_and_the_template_or_the_group_maximum():
    templates = copy.deepcopy(CUT)
    templates[0]["max"] = 1
    templates[1]["max"] = 1
    s = scenario(templates)
    with pytest.raises(PlanningError) as caught:
        cover_templates([0, 0, 3, 0, 0, 0, 0, 0], s, s.agents[0])
    assert caught.value.key == "agents[0].templates"
    assert "group 'a'" in str(caught.value) and "09:30 needs 3" in str(caught.value)
    assert "hour max 1" in str(caught.value) and "short max 1" in str(caught.value)
    grouped = scenario(CUT, max_agents=2)
    with pytest.raises(PlanningError) as caught:
        cover_templates([0, 0, 3, 0, 0, 0, 0, 0], grouped, grouped.agents[0])
    assert caught.value.key == "agents[0].max_agents" and "max_agents 2" in str(caught.value)


def test_an_interval_no_template_reaches_and_a_minimum_without_starts_are_named():
    s = scenario([dict(CUT[0], latest="09:00")])  # one 1h start at 09:00: nothing after 10:00
    with pytest.raises(PlanningError, match="10:30") as caught:
        cover_templates([1, 1, 1, 1, 0, 0, 1, 0], s, s.agents[0])
    assert caught.value.key == "agents[0].templates" and "no shift" in str(caught.value)
    night = scenario([*CUT, {"name": "night", "lengths": ["8h"], "earliest": "22:00",
                             "latest": "22:00", "min": 2}])  # fmt: skip
    with pytest.raises(PlanningError, match="'night'") as caught:
        cover_templates([1] * 8, night, night.agents[0])
    assert caught.value.key == "agents[0].templates[2].min"
    with pytest.raises(PlanningError, match="no start within the horizon"):
        targeted = night.model_copy(update={"targets": Targets(service_level=0.8)})
        planned_groups(targeted, None)  # before any work


# --- night shifts and the horizon's end ---------------------------------------------------

NIGHT = {
    "name": "night",
    "lengths": ["8h"],
    "earliest": "22:00",
    "latest": "22:00",
    "breaks": [{"length": "30m", "earliest": "1h45m", "latest": "1h45m", "paid": False}],
}


def test_a_night_shift_wraps_to_the_start_of_a_day_and_is_written_in_two_parts():
    s = scenario([NIGHT], start="00:00", duration="24h")
    required = [1] * 24 + [0] * 64 + [1] * 8  # 00:00-06:00 and 22:00-24:00
    required[95] = required[0] = 0  # the break: 23:45 to 00:15
    (block,) = cover_templates(required, s, s.agents[0])
    assert (block.first, block.length, block.count, block.template) == (88, 32, 1, "night")
    assert head_count([block], 96)[:24] == [0] + [1] * 23
    assert [(p.first, p.length, p.paid) for p in block.breaks] == [(95, 2, False)]
    assert block.paid == 30  # eight hours less the unpaid half hour
    shifts = scenario_shifts(s, block)
    assert [(s.shift_window(x), x.count, x.breaks) for x in shifts] == [
        ((22 * 3600.0, 23.75 * 3600.0), 1, []),  # up to the break that midnight cuts
        ((0.25 * 3600.0, 6 * 3600.0), 1, []),
    ]
    roster = draw_roster(with_shifts(s, "a", [block]), seed=1)  # what the model plays
    assert [(a.login, a.logout, a.pauses) for a in roster.agents] == [
        (900.0, 6 * 3600.0, ()),
        (22 * 3600.0, 23.75 * 3600.0, ()),
    ]


def test_a_night_shift_past_a_horizon_of_hours_is_cut_and_paid_in_full():
    s = scenario([NIGHT], start="21:00", duration="3h")
    (block,) = cover_templates([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0], s, s.agents[0])
    assert (block.first, block.length, block.paid) == (4, 8, 30)
    assert [x.breaks for x in scenario_shifts(s, block)] == [[]]  # its break falls at the cut
    assert [s.shift_window(x) for x in scenario_shifts(s, block)] == [(3600.0, 9900.0)]


def test_breaks_inside_a_shift_are_written_at_their_clock_times():
    s = scenario(CUT)
    block = ShiftBlock(0, 4, 2, "hour", (BreakBlock(1, 1, False),), 3)
    (shift,) = scenario_shifts(s, block)
    assert s.shift_window(shift) == (0.0, 3600.0) and shift.count == 2
    assert [(b.at, b.length, b.paid) for b in shift.breaks] == [(9.25 * 3600.0, 900.0, False)]
    assert head_count([block], 8) == [2, 0, 2, 2, 0, 0, 0, 0] and paid_intervals([block]) == 6


def test_starts_repeat_on_every_day_of_the_horizon():
    day = {"name": "d", "lengths": ["8h"], "earliest": "07:00", "latest": "08:00", "step": "30m"}
    s = scenario([day], start="Mon 06:00", duration="48h", interval="30m")
    assert template_starts(s, s.agents[0].templates[0]) == [2, 3, 4, 50, 51, 52]
    night = scenario([NIGHT], start="00:00", duration="24h")
    assert template_starts(night, night.agents[0].templates[0]) == [88]
    assert template_starts(scenario([NIGHT]), scenario([NIGHT]).agents[0].templates[0]) == []


def test_a_week_repeats_the_templates_every_day_and_sundays_night_covers_monday_morning():
    """scenarios/week.yaml rostered from a day and a night template: shifts every day, written
    with their days; the last night wraps to the week's first hours, and the model plays it."""
    data = yaml.safe_load((ROOT / "scenarios" / "week.yaml").read_text())
    data["agents"][0]["templates"] = [
        {"name": "day", "lengths": ["8h"], "earliest": "06:00", "latest": "14:00", "step": "2h",
         "breaks": [{"length": "1h", "earliest": "3h", "latest": "5h", "paid": False}]},
        {"name": "night", "lengths": ["8h"], "earliest": "22:00", "latest": "22:00"},
    ]  # fmt: skip
    s = parse_scenario(data)
    required = [1] * 168
    blocks = cover_templates(required, s, s.agents[0])
    check_roster(s, blocks, required)
    nights = sorted(b.first for b in blocks if b.template == "night")
    assert nights == [22 + 24 * d for d in range(7)]  # one a day, Sunday's past the end
    planned = with_shifts(s, "desk", blocks)
    windows = sorted(s.shift_window(x) for x in planned.agents[0].shifts or [])
    assert windows[0] == (0.0, 6 * 3600.0) and windows[-1] == (166 * 3600.0, 168 * 3600.0)
    assert {x.start.day for x in planned.agents[0].shifts or []} == set(range(7))  # "Tue 06:00"
    roster = draw_roster(planned, seed=1)
    assert min(a.login for a in roster.agents) == 0.0
    assert max(a.logout for a in roster.agents) == 168 * 3600.0


def test_a_day_of_two_templates_two_lengths_two_breaks_is_a_sane_program():
    """The size README quotes: 44 shifts, 660 variables, 96 coverage rows."""
    breaks = [{"length": "15m", "earliest": "1h30m", "latest": "3h"},
              {"length": "30m", "earliest": "3h30m", "latest": "5h", "paid": False}]  # fmt: skip
    templates = [
        {"name": "day", "lengths": ["8h", "9h"], "earliest": "07:00", "latest": "12:00",
         "step": "30m", "breaks": breaks},
        {"name": "late", "lengths": ["8h", "9h"], "earliest": "12:30", "latest": "17:30",
         "step": "30m", "breaks": breaks},
    ]  # fmt: skip
    s = scenario(templates, start="00:00", duration="24h")
    model = program(s, s.agents[0])
    assert (len(model.shapes), model.variables, model.coverage.shape[0]) == (44, 660, 96)
    assert model.order is None  # the windows follow one another: no order rows


# --- the scenario ---------------------------------------------------------------------------


def error(templates: list[dict[str, Any]], **group: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        scenario(templates, **group)
    return caught.value


GOOD = {"name": "t", "lengths": ["1h"], "earliest": "09:00", "latest": "10:00"}


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"lengths": ["50m"]}, "templates[0].lengths[0]", "whole number of intervals"),
        ({"lengths": ["25h"]}, "templates[0].lengths[0]", "at most 24h"),
        ({"step": "20m"}, "templates[0].step", "whole number of intervals"),
        ({"earliest": "09:10"}, "templates[0].earliest", "interval boundary"),
        ({"latest": "08:00"}, "templates[0]", "before the earliest"),
        ({"step": "30m", "latest": "09:45"}, "templates[0].latest", "whole number of steps"),
        ({"min": 3, "max": 2}, "templates[0]", "above max"),
        ({"breaks": [{"length": "15m", "earliest": "0m", "latest": "15m"}]},
         "templates[0].breaks[0].earliest", "after the shift starts"),
        ({"breaks": [{"length": "15m", "earliest": "15m", "latest": "45m"}]},
         "templates[0].breaks[0].latest", "not before the shortest shift (1h) ends"),
        ({"breaks": [{"length": "15m", "earliest": "30m", "latest": "15m"}]},
         "templates[0].breaks[0]", "before the earliest"),
        ({"breaks": [{"length": "10m", "earliest": "15m", "latest": "15m"}]},
         "templates[0].breaks[0].length", "whole number of intervals"),
        ({"lengths": ["2h"], "breaks": [{"length": "30m", "earliest": "30m", "latest": "45m"},
                                        {"length": "15m", "earliest": "15m", "latest": "30m"}]},
         "templates[0].breaks[1].latest", "in the order listed"),
        ({"brakes": []}, "templates[0].brakes", "did you mean 'breaks'"),
    ],
)  # fmt: skip
def test_templates_are_checked(change, key, problem):
    found = error([GOOD | change])
    assert found.file == "t.yaml" and found.key == f"agents[0].{key}", found
    assert problem in found.problem, found.problem


def test_head_count_bounds_of_the_group_are_checked():
    assert error([GOOD, GOOD]).key == "agents[0].templates[1].name"
    bare = {"group": "a", "skills": ["chat"], "staffing": [1] * 8, "min_agents": 2}
    with pytest.raises(InputError, match="give templates") as caught:
        parse_scenario(
            {"name": "x", "start": "09:00", "duration": "2h", "interval": "15m",
             "channels": scenario([GOOD]).model_dump(mode="json")["channels"], "agents": [bare]}
        )  # fmt: skip
    assert caught.value.key == "agents[0].min_agents"
    assert error([GOOD | {"min": 3}], max_agents=2).key == "agents[0].max_agents"
    assert error([GOOD | {"max": 1}], min_agents=2).key == "agents[0].min_agents"
    assert error([GOOD], min_agents=3, max_agents=2).key == "agents[0].max_agents"


BUNDLED = {  # as the code before templates hashed them
    "small.yaml": "cb7d463eb756b7b575866cf67ee1682dc0a4797367cae090e2dd663d5235f3dc",
    "tele2-weekday.yaml": "a29c2cbcfd26f404135d5fab29faf2221a230cec4ec7e0baf75f0e27900b2791",
    "week.yaml": "691033ab7495c9ee4d92beb9235e4db4565b89725dc0f2198002d8bc2e3ee85b",
}


def test_the_bundled_scenarios_keep_their_hashes_and_templates_are_content():
    """Baselines, traces and results record these hashes: the new keys, at their defaults, are
    left out of them."""
    for name, sha256 in BUNDLED.items():
        assert load_scenario(ROOT / "scenarios" / name).sha256 == sha256, name
    assert scenario([GOOD]).sha256 != scenario([GOOD | {"max": 3}]).sha256


# --- the planner ----------------------------------------------------------------------------


def test_plan_staff_rosters_templates_gross_of_shrinkage_and_meets_the_targets():
    """Four hours of M/M/n+M (about four Erlangs) planned with two templates with breaks, for a
    group that loses 15% of its working time and 5% of its agents: the cover rosters the
    requirement grossed up, the verification plays breaks, shrinkage and absence, and the
    verified plan meets the targets."""
    data = textbook.queue_data(
        4, 0.015, 240.0, 300.0, intervals=16, interval="15m", target=60,
        targets={"service_level": 0.8},
    )  # fmt: skip
    data["start"] = "08:00"
    group = data["agents"][0]
    group |= {"shrinkage": 0.15, "absence": 0.05, "wind_down": "1m", "max_agents": 40}
    del group["staffing"]
    group["shifts"] = [{"start": "08:00", "end": "12:00", "count": 4}]
    group["templates"] = [
        {"name": "early", "lengths": ["3h", "4h"], "earliest": "08:00", "latest": "09:00",
         "step": "30m", "breaks": [{"length": "15m", "earliest": "1h", "latest": "2h"}]},
        {"name": "late", "lengths": ["2h"], "earliest": "10:00", "latest": "10:00", "max": 6,
         "breaks": [{"length": "15m", "earliest": "45m", "latest": "1h", "paid": False}]},
    ]  # fmt: skip
    s = parse_scenario(data)
    plan = plan_staff(s, replications=4, seed=3, max_evaluations=20)
    kept = 0.85 * 0.95
    assert plan.rostered["a"] == [math.ceil(r / kept - 1e-9) for r in plan.required["a"]]
    assert all(o >= r for o, r in zip(plan.on_shift["a"], plan.rostered["a"], strict=True))
    check_roster(s, plan.shifts["a"], plan.rostered["a"])
    assert any(block.breaks for block in plan.shifts["a"])
    played = plan.scenario.agents[0]
    assert played.shrinkage == 0.15 and played.staffing is None
    assert any(shift.breaks for shift in played.shifts or [])
    assert plan.unreachable == [] and plan.short == [], plan.short
    assert plan.cost() == pytest.approx(paid_intervals(plan.shifts["a"]) / 4)


def test_cli_rosters_templates_and_writes_shifts_with_their_breaks(tmp_path, capsys):
    """``chatsim staff`` on small.yaml with templates: shifts.yaml lists every shift with its
    breaks and template, and pasted back into the scenario it loads; plan.csv keeps its columns
    and adds what the shifts roster."""
    data = yaml.safe_load((ROOT / "scenarios" / "small.yaml").read_text())
    data["agents"][0] |= {
        "shrinkage": 0.1,
        "templates": [
            {"name": "early", "lengths": ["2h", "3h"], "earliest": "09:00", "latest": "10:00",
             "step": "15m",
             "breaks": [{"length": "15m", "earliest": "45m", "latest": "1h15m", "paid": False}]},
        ],
    }  # fmt: skip
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SystemExit) as exit_info:
        main(["staff", str(path), "-n", "2", "-j", "1", "--out", str(tmp_path / "out")])
    assert exit_info.value.code in (0, 1), capsys.readouterr().err
    text = (tmp_path / "out" / "shifts.yaml").read_text()
    shifts = yaml.safe_load(text)[0]["shifts"]
    assert shifts and text.count("  # early") == len(shifts)
    assert all(set(b) == {"length", "at", "paid"} for s in shifts for b in s.get("breaks", []))
    assert any(s.get("breaks") for s in shifts)
    data["agents"][0]["shifts"] = shifts
    path.write_text(yaml.safe_dump(data))
    assert sum(s.count for s in load_scenario(path).agents[0].shifts or []) >= 1
    with (tmp_path / "out" / "plan.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:7] == [
        "interval", "group", "offered", "load", "required", "scheduled", "over_under",
    ] and list(rows[0])[-1] == "rostered"  # fmt: skip
    assert all(int(r["scheduled"]) >= int(r["rostered"]) >= int(r["required"]) for r in rows)
