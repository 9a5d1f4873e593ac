"""An Erlang C estimate of the agents needed per interval, drawn in the simulate report beside
the agents the scenario schedules (:func:`sim.shifts.scheduled_agents`).

It is an estimate, not a requirement (the requirement is what the planner finds with the model,
:mod:`sim.planner`), and every figure labels it so. It is the larger of two Erlang C estimates
with the channels' first-response target as the waiting target:

* hands: every agent is one server and a conversation needs ``work`` seconds of typing in all
  (hands-busy time per conversation, from the results' occupancy);
* slots: every chat slot is a server (an agent with ``k`` concurrent chats is ``k`` servers)
  and a conversation holds its slot for ``holding`` seconds (assignment to close).

Neither sees how concurrent chats interleave on one pair of hands, nor patience; the
discrete-event model is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.erlang import agents_for_service_level
from sim.scenario import Scenario

#: Service level assumed when the scenario has no target.
DEFAULT_SERVICE_LEVEL = 0.8


@dataclass(frozen=True, slots=True)
class ErlangEstimate:
    """Erlang C estimate of the agents needed per interval, and the assumptions behind it."""

    agents: np.ndarray
    holding: float
    work: float | None
    target: float
    service_level: float
    slots_per_agent: float


def estimated_agents(
    offered: np.ndarray,
    interval: float,
    *,
    holding: float,
    work: float | None,
    target: float,
    service_level: float,
    slots_per_agent: float,
) -> ErlangEstimate:
    """Erlang C's agents per interval for ``service_level`` of conversations to wait at most
    ``target`` seconds, the larger of the hands and slots estimates (see the module docstring).

    ``offered`` is conversations entering the queue per interval (NaN counts as none).
    """
    needed = np.zeros(offered.size)
    for j, conversations in enumerate(np.nan_to_num(offered, nan=0.0)):
        if conversations <= 0:
            continue
        rate = conversations / interval
        slots = agents_for_service_level(rate, holding, target, service_level).servers
        needed[j] = slots / slots_per_agent
        if work is not None and work > 0:
            needed[j] = max(
                needed[j], agents_for_service_level(rate, work, target, service_level).agents
            )
    return ErlangEstimate(needed, holding, work, target, service_level, slots_per_agent)


def work_per_conversation(
    occupancy: np.ndarray, agents: np.ndarray, offered: np.ndarray, interval: float
) -> float | None:
    """Hands-busy seconds per offered conversation over the day: sum of occupancy x agents
    logged in x interval, over the conversations offered (NaN intervals skipped)."""
    busy = float(np.nansum(occupancy * agents)) * interval
    conversations = float(np.nansum(offered))
    return busy / conversations if conversations > 0 and busy > 0 else None


def weighted_target(scenario: Scenario, offered: dict[str, float]) -> float:
    """The channels' first-response targets averaged with their offered conversations."""
    weights = {name: max(offered.get(name, 0.0), 0.0) for name in scenario.channels}
    total = sum(weights.values())
    if total <= 0:
        return min(c.first_response_target for c in scenario.channels.values())
    return sum(scenario.channels[n].first_response_target * w for n, w in weights.items()) / total
