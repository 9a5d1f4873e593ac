"""Routing: who answers which conversation, the same rules in the model and the gateway.

The rules (docs/design.md, "Model semantics"): waiting conversations form one queue, served highest
priority first and first-come-first-served within a priority. An agent is *eligible* for a
conversation when it is accepting new chats, has the channel's skill and holds fewer than
``max_chats`` active conversations. Among eligible agents the one with the fewest active chats
wins; ties go to the one idle longest since its last assignment, then to the lowest agent id
(in natural order, so ``experts-9999`` comes before ``experts-10000``).

:class:`Router` applies these rules without a clock of its own (callers pass ``now``), so the
SimPy model and the asyncio gateway share it. It keeps the invariant that no waiting
conversation has an eligible agent; hence a freed slot or a new agent only ever needs to look
at the queue, and a new conversation only at the agents.
"""

from __future__ import annotations

import heapq
import re
from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item", bound=Hashable)

_DIGITS = re.compile(r"(\d+)")


def id_order(id: str) -> tuple[str | int, ...]:
    """The sort key of an agent id: digit runs compare as numbers (``a-2`` < ``a-10``).

    ``re.split`` with a capturing group alternates text and digits, text first, so two keys
    always compare text with text and numbers with numbers.
    """
    return tuple(int(part) if i % 2 else part for i, part in enumerate(_DIGITS.split(id)))


class RoutedAgent:
    """The part of an agent that routing reads and writes.

    ``last_assigned`` starts at the login time, so a fresh agent counts as idle since login.
    ``version`` changes whenever the routing key changes; the router's heaps use it to drop
    stale entries instead of searching and deleting them.
    """

    __slots__ = (
        "accepting",
        "active",
        "id",
        "last_assigned",
        "max_chats",
        "order",
        "skills",
        "version",
    )

    def __init__(self, id: str, skills: Iterable[str], max_chats: int, now: float = 0.0) -> None:
        if max_chats < 1:
            raise ValueError(f"agent {id}: max_chats must be at least 1, got {max_chats}")
        self.id = id
        self.order = id_order(id)
        self.skills: tuple[str, ...] = tuple(dict.fromkeys(skills))
        self.max_chats = max_chats
        self.active = 0
        self.last_assigned = now
        self.accepting = False
        self.version = 0

    @property
    def eligible(self) -> bool:
        """Accepting new chats and below its concurrency limit."""
        return self.accepting and self.active < self.max_chats

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} active={self.active}/{self.max_chats}>"


class _Ticket(Generic[Item]):
    __slots__ = ("alive", "channel", "item", "seq")

    def __init__(self, seq: int, item: Item, channel: str) -> None:
        self.seq = seq
        self.item = item
        self.channel = channel
        self.alive = True


A = TypeVar("A", bound=RoutedAgent)


class Router(Generic[Item, A]):
    """The queue of waiting conversations and the pool of agents that can take them.

    Every method that can start conversations returns what it assigned, so the caller (model or
    gateway) can tell the agents. ``priorities`` maps each channel to its priority (higher is
    served first); channels not named there cannot be queued.
    """

    def __init__(self, priorities: Mapping[str, int]) -> None:
        self._priority = {channel: -int(p) for channel, p in priorities.items()}
        self._queues: dict[str, deque[_Ticket[Item]]] = {c: deque() for c in priorities}
        self._waiting = dict.fromkeys(priorities, 0)
        self._tickets: dict[Item, _Ticket[Item]] = {}
        # One heap of (active, last_assigned, id order, push number, version, agent) per channel,
        # stale entries dropped lazily when they reach the top. The push number keeps the agent
        # objects themselves out of comparisons.
        self._pools: dict[str, list[tuple[int, float, tuple[str | int, ...], int, int, A]]] = {
            c: [] for c in priorities
        }
        self._compact_at = dict.fromkeys(priorities, 64)
        self._seq = 0
        self._front = 0
        self._pushes = 0

    # -- queries -------------------------------------------------------------------------

    def waiting(self, channel: str | None = None) -> int:
        """Conversations waiting for an agent, on one channel or on all."""
        if channel is None:
            return sum(self._waiting.values())
        return self._waiting[channel]

    def is_waiting(self, item: Item) -> bool:
        return item in self._tickets

    def waiting_items(self, channel: str) -> list[Item]:
        """Waiting conversations of a channel in queue order."""
        return [ticket.item for ticket in self._queues[channel] if ticket.alive]

    # -- agents --------------------------------------------------------------------------

    def login(self, agent: A, now: float) -> list[Item]:
        """Start (or resume) taking new chats; returns the waiting conversations it takes."""
        unknown = [skill for skill in agent.skills if skill not in self._pools]
        if unknown:
            raise ValueError(f"agent {agent.id}: unknown channel(s) {', '.join(unknown)}")
        agent.accepting = True
        agent.version += 1
        return self._fill(agent, now)

    def drain(self, agent: A) -> None:
        """Stop giving the agent new chats; it keeps its active ones until they close."""
        agent.accepting = False
        agent.version += 1

    def release(self, agent: A, now: float) -> list[Item]:
        """A conversation of ``agent`` closed; returns the waiting conversations it takes now."""
        if agent.active <= 0:
            raise ValueError(f"agent {agent.id} has no active conversation to release")
        agent.active -= 1
        agent.version += 1
        return self._fill(agent, now)

    # -- conversations -------------------------------------------------------------------

    def enqueue(self, item: Item, channel: str, now: float) -> A | None:
        """A conversation enters the queue; returns the agent it goes to at once, if any."""
        agent = self._take_agent(channel, now)
        if agent is not None:
            return agent
        self._seq += 1
        ticket = _Ticket(self._seq, item, channel)
        self._queues[channel].append(ticket)
        self._tickets[item] = ticket
        self._waiting[channel] += 1
        return None

    def requeue(self, items: Sequence[tuple[Item, str]], now: float) -> list[tuple[Item, A]]:
        """Conversations ``(item, channel)`` taken back from an agent go to the front of the
        queue, ahead of everything waiting, in the given order; those an eligible agent can take
        at once go to it instead and are returned with it."""
        assigned: list[tuple[Item, A]] = []
        back: list[tuple[Item, str]] = []
        for item, channel in items:
            agent = self._take_agent(channel, now)
            if agent is None:
                back.append((item, channel))
            else:
                assigned.append((item, agent))
        for item, channel in reversed(back):
            self._front -= 1  # below every sequence number given so far
            ticket = _Ticket(self._front, item, channel)
            self._queues[channel].appendleft(ticket)
            self._tickets[item] = ticket
            self._waiting[channel] += 1
        return assigned

    def remove(self, item: Item) -> bool:
        """Take a waiting conversation out of the queue (the customer left); False if absent."""
        ticket = self._tickets.pop(item, None)
        if ticket is None:
            return False
        ticket.alive = False
        self._waiting[ticket.channel] -= 1
        return True

    # -- internals -----------------------------------------------------------------------

    def _take_agent(self, channel: str, now: float) -> A | None:
        """The best eligible agent for ``channel``, assigned one more chat; None if none."""
        pool = self._pools[channel]
        while pool:
            entry = heapq.heappop(pool)
            agent = entry[5]
            if entry[4] == agent.version and agent.accepting:
                self._assign(agent, now)
                return agent
        return None

    def _assign(self, agent: A, now: float) -> None:
        agent.active += 1
        agent.last_assigned = now
        agent.version += 1
        self._offer(agent)

    def _offer(self, agent: A) -> None:
        if agent.accepting and agent.active < agent.max_chats:
            self._pushes += 1
            entry = (
                agent.active,
                agent.last_assigned,
                agent.order,
                self._pushes,
                agent.version,
                agent,
            )
            pools = self._pools
            for skill in agent.skills:
                pool = pools[skill]
                heapq.heappush(pool, entry)
                if len(pool) > self._compact_at[skill]:
                    self._compact(skill)

    def _compact(self, channel: str) -> None:
        """Drop a pool's stale entries. They are otherwise dropped only when they reach the
        top, and an agent below its limit keeps a fresh entry above its stale ones, so without
        this a pool would grow with every assignment. Doubling the threshold keeps the cost
        amortised constant; which agent wins is unchanged (stale entries never win)."""
        pool = self._pools[channel]
        pool[:] = [entry for entry in pool if entry[4] == entry[5].version and entry[5].accepting]
        heapq.heapify(pool)
        self._compact_at[channel] = max(2 * len(pool), 64)

    def _fill(self, agent: A, now: float) -> list[Item]:
        taken: list[Item] = []
        while agent.accepting and agent.active < agent.max_chats:
            ticket = self._next_for(agent.skills)
            if ticket is None:
                break
            ticket.alive = False
            del self._tickets[ticket.item]
            self._waiting[ticket.channel] -= 1
            taken.append(ticket.item)
            agent.active += 1
            agent.last_assigned = now
            agent.version += 1
        self._offer(agent)
        return taken

    def _next_for(self, skills: tuple[str, ...]) -> _Ticket[Item] | None:
        best: _Ticket[Item] | None = None
        best_key = (0, 0)
        for channel in skills:
            queue = self._queues[channel]
            while queue and not queue[0].alive:
                queue.popleft()
            if queue:
                head = queue[0]
                key = (self._priority[channel], head.seq)
                if best is None or key < best_key:
                    best, best_key = head, key
        if best is not None:
            self._queues[best.channel].popleft()
        return best
