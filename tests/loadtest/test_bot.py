"""A bot as the responder: the model's prediction (an unlimited responder after the channel's
bot time) and the replay's records of what customers saw go through the same KPI code, without
agents."""

from __future__ import annotations

import pytest
from modelkit import conversation, scenario, trace

from sim.loadtest.bot import bot_model, bot_time, bot_view, model_results
from sim.loadtest.collect import judge, replay_results, to_run
from sim.loadtest.raw import RawReplay
from sim.texts import Customer

T0, K = 1000.0, 60.0


def wall(scenario_seconds: float) -> float:
    return T0 + scenario_seconds / K


def bot_scenario():
    chat = {
        "protocol": "webchat",
        "volume": 10,
        "silent_abandon": False,
        "patience": {"dist": "constant", "value": "1h"},
        "reply": {"dist": "constant", "value": 10},
        "bot": {"containment": 0.5, "time": {"dist": "lognormal", "mean": 20, "cv": 0.5}},
    }
    wa = {**chat, "protocol": "whatsapp", "silent_abandon": True}
    del wa["bot"]
    return scenario(
        channels={"chat": chat, "wa": wa},
        agents=[{"group": "a", "skills": ["chat", "wa"], "staffing": [1, 1, 1, 1]}],
    )


def bot_trace():
    answered = conversation("c1", 0.0, [10.0, 10.0], thinks=[0.0, 5.0], bot=(False, 33.0))
    impatient = conversation("c2", 60.0, [10.0], patience=15.0, bot=(False, 7.0))
    contained = conversation("c3", 900.0, [10.0], bot=(True, 12.0))
    instant = conversation("c4", 1000.0, [10.0], channel="wa", patience=1.0)
    for c, who in zip((answered, impatient, contained, instant), "ABCD", strict=True):
        c.customer = Customer(f"s{who}", who)
    return trace(answered, impatient, contained, instant)


def test_the_bot_answers_after_its_channels_mean_time_and_contains_nothing_upstream():
    s, tr = bot_scenario(), bot_trace()
    assert bot_time(s.channels["chat"]) == pytest.approx(20.0)  # the mean, not a draw
    assert bot_time(s.channels["wa"]) == 0.0  # no bot configured: it answers at once
    assert [c.queue_entry for c in bot_view(tr)] == [0.0, 60.0, 900.0, 1000.0]
    c1, c2, c3, c4 = bot_model(s, tr).conversations
    assert c1.answered and c1.first_reply_at == pytest.approx(20.0)
    assert c1.reply_delays == pytest.approx([20.0, 20.0])
    assert c2.missed and c2.left_at == pytest.approx(75.0) and not c2.reply_delays
    assert c3.answered and not c3.bot_contained  # the bot is the responder, not a filter
    assert c4.answered and c4.reply_delays == [0.0]


def test_without_agents_the_model_has_no_agent_kpis_and_no_queue():
    s, tr = bot_scenario(), bot_trace()
    results, records = model_results(s, tr, "bot")
    assert results.source == "model" and results.trace_sha256 == tr.sha256()
    assert len(records) == 4 and results.extra == {"responder": "bot"}
    total = results.total
    assert total["occupancy"]["mean"] is None and total["slot_utilisation"]["mean"] is None
    assert total["max_queue"]["mean"] == 0 and total["bot_contained"]["mean"] == 0
    assert total["offered"]["mean"] == 4 and total["missed"]["mean"] == 1
    assert total["insession_mean"]["mean"] == pytest.approx(20.0)


def bot_raw(replies_after: float) -> RawReplay:
    """What the replay measures when each answer takes ``replies_after`` scenario seconds:
    customers sent at arrival, no agents, no handled conversations."""
    c = replies_after
    customers = [
        {"index": 0, "id": "c1", "channel": "chat", "key": "webchat:sA",
         "sent": [wall(0), wall(c + 5)], "acked": [wall(0), wall(c + 5)],
         "replies": [wall(c), wall(2 * c + 5)], "left_at": None, "lateness": 0.001,
         "failures": []},
        {"index": 1, "id": "c2", "channel": "chat", "key": "webchat:sB",
         "sent": [wall(60)], "acked": [wall(60)], "replies": [], "left_at": wall(75),
         "lateness": 0.001, "failures": []},
        {"index": 2, "id": "c3", "channel": "chat", "key": "webchat:sC",
         "sent": [wall(900)], "acked": [wall(900)], "replies": [wall(900 + c)], "left_at": None,
         "lateness": 0.001, "failures": []},
        {"index": 3, "id": "c4", "channel": "wa", "key": "whatsapp:sD",
         "sent": [wall(1000)], "acked": [wall(1000)], "replies": [wall(1000)], "left_at": None,
         "lateness": 0.001, "failures": []},
    ]  # fmt: skip
    return RawReplay.from_dict(
        {
            "format": "chatsim-replay-raw", "t0": T0, "speedup": K, "workers": 1,
            "customers": customers, "handled": [], "agents": [], "delivered": {},
            "emulator": {"received": 0, "rejected": 0},
            "lateness": {"p50": 0.001, "p99": 0.001, "max": 0.001},
            "ack_ms": {"p50": 1.0, "p99": 1.0, "max": 1.0}, "problems": [],
            "responder": "bot",
        }
    )  # fmt: skip


def test_a_replay_that_sees_what_the_model_predicts_measures_the_same_kpis():
    s, tr = bot_scenario(), bot_trace()
    raw = bot_raw(replies_after=20.0)
    validity = judge(raw, max_lateness_ms=50, scenario=s)
    assert validity.valid, validity.reasons
    replay, run = replay_results(raw, s, tr, validity)
    model, _ = model_results(s, tr, "bot")
    assert replay.extra["responder"] == "bot" and replay.trace_sha256 == model.trace_sha256
    for kpi, stat in model.total.items():
        assert replay.total[kpi]["mean"] == pytest.approx(stat["mean"]), kpi
    for channel, table in model.channels.items():
        for kpi, stat in table.items():
            assert replay.channels[channel][kpi]["mean"] == pytest.approx(stat["mean"]), kpi
    assert not run.agents and not to_run(raw, s, tr).agents
    assert [r.left_queue_at for r in run.conversations] == pytest.approx([0.0, 60.0, 900.0, 1000.0])


def test_a_slower_bot_shows_in_the_replays_kpis():
    s, tr = bot_scenario(), bot_trace()
    raw = bot_raw(replies_after=30.0)
    replay, _ = replay_results(raw, s, tr, judge(raw, 50, s))
    assert replay.channels["chat"]["frt_mean"]["mean"] == pytest.approx(30.0)
