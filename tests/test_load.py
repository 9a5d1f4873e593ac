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
