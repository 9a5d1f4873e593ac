"""Offered load and reach from unlimited staff, against Little's law and hand-made limits."""

from __future__ import annotations

import pytest

from sim import textbook
from sim.load import measure_load
from sim.runner import Runner, Traffic
from sim.scenario import parse_scenario


def test_slot_load_is_littles_law():
    """With an idle agent for every conversation, conversations held at once average arrival
    rate x holding time (Little's law): 0.05/s x 600 s = 30. The count in an M/M/inf system
    has standard deviation sqrt(30) = 5.5 and forgets itself in about 2 x 600 s, so an hour of
    one replication is about three independent looks (error 3.2); hours 1-6 of 4 replications
    average 24 of them, an error of 0.65 (2.2%). The mean is held within 8%, under four errors.
    """
    scenario = parse_scenario(
        textbook.queue_data(
            1, 0.05, 600.0, None, intervals=8, interval="1h", targets={"service_level": 0.8}
        )
    )
    runner = Runner(Traffic(scenario, 3, 4), keep_traces=True)
    load, reach = measure_load(runner, scenario, ["a"], {"chat"})
    assert load.slots["chat"][1:7].mean() == pytest.approx(30.0, rel=0.08)
    assert reach.day["service_level"].value == pytest.approx(1.0)  # nobody waits


def test_reach_shows_what_staff_cannot_change():
    data = textbook.queue_data(
        1,
        0.02,
        300.0,
        None,
        intervals=2,
        interval="1h",
        targets={"service_level": 0.8, "frt_mean": 3},
    )
    data["channels"]["chat"]["reply"] = {"dist": "constant", "value": 10.0}
    data["channels"]["chat"]["first_response_target"] = 5
    scenario = parse_scenario(data)
    _, reach = measure_load(Runner(Traffic(scenario, 1, 2)), scenario, ["a"], {"chat"})
    assert (
        reach.day["service_level"].value == 0.0
    )  # ten seconds of typing against a five-second target
    assert reach.day["frt_mean"].value == pytest.approx(10.0)


@pytest.mark.parametrize("ample", [False, True])
@pytest.mark.parametrize("name", ["small.yaml", "tele2-weekday.yaml"])
def test_loads_read_from_the_columns_are_those_of_the_records(name, ample):
    """The typed work, the waiting check and the loads, read from the run's columns, are what
    the records say conversation by conversation (the definitions, written out)."""
    import math
    from pathlib import Path

    import numpy as np

    from sim.kpi import time_in_bins
    from sim.load import _loads, _typed_work, _waited, unlimited
    from sim.model import simulate_trace
    from sim.scenario import load_scenario
    from sim.traffic import draw_trace

    scenario = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / name)
    if ample:  # no waiting: the spans decide
        scenario = unlimited(scenario, [g.group for g in scenario.agents], 2_000)
    run = simulate_trace(scenario, draw_trace(scenario, 3, 0, texts=False))
    records = list(run.conversations)

    def typed(r):
        turns = r.conversation.turns
        if r.answered:
            return float(sum(turn.reply for turn in turns))
        return turns[0].reply if r.first_reply_at is not None else 0.0

    assert _typed_work(run.conversations).tolist() == [typed(r) for r in records]
    channels = set(scenario.channels)
    waited = any(
        r.assigned_at is None or r.assigned_at > r.queued_at + 1e-9
        for r in records
        if r.queued_at is not None and r.queued_at < scenario.duration
    )
    if not waited:
        held = {}
        for r in records:
            if r.queued_at is not None and r.queued_at < scenario.duration:
                end = r.closed_at if r.closed_at is not None else math.inf
                held.setdefault(r.agent_id, []).append((r.assigned_at, end))
        waited = any(
            spans[i][0] < spans[i - 1][1] - 1e-9
            for spans in map(sorted, held.values())
            for i in range(1, len(spans))
        )
    assert _waited(run, scenario.duration, channels) == waited
    assert waited is not ample
    edges = np.arange(scenario.n_intervals + 1) * scenario.interval
    slots, hands = _loads(run, scenario)
    for channel in scenario.channels:
        mine = [
            r
            for r in records
            if r.channel == channel and r.assigned_at is not None and r.closed_at is not None
        ]
        begin = np.array([r.assigned_at for r in mine], dtype=float)
        end = np.array([r.closed_at for r in mine], dtype=float)
        work = np.array([typed(r) for r in mine], dtype=float)
        rate = work / np.maximum(end - begin, 1e-9)
        expected_slots = time_in_bins(begin, end, edges) / scenario.interval
        expected_hands = time_in_bins(begin, end, edges, rate) / scenario.interval
        assert slots[channel].tolist() == expected_slots.tolist()
        assert hands[channel].tolist() == expected_hands.tolist()
