"""From a replay's raw wall-clock measurements to scenario-time records, KPIs and a verdict."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelkit import conversation, scenario, trace

from sim.loadtest.collect import free_spans, judge, replay_results, to_run
from sim.loadtest.raw import AgentLog, EmulatorCounts, HandledConversation, Percentiles, RawReplay
from sim.texts import Customer

T0, K = 1000.0, 60.0


def wall(scenario_seconds: float) -> float:
    return T0 + scenario_seconds / K


def typed(raw: dict) -> RawReplay:
    """The raw file's content as collect reads it (the tests edit the plain data first)."""
    return RawReplay.from_dict(raw)


def setup():
    s = scenario()
    c1 = conversation("c1", 0.0, [10.0, 20.0], thinks=[0.0, 5.0])
    c2 = conversation("c2", 60.0, [10.0], patience=30.0)
    c1.customer, c2.customer = Customer("s1", "A"), Customer("s2", "B")
    tr = trace(c1, c2)
    raw = {
        "format": "chatsim-replay-raw", "t0": T0, "speedup": K, "workers": 1,
        "customers": [
            {"index": 0, "id": "c1", "channel": "chat", "key": "webchat:s1",
             "sent": [wall(0), wall(15)], "acked": [wall(0), wall(15)],
             "replies": [wall(12), wall(36)], "left_at": None, "lateness": 0.001, "failures": []},
            {"index": 1, "id": "c2", "channel": "chat", "key": "webchat:s2",
             "sent": [wall(60)], "acked": [wall(60)],
             "replies": [], "left_at": wall(90), "lateness": 0.002, "failures": []},
        ],
        "handled": [{"conversation_id": "cv-1", "trace_id": "c1", "key": "webchat:s1",
                     "agent": "a-0001", "assigned": wall(1), "closed": wall(100),
                     "messages": 2, "replies": 2, "left": None}],
        "agents": [{"id": "a-0001", "group": "a", "max_chats": 1,
                    "login_at": wall(0), "logout_at": wall(3600),
                    "busy": [[wall(1), wall(11)], [wall(16), wall(36)]]}],
        "delivered": {}, "emulator": {"received": 0, "rejected": 0},
        "lateness": {"p50": 0.001, "p99": 0.002, "max": 0.002},
        "ack_ms": {"p50": 1.0, "p99": 2.0, "max": 2.0}, "problems": [],
    }  # fmt: skip
    return s, tr, raw


def test_wall_times_become_scenario_times():
    s, tr, raw = setup()
    run = to_run(typed(raw), s, tr)
    c1, c2 = run.conversations
    assert c1.queued_at == pytest.approx(0.0) and c1.assigned_at == pytest.approx(1.0)
    assert c1.reply_delays == pytest.approx([12.0, 21.0]) and c1.answered
    assert c1.closed_at == pytest.approx(100.0) and c1.agent_id == "a-0001"
    assert (
        c2.missed and c2.left_at == pytest.approx(90.0) and c2.left_queue_at == pytest.approx(90.0)
    )
    assert run.agents[0].busy[1] == pytest.approx((16.0, 36.0))


def test_away_spans_and_the_roster_give_productive_and_paid_hours():
    """An agent on a shift with a 10-minute break: its away span in the raw file (wall time)
    becomes the record's away span (scenario time), productive time leaves it out, and paid
    hours come from the roster the replay played."""
    shift = {"start": "00:00", "end": "01:00", "count": 1}
    shift["breaks"] = [{"length": "10m", "after": "20m"}]
    s = scenario(agents=[{"group": "a", "skills": ["chat"], "wind_down": "1m", "shifts": [shift]}])
    _, tr, raw = setup()
    raw["agents"][0]["away"] = [[wall(1220), wall(1800)]]  # finishing a chat until 20:20
    run = to_run(typed(raw), s, tr)
    assert run.agents[0].away == [pytest.approx((1220.0, 1800.0))]
    assert run.roster is not None and [a.id for a in run.roster.agents] == ["a-0001"]
    validity = judge(typed(raw), max_lateness_ms=50, scenario=s)
    results, _ = replay_results(typed(raw), s, tr, validity)
    assert results.total["paid_hours"]["mean"] == pytest.approx(1.0)
    assert results.total["logged_in_hours"]["mean"] == pytest.approx(1.0)
    assert results.total["productive_hours"]["mean"] == pytest.approx(1.0 - 580 / 3600)
    busy = 10.0 + 20.0
    assert results.total["occupancy"]["mean"] == pytest.approx(busy / (3600 - 580))
    del raw["agents"][0]["away"]  # a file written before breaks
    assert to_run(typed(raw), s, tr).agents[0].away == []


def test_a_bot_responder_has_no_roster():
    s, tr, raw = setup()
    raw.update(responder="bot", agents=[], handled=[])
    assert to_run(typed(raw), s, tr).roster is None


def test_results_are_the_model_schema():
    s, tr, raw = setup()
    validity = judge(typed(raw), max_lateness_ms=50, scenario=s)
    results, _ = replay_results(typed(raw), s, tr, validity)
    assert results.source == "replay" and validity.valid
    assert results.total["offered"]["mean"] == 2 and results.total["missed_rate"]["mean"] == 0.5
    assert results.total["frt_mean"]["mean"] == pytest.approx(12.0)
    assert results.extra["validity"]["lateness_p99_ms"] == pytest.approx(2.0)


def test_lateness_and_lost_messages_make_a_run_invalid():
    _, _, raw = setup()
    late = copy.deepcopy(raw)
    late["lateness"]["p99"] = 0.5
    assert "lateness" in judge(typed(late), max_lateness_ms=100).reasons[0]
    lost_in = copy.deepcopy(raw)
    lost_in["handled"][0]["messages"] = 1  # the agent never saw the second acknowledged message
    verdict = judge(typed(lost_in), 100)
    assert not verdict.valid and verdict.lost_inbound == 1
    lost_out = copy.deepcopy(raw)
    lost_out["customers"][0]["replies"] = [wall(12)]  # a reply the gateway accepted never arrived
    assert judge(typed(lost_out), 100).lost_replies == 1


def test_a_conversation_never_routed_to_a_free_agent_is_lost():
    s, _, raw = setup()
    raw["customers"][1]["left_at"] = wall(240)  # c2 waits 60..240 s, 3 wall seconds at 60x
    raw["handled"][0]["closed"] = wall(250)
    assert judge(typed(raw), 100, s).valid  # held c1 for all of c2's wait: nothing to route to
    freed = copy.deepcopy(raw)
    freed["handled"][0]["closed"] = wall(40)  # free from 40 on: c2 should have been routed
    verdict = judge(typed(freed), 100, s)
    assert not verdict.valid and verdict.lost_inbound == 1
    assert any("never routed" in reason and "c2" in reason for reason in verdict.reasons)
    drained = copy.deepcopy(freed)
    drained["accepting"] = {
        "a-0001": [[wall(0), wall(50)]]
    }  # ... unless it had stopped taking chats
    assert judge(typed(drained), 100, s).valid
    brief = copy.deepcopy(freed)
    brief["handled"][0]["closed"] = wall(
        240 - 0.5 * K
    )  # free for half a wall second: within the grace
    assert judge(typed(brief), 100, s).valid


@given(
    st.integers(1, 3),
    st.lists(st.tuples(st.integers(0, 100), st.integers(1, 40)), max_size=8),
    st.tuples(st.integers(0, 60), st.integers(1, 100)),
    st.lists(st.floats(0, 150), min_size=1, max_size=20),
)
def test_free_spans_are_exactly_where_a_slot_is_free(max_chats, holds, accepting, probes):
    s, _, _ = setup()
    handled = [
        HandledConversation(f"cv-{i}", f"c{i}", f"webchat:s{i}", "a-0001", float(a), float(a + d))
        for i, (a, d) in enumerate(holds)
    ]
    begin, length = accepting
    raw = RawReplay(
        t0=0.0, speedup=1.0, workers=1, customers=[], handled=handled,
        agents=[AgentLog("a-0001", "a", max_chats, 0.0)],
        delivered={}, emulator=EmulatorCounts(0, 0),
        lateness=Percentiles.of([]), ack_ms=Percentiles.of([]),
        accepting={"a-0001": [(float(begin), float(begin + length))]},
    )  # fmt: skip
    spans = free_spans(raw, s, end=1000.0).get("chat", [])
    edges = {float(x) for h in holds for x in (h[0], h[0] + h[1])} | {
        float(begin),
        float(begin + length),
    }
    for t in probes:
        if any(abs(t - e) < 1e-6 for e in edges):
            continue  # exactly on a change: either answer is right
        held = sum(1 for a, d in holds if a <= t < a + d)
        expected = begin <= t < begin + length and held < max_chats
        assert any(lo <= t < hi for lo, hi in spans) == expected, (t, held, spans)


def test_reply_delivery_latency_pairs_replies_in_order_per_customer():
    _, _, raw = setup()
    # Webchat: accepted 0.6 scenario s = 10 wall ms before the customer's poll returned each
    # reply; the two sends came back out of order.
    raw["handled"][0]["accepted"] = [wall(35.4), wall(11.4)]
    raw["customers"].append(
        {"index": 2, "id": "c3", "channel": "wa", "key": "whatsapp:7", "sent": [wall(0)],
         "acked": [wall(0)], "replies": [wall(20)], "left_at": None, "lateness": 0.0,
         "failures": []}
    )  # fmt: skip
    raw["handled"].append(
        {"conversation_id": "cv-3", "trace_id": "c3", "key": "whatsapp:7", "agent": "a-0001",
         "assigned": wall(1), "closed": wall(50), "messages": 1, "replies": 2, "left": None,
         "accepted": [wall(3), wall(4)]}
    )  # fmt: skip
    # Messengers: the provider emulator's own timestamps, 2 ms and 30 ms after acceptance.
    raw["outbound"] = {"whatsapp:7": [wall(4) + 0.030, wall(3) + 0.002], "whatsapp:9": [wall(9)]}
    raw["delivered"] = {"whatsapp:7": 2, "whatsapp:9": 1}
    validity = judge(typed(raw), 100)
    assert validity.valid and validity.delivered_replies == 4
    chat, wa = validity.channels["chat"], validity.channels["wa"]
    assert chat["replies"] == 2 and chat["delivery_p50_ms"] == pytest.approx(10.0)
    assert chat["delivery_max_ms"] == pytest.approx(10.0)
    assert wa["replies"] == 2 and wa["delivery_max_ms"] == pytest.approx(30.0)
    assert wa["delivery_p50_ms"] == pytest.approx(30.0)  # the upper median of [2, 30]
    assert validity.delivery_p50_ms == pytest.approx(10.0)
    assert validity.delivery_p99_ms == pytest.approx(30.0)
    block = validity.to_dict()
    assert block["delivery_p99_ms"] == pytest.approx(30.0) and set(block["channels"]) == {
        "chat",
        "wa",
    }


def test_no_delivered_reply_has_no_delivery_latency():
    _, _, raw = setup()  # a file from before delivery was measured: no acceptance times
    validity = judge(typed(raw), 100)
    assert validity.delivery_p50_ms is None and validity.delivery_p99_ms is None
    assert validity.delivered_replies == 0
    chat = validity.channels["chat"]
    assert set(validity.channels) == {"chat"} and chat["replies"] == 0
    # Nor an acknowledgement latency per channel: the file has none per customer.
    for measure in ("delivery", "ack"):
        assert [chat[f"{measure}_{s}_ms"] for s in ("p50", "p99", "max")] == [None] * 3


def test_acknowledgement_and_lateness_are_measured_per_channel():
    _, _, raw = setup()
    raw["customers"][0]["ack_ms"] = [4.0, 9.0]
    raw["customers"][0]["lateness"] = 0.002
    raw["customers"].append(
        {"index": 2, "id": "c3", "channel": "wa", "key": "whatsapp:7", "sent": [wall(0)],
         "acked": [wall(0)], "replies": [], "left_at": wall(5), "lateness": 0.012,
         "failures": [], "ack_ms": [30.0]}
    )  # fmt: skip
    raw["ack_ms"] = {"p50": 9.0, "p99": 30.0, "max": 30.0}
    validity = judge(typed(raw), 100)
    chat, wa = validity.channels["chat"], validity.channels["wa"]
    assert (chat["ack_p50_ms"], chat["ack_max_ms"]) == (9.0, 9.0)  # upper median of [4, 9]
    assert (wa["ack_p99_ms"], wa["lateness_max_ms"]) == (30.0, pytest.approx(12.0))
    assert chat["lateness_max_ms"] == pytest.approx(2.0)
    assert wa["replies"] == 0 and wa["delivery_p99_ms"] is None


def test_an_outage_is_reported_on_the_scenario_clock_with_its_effect():
    _, _, raw = setup()
    # Down from scenario second 50 to 70: c2 (first message at 60, never answered) arrived
    # meanwhile; an outage still open at the end runs to the end of the run.
    raw["outages"] = [[wall(50), wall(70)], [wall(100), None]]
    raw["finished"] = wall(120)
    raw["customers"][0]["retries"] = 2
    validity = judge(typed(raw), 100)
    first, second = validity.outages
    assert (first["start"], first["end"]) == (pytest.approx(50.0), pytest.approx(70.0))
    assert first["wall_seconds"] == pytest.approx(20.0 / K)
    assert (first["conversations"], first["missed"]) == (1, 1)
    assert second["end"] is None and second["wall_seconds"] == pytest.approx(20.0 / K)
    assert second["conversations"] == 0 and validity.retries == 2
    assert validity.to_dict()["outages"] == validity.outages
