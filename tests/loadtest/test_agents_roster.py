"""The replay's emulated agents play the roster (sim.roster) through their desk: breaks and
shrinkage are ``away`` then ``back``, an agent on a pause is away once the gateway says it
holds nothing, and only the gateway's current word counts.

The floors run under gevent in a subprocess (``floor_play.py``, against an in-memory desk, at
600 scenario seconds per wall second); these tests judge what it printed. Times are scenario
seconds; :data:`TOLERANCE` is a tenth of a wall second, for a busy machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
TOLERANCE = 60.0


@pytest.fixture(scope="module")
def played() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "floor_play.py")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    cases: dict[str, Any] = json.loads(done.stdout)
    for name, case in cases.items():
        assert case["problems"] == [], (name, case["problems"])
    return cases


def near(value: float | None, expected: float) -> bool:
    return value is not None and abs(value - expected) <= TOLERANCE


def calls(case: dict[str, Any], agent: str = "a-0001") -> list[tuple[float, str]]:
    return [(at, call) for at, call, who in case["calls"] if who == agent]


def spans_near(spans: list[list[float]], expected: list[tuple[float, float]]) -> bool:
    return len(spans) == len(expected) and all(
        near(a, x) and near(b, y) for (a, b), (x, y) in zip(spans, expected, strict=True)
    )


def test_a_break_is_away_then_back_through_the_desk(played):
    case = played["break"]
    # Drain (away) at 9 minutes, away from 10 (nothing held), back at 15, leave at 20.
    made = calls(case)
    assert [call for _, call in made] == ["login", "away", "gone?", "back", "away", "gone?"]
    expected = [0.0, 540.0, 540.0, 900.0, 1200.0, 1200.0]
    assert all(near(at, x) for (at, _), x in zip(made, expected, strict=True)), made
    (log,) = case["logs"]
    assert spans_near(log["away"], [(600.0, 900.0)]), log["away"]
    assert near(log["logout"], 1200.0) and near(log["login"], 0.0)
    assert spans_near(case["accepting"]["a-0001"], [(0.0, 540.0), (900.0, 1200.0)])
    # Its greenlets rest while the gateway holds nothing for it, and start again when it is back.
    polls = case["polls"]["a-0001"]
    assert not [t for t in polls if 540 + TOLERANCE < t < 900 - TOLERANCE], polls
    assert len([t for t in polls if 900 + TOLERANCE < t < 1200 - TOLERANCE]) > 5
    assert case["busy_mid_pause"] is False  # nothing may reach it: the run could end


def test_a_chat_held_into_the_break_is_finished_before_the_agent_is_away(played):
    case = played["chat_into_break"]
    (log,) = case["logs"]
    (typed,) = log["busy"]
    # Given at 7 minutes, typed for 5: the reply is still being typed when the break starts at
    # 10, and is not cut short.
    assert typed[0] < 600.0 < typed[1] and near(typed[1] - typed[0], 300.0)
    close = next(at for at, call in calls(case) if call == "close")
    (away,) = log["away"]
    assert typed[1] <= close <= away[0] and near(away[0], close), (typed, close, away)
    assert near(away[1], 1080.0)  # back on time (10 + 8 minutes), however late it went
    assert spans_near(case["accepting"]["a-0001"], [(0.0, 540.0), (1080.0, 1200.0)])
    assert log["logout"] is not None and near(log["logout"], 1200.0)


def test_the_end_of_a_run_logs_out_an_agent_on_a_break(played):
    case = played["finished_on_break"]
    (log,) = case["logs"]
    assert spans_near(log["away"], [(600.0, 750.0)]), log["away"]
    assert near(log["logout"], 750.0)
    # Already away at the gateway: the desk hears nothing more of it.
    assert [call for _, call in calls(case)] == ["login", "away", "gone?"]


def test_an_answer_of_the_gateway_from_before_the_agent_came_back_is_dropped(played):
    case = played["late_word"]
    back = next(at for at, call in calls(case) if call == "back")
    assert near(back, 720.0)
    # The race happened: the gateway said "gone" when asked before the return, and the answer
    # came after it.
    assert any(answer and asked < back < answered for asked, answered, answer in case["answers"])
    assert case["out_at_18m"] is False
    polls = case["polls"]["a-0001"]
    assert len([t for t in polls if 900.0 + TOLERANCE < t < 1200.0 - TOLERANCE]) > 5, polls
    (log,) = case["logs"]
    assert spans_near(log["away"], [(600.0, 720.0)]), log["away"]
    assert spans_near(case["accepting"]["a-0001"], [(0.0, 540.0), (720.0, 1200.0)])


def test_staffing_follows_the_roster_with_the_floors_word_on_who_is_present(played):
    case = played["staffing"]
    made = [(round(at / 300.0) * 300, call, who) for at, call, who in case["calls"]]
    assert [m for m in made if m[1] != "gone?"] == [
        (0, "login", "a-0001"),
        (300, "login", "a-0002"),
        (600, "away", "a-0002"),  # fewest chats, newest first
        (900, "login", "a-0003"),  # a-0002 is gone: a new agent, not a return
        (1200, "away", "a-0003"),
        (1200, "away", "a-0001"),
    ]
    logs = {log["id"]: log for log in case["logs"]}
    assert near(logs["a-0002"]["logout"], 600.0) and logs["a-0002"]["away"] == []
