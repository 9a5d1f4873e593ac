"""Textbook queues as scenarios: exactly the assumptions the theory makes."""

from __future__ import annotations

from sim.distributions import Constant
from sim.textbook import queue_scenario


def test_an_mmn_plus_m_scenario_is_what_erlang_a_assumes():
    scenario = queue_scenario(
        10, 0.03, 300.0, 120.0, intervals=6, interval="1h", max_chats=2, target=20
    )
    (channel,) = scenario.channels.values()
    assert scenario.duration == 6 * 3600 and scenario.n_intervals == 6
    assert (
        channel.volume == 0.03 * 6 * 3600
        and not channel.silent
        and channel.first_response_target == 20
    )
    assert isinstance(channel.reply, Constant) and channel.reply.value == 0
    (group,) = scenario.agents
    assert (
        group.staffing == [10] * 6 and group.max_chats == 2 and group.slowdown_factors == (1.0, 1.0)
    )


def test_no_patience_means_none_runs_out():
    (channel,) = queue_scenario(3, 0.01, 60.0, None, intervals=2).channels.values()
    assert isinstance(channel.patience, Constant) and channel.patience.value >= 1e9
