"""Who was on duty: the agents the logs show holding chats, per interval, and how many chats
one of them held at once.

An agent holds a chat from its assignment (``assigned_at``; the first response where the logs
do not say) to its close. An agent is on duty in an interval when it took a new chat in it or
held one through all of it; an agent who only finishes chats into an interval (it was draining:
end of shift, a break) is not. An interval's staffing is the number of such agents, averaged
over the days the logs cover that interval (rounded). Agents logged in but given nothing are
invisible in conversation logs, so in quiet intervals this is a lower bound of who was there;
where the desk is busy, routing to the least loaded agent gives every agent chats and the count
is exact. ``max_chats`` is the most chats any agent held at the same time.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.durations import DAY
from sim.fit.calendar import Calendar
from sim.history import LoggedConversation, LoggedMessage

_MIN_COVERED = 0.5
"""An interval instance counts towards the average when the logs cover at least this share."""


@dataclass(frozen=True, slots=True)
class Holding:
    """One agent holding one chat, in local seconds since the epoch."""

    agent: str
    start: float
    end: float
    conversation: str = ""


class Desk:
    """Which chats each agent held when: answers whether an agent held nothing but one chat
    at an instant. A response to a message that reached an agent holding no other chat was
    typed at once (the hands were free) and without slowdown (typing speed is set by the chats
    held when typing starts), so it shows the reply work itself. Conditioning on the start
    alone keeps long replies in: a chat assigned while the agent types does not stop it."""

    def __init__(self, held: Sequence[Holding]) -> None:
        by_agent: dict[str, list[Holding]] = defaultdict(list)
        for h in held:
            by_agent[h.agent].append(h)
        self._starts: dict[str, list[float]] = {}
        self._held: dict[str, list[Holding]] = {}
        self._longest: dict[str, float] = {}
        for agent, items in by_agent.items():
            items.sort(key=lambda h: h.start)
            self._held[agent] = items
            self._starts[agent] = [h.start for h in items]
            self._longest[agent] = max(h.end - h.start for h in items)

    def alone(self, agent: str | None, conversation: str, at: float) -> bool:
        """Whether ``agent`` held no chat but ``conversation`` at ``at`` (local seconds)."""
        if agent is None or agent not in self._held:
            return False
        items = self._held[agent]
        i = bisect.bisect_right(self._starts[agent], at) - 1
        reach = at - self._longest[agent]
        while i >= 0 and items[i].start >= reach:
            other = items[i]
            if other.conversation != conversation and other.start <= at < other.end:
                return False
            i -= 1
        return True


@dataclass(frozen=True, slots=True)
class Staffing:
    """Agents on duty per interval of the horizon, and the concurrency seen."""

    agents: np.ndarray
    """Mean agents on duty per interval (not rounded)."""
    max_chats: int
    names: int
    """Distinct agents in the logs."""
    holdings: int


def holdings(
    conversations: Sequence[LoggedConversation], messages: dict[str, list[LoggedMessage]]
) -> list[Holding]:
    """Each conversation an agent held, from assignment (or first response) to close (or its
    last message, where the logs do not say when it closed)."""
    held = []
    for c in conversations:
        if c.agent is None:
            continue
        start = c.assigned_at if c.assigned_at is not None else c.first_response_at
        if start is None:
            continue
        end = c.closed_at
        if end is None:
            thread = messages.get(c.id)
            end = max(start, thread[-1].at) if thread else start
        held.append(Holding(c.agent, start + c.utc_offset, end + c.utc_offset, c.id))
    return held


def most_concurrent(held: Sequence[Holding]) -> int:
    """The most chats one agent held at once (a close and an assignment at the same instant do
    not overlap)."""
    events: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for h in held:
        events[h.agent].append((h.start, 1))
        events[h.agent].append((h.end, -1))
    most = 0
    for timeline in events.values():
        timeline.sort()
        now = 0
        for _, step in timeline:
            now += step
            most = max(most, now)
    return most


def staffing(calendar: Calendar, held: Sequence[Holding]) -> Staffing:
    """Distinct agents per interval instance, averaged per interval of the horizon."""
    present: dict[tuple[int, int], set[str]] = defaultdict(set)
    step = calendar.interval
    for h in held:
        taken = math.floor(h.start / step)
        through = range(taken + 1, math.floor(h.end / step))  # held from its start to its end
        for index in (taken, *through):
            begin = index * step
            present[(math.floor(begin / DAY), calendar.slot(begin))].add(h.agent)
    total = np.zeros(calendar.slots)
    weight = np.zeros(calendar.slots)
    for day, key, share in calendar.instances():
        if share >= _MIN_COVERED:
            total[key] += len(present.get((day, key), ()))
            weight[key] += 1
    mean = np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)
    if calendar.week and np.any(weight == 0):  # a week fitted from less: the same time seen
        by_time = total.reshape(7, calendar.per_day).sum(axis=0)
        times = weight.reshape(7, calendar.per_day).sum(axis=0)
        pooled = np.divide(by_time, times, out=np.zeros_like(by_time), where=times > 0)
        for unseen in np.nonzero(weight == 0)[0]:
            mean[unseen] = pooled[unseen % calendar.per_day]
    return Staffing(mean, most_concurrent(held), len({h.agent for h in held}), len(held))
