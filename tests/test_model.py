"""The model semantics (docs/design.md), one rule at a time, on hand-written traces."""

from __future__ import annotations

import pytest
from modelkit import conversation, scenario, trace

from sim.model import simulate_trace


def by_id(run):
    return {record.id: record for record in run.conversations}


def one_agent(max_chats=1, slowdown=None, **channel):
    chat = {
        "protocol": "webchat",
        "volume": 10,
        "silent_abandon": False,
        "patience": {"dist": "constant", "value": "1h"},
        "reply": {"dist": "constant", "value": 10},
        **channel,
    }
    group = {"group": "a", "skills": ["chat"], "max_chats": max_chats, "staffing": [1, 1, 1, 1]}
    if slowdown:
        group["slowdown"] = slowdown
    return scenario({"chat": chat}, [group])


def test_hands_are_serial_and_fifo_by_message_arrival():
    s = one_agent(max_chats=2)
    run = simulate_trace(s, trace(conversation("c1", 0.0, [10.0]), conversation("c2", 1.0, [10.0])))
    r = by_id(run)
    assert r["c1"].first_reply_at == pytest.approx(10.0)
    assert r["c2"].assigned_at == pytest.approx(1.0)  # a free slot, assigned at once
    assert r["c2"].first_reply_at == pytest.approx(20.0)  # but the hands were busy until 10
    spans = run.agents[0].busy
    assert spans == [(0.0, 10.0), (10.0, 20.0)]


def test_slowdown_uses_active_chats_when_typing_starts():
    s = one_agent(max_chats=2, slowdown=[1.0, 2.0])
    run = simulate_trace(
        s, trace(conversation("c1", 0.0, [10.0], close_after=100), conversation("c2", 1.0, [10.0]))
    )
    r = by_id(run)
    # c1 starts typing at 0 with 1 active chat (x1.0); c2 at 10 with 2 active (x2.0).
    assert r["c1"].first_reply_at == pytest.approx(10.0)
    assert r["c2"].first_reply_at == pytest.approx(30.0)


def test_turns_think_and_close_after():
    s = one_agent()
    c = conversation("c1", 0.0, [5.0, 7.0, 3.0], thinks=[0.0, 20.0, 30.0], close_after=60.0)
    r = by_id(simulate_trace(s, trace(c)))["c1"]
    # reply 1 at 5, message 2 at 25, reply at 32, message 3 at 62, reply at 65, closed at 125
    assert r.reply_delays == pytest.approx([5.0, 7.0, 3.0])
    assert r.closed_at == pytest.approx(125.0)
    assert r.answered and not r.missed


def test_visible_abandonment_in_queue_leaves_the_queue():
    s = one_agent()
    run = simulate_trace(
        s, trace(conversation("c1", 0.0, [100.0]), conversation("c2", 1.0, [10.0], patience=30.0))
    )
    r = by_id(run)["c2"]
    assert r.missed and r.assigned_at is None and r.left_queue_at == pytest.approx(31.0)
    assert r.first_reply_at is None and r.wasted_slot_seconds == 0


def test_silent_abandonment_is_served_once_and_wastes_the_slot():
    s = one_agent(silent_abandon=True, protocol="whatsapp")
    c1 = conversation("c1", 0.0, [100.0])
    c2 = conversation("c2", 1.0, [10.0, 10.0], thinks=[0.0, 5.0], patience=30.0, close_after=50.0)
    r = by_id(simulate_trace(s, trace(c1, c2)))["c2"]
    # Nobody is told: it stays queued until the agent is free at 100, is answered at 110
    # (after the customer left at 31), then closes 50 s later with no second turn.
    assert r.missed and r.assigned_at == pytest.approx(100.0)
    assert r.first_reply_at == pytest.approx(110.0) and r.closed_at == pytest.approx(160.0)
    assert r.reply_delays == []
    assert r.wasted_slot_seconds == pytest.approx(60.0)


def test_visible_abandonment_while_assigned_frees_the_slot_and_the_hands():
    s = one_agent(max_chats=2)
    c1 = conversation("c1", 0.0, [100.0])
    c2 = conversation("c2", 1.0, [10.0], patience=30.0)
    c3 = conversation("c3", 40.0, [10.0])
    run = simulate_trace(s, trace(c1, c2, c3))
    r = by_id(run)
    assert r["c2"].missed and r["c2"].closed_at == pytest.approx(31.0)
    assert r["c3"].assigned_at == pytest.approx(40.0)
    assert r["c3"].first_reply_at == pytest.approx(110.0)  # after c1's reply; c2's message dropped


def test_abandoning_while_the_agent_types_aborts_the_typing():
    s = one_agent()
    run = simulate_trace(
        s, trace(conversation("c1", 0.0, [100.0], patience=30.0), conversation("c2", 50.0, [10.0]))
    )
    r = by_id(run)
    assert r["c1"].missed and r["c1"].first_reply_at is None
    assert r["c2"].first_reply_at == pytest.approx(60.0)
    assert run.agents[0].busy[0] == (0.0, 30.0)


def test_bot_contains_or_delays_queue_entry():
    s = one_agent()
    run = simulate_trace(
        s,
        trace(
            conversation("c1", 0.0, bot=(True, 30.0)), conversation("c2", 0.0, bot=(False, 30.0))
        ),
    )
    r = by_id(run)
    assert r["c1"].bot_contained and not r["c1"].offered and not r["c1"].missed
    assert r["c2"].queued_at == pytest.approx(30.0) and r["c2"].first_reply_at == pytest.approx(
        40.0
    )


def test_priority_then_fifo():
    channels = {
        name: {
            "protocol": "webchat",
            "volume": 1,
            "priority": p,
            "patience": {"dist": "constant", "value": "1h"},
            "reply": {"dist": "constant", "value": 10},
        }
        for name, p in (("low", 0), ("high", 1))
    }
    s = scenario(channels, [{"group": "a", "skills": ["low", "high"], "staffing": [1, 1, 1, 1]}])
    cs = [
        conversation("busy", 0.0, [50.0], channel="low"),
        conversation("l1", 1.0, channel="low"),
        conversation("h1", 2.0, channel="high"),
        conversation("l2", 3.0, channel="low"),
        conversation("h2", 4.0, channel="high"),
    ]
    r = by_id(simulate_trace(s, trace(*cs)))
    order = sorted(["l1", "h1", "l2", "h2"], key=lambda i: r[i].assigned_at)
    assert order == ["h1", "h2", "l1", "l2"]


def test_routing_prefers_fewest_active_then_longest_idle():
    s = one_agent(max_chats=3)
    s = s.model_copy(update={"agents": [s.agents[0].model_copy(update={"staffing": [2, 2, 2, 2]})]})
    cs = [conversation(f"c{i}", float(i), [1.0], close_after=1000.0) for i in range(4)]
    r = by_id(simulate_trace(s, trace(*cs)))
    assert [r[f"c{i}"].agent_id for i in range(4)] == ["a-0001", "a-0002", "a-0001", "a-0002"]


def test_shift_end_drains_active_chats_and_takes_no_new_ones():
    s = scenario(
        agents=[
            {
                "group": "a",
                "skills": ["chat"],
                "max_chats": 2,
                "shifts": [{"start": "00:00", "end": "00:10", "count": 1}],
            }
        ]
    )
    cs = [
        conversation("c1", 500.0, [10.0], close_after=300.0),
        conversation("c2", 700.0, [10.0], patience=100.0),
    ]
    run = simulate_trace(s, trace(*cs))
    r = by_id(run)
    assert r["c1"].closed_at == pytest.approx(810.0)
    assert r["c2"].assigned_at is None and r["c2"].missed  # arrived after the shift ended
    assert run.agents[0].logout_at == pytest.approx(810.0)


def test_staffing_adds_and_drains_at_interval_edges():
    s = scenario(agents=[{"group": "a", "skills": ["chat"], "staffing": [0, 2, 1, 0]}])
    run = simulate_trace(s, trace(conversation("c1", 100.0, [10.0])))
    r = by_id(run)["c1"]
    assert r.assigned_at == pytest.approx(900.0)  # nobody logged in before 15 minutes
    logins = sorted((a.login_at, a.logout_at) for a in run.agents)
    assert logins[0][0] == 900.0 and logins[1][0] == 900.0
    assert sorted(a.logout_at for a in run.agents) == [1800.0, 2700.0]


def test_deterministic_on_a_trace():
    from pathlib import Path

    from sim.scenario import load_scenario
    from sim.traffic import draw_trace

    s = load_scenario(Path(__file__).parent.parent / "scenarios" / "small.yaml")
    t = draw_trace(s, 5, texts=False)
    first = [r.to_dict() for r in simulate_trace(s, t).conversations]
    second = [r.to_dict() for r in simulate_trace(s, t).conversations]
    assert first == second
