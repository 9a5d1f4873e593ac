"""Agents per interval: scheduled by the scenario, and an Erlang C estimate of the need.

Results do not say how many agents were logged in, so the report derives it from the
scenario: each shift's ``count`` agents for the part of each interval inside the shift window,
or a group's ``staffing`` list. Agents finishing their chats after a shift ends are not
counted (the schedule, not the drain).

The *required* agents are an approximation, the larger of two Erlang C estimates with the
channels' first-response target as the waiting target:

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
from sim.kpi import time_in_bins
from sim.scenario import Scenario

#: Service level assumed when the scenario has no target.
DEFAULT_SERVICE_LEVEL = 0.8


@dataclass(frozen=True, slots=True)
class Schedule:
    """Agents logged in per interval (time-averaged) for each group, and their chat slots."""

    groups: dict[str, np.ndarray]
    slots: np.ndarray

    @property
    def agents(self) -> np.ndarray:
        total = np.zeros_like(self.slots)
        for agents in self.groups.values():
            total = total + agents
        return total

    @property
    def slots_per_agent(self) -> float:
        """Chat slots per logged-in agent, averaged over the day (agent time weighted)."""
        total = float(self.agents.sum())
        return float(self.slots.sum()) / total if total > 0 else 1.0


def scheduled_agents(scenario: Scenario) -> Schedule:
    """Agents each group has logged in during each interval, from its shifts or staffing."""
    count = scenario.n_intervals
    edges = np.arange(count + 1) * scenario.interval
    groups: dict[str, np.ndarray] = {}
    slots = np.zeros(count)
    for group in scenario.agents:
        agents = np.zeros(count)
        for shift in group.shifts or []:
            begin, end = scenario.shift_window(shift)
            inside = time_in_bins(
                np.array([begin]), np.array([end]), edges, np.array([float(shift.count)])
            )
            agents += inside / scenario.interval
        if group.staffing:
            listed = np.array(group.staffing[:count], dtype=float)
            agents[: listed.size] += listed
        groups[group.group] = agents
        slots += agents * group.max_chats
    return Schedule(groups, slots)


@dataclass(frozen=True, slots=True)
class Required:
    """Erlang C estimate of the agents needed per interval, and the assumptions behind it."""

    agents: np.ndarray
    holding: float
    work: float | None
    target: float
    service_level: float
    slots_per_agent: float


def required_agents(
    offered: np.ndarray,
    interval: float,
    *,
    holding: float,
    work: float | None,
    target: float,
    service_level: float,
    slots_per_agent: float,
) -> Required:
    """Agents needed per interval so that ``service_level`` of conversations wait at most
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
    return Required(needed, holding, work, target, service_level, slots_per_agent)


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
