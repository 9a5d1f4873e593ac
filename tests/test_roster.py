"""The roster: breaks, shrinkage and absence placed per agent, and the model playing them."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelkit import scenario as tiny

from sim.errors import InputError
from sim.kpi import conservation_errors, measure
from sim.model import simulate_trace
from sim.roster import SHRINKAGE_BLOCK, Pause, RosteredAgent, draw_roster
from sim.scenario import parse_scenario
from sim.traffic import draw_trace


def _day(shift: dict[str, Any], **group: Any) -> Any:
    return parse_scenario(
        {
            "name": "roster",
            "duration": "12h",
            "interval": "15m",
            "channels": {
                "chat": {
                    "protocol": "webchat",
                    "volume": 400,
                    "patience": {"dist": "exponential", "mean": "5m"},
                    "turns": {"dist": "geometric", "mean": 2},
                    "think": {"dist": "exponential", "mean": "30s"},
                    "reply": {"dist": "exponential", "mean": "40s"},
                }
            },
            "agents": [
                {"group": "a", "skills": ["chat"], "max_chats": 3, "shifts": [shift], **group}
            ],
        }
    )


def test_a_break_drains_rests_and_comes_back_on_time():
    day = _day(
        {"start": "01:00", "end": "09:00", "count": 1, "breaks": [{"length": "15m", "after": "2h"}]}
    )
    roster = draw_roster(day, seed=1)
    (agent,) = roster.agents
    assert agent.pauses == (Pause(3 * 3600.0, 3 * 3600.0 + 900.0, "break"),)
    steps = [(s.at, s.action) for s in roster.steps()]
    assert steps == [
        (3600.0, "login"),
        (3 * 3600.0 - 300.0, "drain"),  # the default wind_down of 5 minutes
        (3 * 3600.0, "rest"),
        (3 * 3600.0 + 900.0, "back"),
        (9 * 3600.0, "leave"),
    ]


def test_a_window_spreads_the_shifts_agents_over_it():
    day = _day(
        {
            "start": "01:00",
            "end": "09:00",
            "count": 5,
            "breaks": [{"length": "30m", "window": ["04:00", "06:00"], "paid": False}],
        }
    )
    starts = sorted(a.pauses[0].start for a in draw_roster(day, 1).agents)
    # Five agents over 04:00..05:30 (the last must be back by 06:00): every 22.5 minutes,
    # rounded to the minute.
    assert [s / 60 for s in starts] == [240, 262, 285, 308, 330]
    agent = draw_roster(day, 1).agents[0]
    assert sum(b - a for a, b in agent.paid_spans) == 8 * 3600.0 - 1800.0


def test_shrinkage_is_its_share_of_working_time_and_avoids_breaks():
    day = _day(
        {
            "start": "00:00",
            "end": "09:00",
            "count": 20,
            "breaks": [{"length": "1h", "after": "4h"}],
        },
        shrinkage=0.2,
    )
    for agent in draw_roster(day, 7).agents:
        breaks = [p for p in agent.pauses if p.kind == "break"]
        lost = [p for p in agent.pauses if p.kind == "shrinkage"]
        assert sum(p.end - p.start for p in lost) == pytest.approx(0.2 * 8 * 3600.0)
        assert all(p.end - p.start <= SHRINKAGE_BLOCK + 1e-6 for p in lost)
        for p in lost:
            assert agent.login <= p.start < p.end <= agent.logout
            assert all(p.end <= b.start or p.start >= b.end for b in breaks)


def test_absence_is_drawn_per_replication_with_its_probability():
    day = _day({"start": "00:00", "end": "09:00", "count": 50}, absence=0.1)
    absent = [sum(a.absent for a in draw_roster(day, 3, r).agents) for r in range(40)]
    # 2,000 agents with p = 0.1: 200 expected, sd 13.4; 4 sd either side.
    assert 146 <= sum(absent) <= 254
    assert len(set(absent)) > 1  # differs between replications
    assert draw_roster(day, 3, 5) == draw_roster(day, 3, 5)  # and is reproducible
    ids = [a.id for a in draw_roster(day, 3).agents]
    assert ids == [f"a-{n:04d}" for n in range(1, 51)]  # absent agents keep their numbers


def test_absent_agents_never_log_in_and_are_not_paid():
    day = _day({"start": "00:00", "end": "09:00", "count": 30}, absence=0.3)
    trace = draw_trace(day, 2, texts=False)
    run = simulate_trace(day, trace)
    assert run.roster is not None
    came = {a.id for a in run.roster.present}
    assert 0 < len(came) < 30
    assert {a.id for a in run.agents} == came
    total = measure(run, day)["total"]
    assert total["paid_hours"] == pytest.approx(9.0 * len(came))


def test_shrinkage_removes_its_share_of_productive_time():
    """Productive time (logged in, not away) is the working time less the shrinkage: a pause
    starts late only when the agent still holds a chat at its start, which a wind-down of 10
    minutes makes rare here (chats last about 3 minutes); tolerance 1% of working time."""
    day = _day(
        {
            "start": "00:00",
            "end": "12:00",
            "count": 6,
            "breaks": [{"length": "30m", "after": "5h"}],
        },
        shrinkage=0.25,
        wind_down="10m",
    )
    run = simulate_trace(day, draw_trace(day, 4, texts=False))
    total = measure(run, day)["total"]
    working = 6 * 11.5
    assert total["paid_hours"] == pytest.approx(6 * 12.0)
    assert total["productive_hours"] / working == pytest.approx(0.75, abs=0.01)
    assert total["logged_in_hours"] >= 6 * 12.0 - 1e-6  # pauses are logged in, drains add


def test_staffing_with_shrinkage_is_refused():
    with pytest.raises(InputError, match="shrinkage and absence apply to shifts"):
        tiny(agents=[{"group": "a", "skills": ["chat"], "staffing": [1] * 4, "shrinkage": 0.1}])


@pytest.mark.parametrize(
    ("pause", "problem"),
    [
        ({"length": "15m"}, "give exactly one of 'after', 'at' or 'window'"),
        ({"length": "15m", "after": "1h", "at": "03:00"}, "give exactly one"),
        ({"length": "1h", "window": ["02:00", "02:30"]}, "window is shorter than the break"),
        ({"length": "15m", "at": "10:00"}, "must start after the shift starts and end before"),
        ({"length": "15m", "after": "7h50m"}, "must start after the shift starts and end before"),
    ],
)
def test_breaks_that_cannot_be_placed_are_refused(pause, problem):
    with pytest.raises(InputError, match=problem):
        _day({"start": "01:00", "end": "09:00", "count": 1, "breaks": [pause]})


def test_the_default_breaks_keys_leave_the_hash_alone():
    plain = _day({"start": "01:00", "end": "09:00", "count": 1})
    explicit = _day(
        {"start": "01:00", "end": "09:00", "count": 1, "breaks": []},
        shrinkage=0,
        absence=0,
        wind_down="5m",
    )
    assert plain.sha256 == explicit.sha256
    assert plain.sha256 != _day({"start": "01:00", "end": "09:00", "count": 1}, absence=0.1).sha256


@st.composite
def shift_days(draw: Any) -> Any:
    """Two hours, one webchat and one messenger channel, a group on a shift with breaks,
    shrinkage and absence drawn."""
    count = draw(st.integers(1, 4))
    breaks = []
    for _ in range(draw(st.integers(0, 2))):
        length = draw(st.sampled_from(["5m", "10m", "15m"]))
        if draw(st.booleans()):
            breaks.append({"length": length, "after": draw(st.sampled_from(["20m", "45m", "1h"]))})
        else:
            breaks.append({"length": length, "window": ["00:30", "01:30"]})
    return parse_scenario(
        {
            "name": "prop",
            "duration": "2h",
            "interval": "15m",
            "channels": {
                "web": {
                    "protocol": "webchat",
                    "volume": draw(st.integers(10, 80)),
                    "silent_abandon": draw(st.booleans()),
                    "patience": {"dist": "exponential", "mean": draw(st.floats(30, 600))},
                    "turns": {"dist": "geometric", "mean": draw(st.floats(1, 4))},
                    "think": {"dist": "exponential", "mean": 20},
                    "reply": {"dist": "exponential", "mean": draw(st.floats(5, 60))},
                    "close_after": {"dist": "constant", "value": draw(st.floats(0, 90))},
                },
                "whatsapp": {
                    "protocol": "whatsapp",
                    "volume": draw(st.integers(0, 40)),
                    "patience": {"dist": "exponential", "mean": 120},
                    "reply": {"dist": "exponential", "mean": 30},
                },
            },
            "agents": [
                {
                    "group": "a",
                    "skills": ["web", "whatsapp"],
                    "max_chats": draw(st.integers(1, 3)),
                    "shrinkage": draw(st.sampled_from([0.0, 0.1, 0.3])),
                    "absence": draw(st.sampled_from([0.0, 0.3])),
                    "wind_down": draw(st.sampled_from([0, "2m", "5m"])),
                    "shifts": [
                        {"start": "00:00", "end": "02:00", "count": count, "breaks": breaks}
                    ],
                },
                {"group": "b", "skills": ["web", "whatsapp"], "staffing": [1] * 8},
            ],
        }
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shift_days(), st.integers(0, 10_000))
def test_nobody_gets_a_chat_on_a_pause_and_no_pause_starts_while_typing(day, seed):
    trace = draw_trace(day, seed, texts=False)
    run = simulate_trace(day, trace)
    assert run.roster is not None
    assert conservation_errors(run) == []
    records = {a.id: a for a in run.agents}
    for agent in run.roster.present:
        record = records[agent.id]
        wind_down = day.agents[0].wind_down
        closed = _closed_spans(agent, wind_down)
        held = [(r.assigned_at, r.closed_at) for r in run.conversations if r.agent_id == agent.id]
        for assigned, _ in held:
            assert not any(a <= assigned < b for a, b in closed), (agent.id, assigned, closed)
        for away_start, away_end in record.away:
            # Away only inside a pause, and holding nothing: no typing, no chat open.
            assert any(a <= away_start and away_end <= b + 1e-9 for a, b in closed)
            assert not any(s < away_end and away_start < e for s, e in record.busy)
            assert not any(s < away_end and away_start < e for s, e in held)
        busy = sorted(record.busy)
        assert all(a_end <= b_start + 1e-9 for (_, a_end), (b_start, _) in itertools.pairwise(busy))


def _closed_spans(agent: RosteredAgent, wind_down: float) -> list[tuple[float, float]]:
    """When the agent takes no new chats because of its pauses: from the drain to the return."""
    spans: list[tuple[float, float]] = []
    for pause in sorted(agent.pauses, key=lambda p: p.start):
        start = max(agent.login, pause.start - wind_down)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], pause.end))
        else:
            spans.append((start, pause.end))
    return spans


def test_a_roster_draw_does_not_move_the_traffic():
    day = _day({"start": "00:00", "end": "09:00", "count": 5}, absence=0.5, shrinkage=0.2)
    plain = _day({"start": "00:00", "end": "09:00", "count": 5})
    a, b = draw_trace(day, 9, texts=False), draw_trace(plain, 9, texts=False)
    assert np.array_equal([c.t for c in a], [c.t for c in b])
