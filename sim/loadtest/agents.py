"""Emulated agents: they log in through the gateway's agent desk and answer like the model's.

The agents speak to the gateway only through an :class:`~sim.loadtest.desk.AgentDesk` (the
reference gateway's, or the one ``--agents MODULE:CLASS`` names) and learn of conversations
only through its events (:data:`~sim.loadtest.desk.DeskEvent`). Each agent long-polls them,
keeps its conversations' messages in the order customers sent them, and types one reply at a
time for ``reply x reply_factor x slowdown[k-1] / speedup`` (``k`` its active chats when it
starts), taking the work from the trace. After the last answer (or the one answer a silently
departed customer gets) it closes the conversation ``close_after / speedup`` later. Shifts and
per-interval staffing log agents in and drain them on the schedule the model uses, with the
same agent ids.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass

import gevent
import gevent.event

from sim.loadtest.desk import (
    AgentDesk,
    AgentProfile,
    Assigned,
    CustomerLeft,
    CustomerMessage,
    DeskEvent,
    Sent,
)
from sim.loadtest.payloads import customer_key
from sim.loadtest.raw import AgentLog, HandledConversation, OpenSpan
from sim.scenario import AgentGroup, Scenario
from sim.trace import Conversation, Trace

POLL_TIMEOUT = 1.0
"""Wall seconds an agent's events poll waits: short, so that a drained agent notices soon that
it is gone."""


@dataclass(slots=True)
class _Chat:
    """A conversation an agent holds: what the raw file records of it, and the agent's own
    progress, which the file does not keep."""

    handled: HandledConversation
    replied_turns: int = 0
    """Turns answered so far: after the last one the agent closes the conversation."""
    last_reply: float | None = None
    """When the last reply was typed (``close_after`` runs from there, as in the model)."""

    @property
    def id(self) -> str:
        """The gateway's conversation id."""
        return self.handled.conversation_id


class EmulatedAgent:
    """One agent: a poller greenlet (events) and a hands greenlet (typing, one at a time)."""

    def __init__(self, id: str, group: AgentGroup, floor: AgentFloor) -> None:
        self.id = id
        self.group = group
        self.profile = AgentProfile(id, tuple(group.skills), group.max_chats)
        self.floor = floor
        self.desk = floor.desk
        self.slowdown = group.slowdown_factors
        self.active: dict[str, _Chat] = {}
        self._work: list[tuple[float, int, str, int]] = []
        self._wake = gevent.event.Event()
        self._abort: gevent.event.Event | None = None
        self._typing: str | None = None
        self.log: AgentLog | None = None
        self.accepting = False
        self.gone = True
        self.closing = 0
        self._greenlets: list[gevent.Greenlet] = []

    # -- presence ----------------------------------------------------------------------------

    def login(self) -> None:
        """Log in, or come back after a drain (same agent, same log while it is not gone)."""
        welcomed = self.desk.login(self.profile) if self.gone else self.desk.back(self.profile)
        if not welcomed:
            self.floor.problems.append(f"agent {self.id}: the desk refused its login")
            return
        now = time.time()
        if self.log is None or self.gone:
            self.log = AgentLog(self.id, self.group.group, self.group.max_chats, now)
            self.floor.logs.append(self.log)
        self.log.logout_at = None
        self.accepting = True
        spans = self.floor.accepting_spans.setdefault(self.id, [])
        if not spans or spans[-1][1] is not None:
            spans.append((now, None))
        if self.gone:
            self.gone = False
            self._greenlets = [gevent.spawn(self._poll), gevent.spawn(self._hands)]

    def drain(self) -> None:
        self.accepting = False
        spans = self.floor.accepting_spans.get(self.id)
        if spans and spans[-1][1] is None:
            spans[-1] = (spans[-1][0], time.time())
        self.desk.away(self.id)
        self._maybe_gone()

    def _maybe_gone(self) -> None:
        """After a drain with nothing left locally, ask the gateway: only its word that the agent
        is gone counts, since an assignment may be on its way in a poll not yet read."""
        if self.accepting or self.active or self.gone or self.closing:
            return
        if not self.desk.gone(self.id):
            return
        self.gone = True
        if self.log is not None:
            self.log.logout_at = time.time()
        self._wake.set()

    # -- events ------------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self.gone and not self.floor.stopping:
            events = self.desk.events(self.id, POLL_TIMEOUT)
            if events is None:
                gevent.sleep(0.05)
                continue
            for event in events:
                self._on_event(event)
            if not events:
                self._maybe_gone()

    def _on_event(self, event: DeskEvent) -> None:
        cid = event.conversation_id
        if isinstance(event, Assigned):
            protocol = self.floor.protocols.get(event.channel)
            key = customer_key(protocol, event.customer_id) if protocol else event.customer_id
            conversation = self.floor.conversations.get(key)
            if conversation is None:
                if key in self.floor.earlier:
                    # A customer of an earlier run of this process who left silently while
                    # queued: not this run's; close it so that it holds no slot.
                    self.floor.leftovers += 1
                    self.desk.close(self.id, cid)
                    return
                self.floor.problems.append(
                    f"agent {self.id}: assigned {cid} of unknown customer {key}"
                )
                return
            assigned = event.assigned_at if event.assigned_at is not None else time.time()
            chat = _Chat(HandledConversation(cid, conversation.id, key, self.id, assigned))
            self.floor.handled.append(chat.handled)
            self.floor.by_key[key] = chat
            self.active[cid] = chat
            if key in self.floor.left_silently:
                chat.handled.left = "silent"
            for sent_at in event.messages:
                self._queue(chat, sent_at)
        elif isinstance(event, CustomerMessage):
            held = self.active.get(cid)
            if held is not None:
                self._queue(held, event.sent_at)
        elif isinstance(event, CustomerLeft):
            held = self.active.pop(cid, None)
            if held is not None:
                held.handled.left = "visible"
                held.handled.closed = time.time()
                if self._typing == cid and self._abort is not None:
                    self._abort.set()
                self._maybe_gone()

    def _queue(self, chat: _Chat, sent_at: float) -> None:
        turn = chat.handled.messages
        chat.handled.messages += 1
        heapq.heappush(self._work, (sent_at, next(self.floor.counter), chat.id, turn))
        self._wake.set()

    # -- hands -------------------------------------------------------------------------------

    def _hands(self) -> None:
        while not self.gone and not self.floor.stopping:
            if not self._work:
                self._wake.clear()
                self._wake.wait(timeout=1.0)
                continue
            _, _, cid, turn = heapq.heappop(self._work)
            chat = self.active.get(cid)
            if chat is None:
                continue  # the customer left (webchat close)
            conversation = self.floor.trace_by_id[chat.handled.trace_id]
            if turn >= len(conversation.turns):
                continue  # a message the trace does not have: nothing to work from
            k = len(self.active)
            work = (
                conversation.turns[turn].reply
                * self.group.reply_factor
                * self.slowdown[min(k, len(self.slowdown)) - 1]
            )
            start = time.time()
            self._typing, self._abort = cid, gevent.event.Event()
            aborted = self._abort.wait(timeout=work / self.floor.speedup)
            self._typing = None
            if self.log is not None:
                self.log.busy.append((start, time.time()))
            if aborted or cid not in self.active:
                continue
            # The hands are free as soon as the reply is typed (as in the model); sending it
            # over HTTP happens beside them.
            gevent.spawn(self._send, chat, conversation, turn, time.time())

    def _send(self, chat: _Chat, conversation: Conversation, turn: int, typed: float) -> None:
        cid = chat.id
        sent = self.desk.reply(self.id, cid, f"Ответ {turn + 1}", f"{cid}-{turn}")
        if sent is not Sent.ACCEPTED:
            if sent is Sent.FAILED:
                self.floor.problems.append(
                    f"agent {self.id}: reply to {cid} failed (Locust's failures say how)"
                )
            return
        chat.handled.replies += 1
        chat.handled.accepted.append(time.time())
        chat.replied_turns = turn + 1
        chat.last_reply = typed
        if chat.replied_turns >= len(conversation.turns) or chat.handled.left == "silent":
            self._close_later(chat, conversation)

    def _close_later(self, chat: _Chat, conversation: Conversation) -> None:
        delay = conversation.close_after / self.floor.speedup
        if chat.last_reply is not None:
            delay = max(0.0, chat.last_reply + delay - time.time())
        gevent.spawn_later(delay, self._close, chat)

    def _close(self, chat: _Chat) -> None:
        if chat.id not in self.active or chat.handled.closed is not None:
            return
        self.closing += 1
        try:
            chat.handled.closed = time.time()
            self.desk.close(self.id, chat.id)
            # Only now is the slot free at the gateway, and the chat no longer counts here.
            self.active.pop(chat.id, None)
        finally:
            self.closing -= 1
        self._maybe_gone()

    def customer_left_silently(self, chat: _Chat) -> None:
        """The harness says this customer gave up: once answered, close as the model does."""
        chat.handled.left = "silent"
        if chat.replied_turns >= 1 and chat.id in self.active:
            self._close_later(chat, self.floor.trace_by_id[chat.handled.trace_id])


class AgentFloor:
    """All emulated agents of a replay, following the scenario's shifts and staffing."""

    def __init__(
        self,
        scenario: Scenario,
        trace: Trace,
        speedup: float,
        desk: AgentDesk | None,
        earlier: set[str] | None = None,
    ) -> None:
        self.scenario = scenario
        self._desk = desk
        self.speedup = speedup
        self.protocols = {name: channel.protocol for name, channel in scenario.channels.items()}
        self.conversations: dict[str, Conversation] = {}
        for conversation in trace:
            if conversation.customer is not None:
                self.conversations[
                    customer_key(self.protocols[conversation.channel], conversation.customer.id)
                ] = conversation
        self.trace_by_id = {c.id: c for c in trace}
        self.agents: dict[str, EmulatedAgent] = {}
        self.logs: list[AgentLog] = []
        self.accepting_spans: dict[
            str, list[OpenSpan]
        ] = {}  # agent id: [(taking new chats from, until)]
        self.handled: list[HandledConversation] = []
        self.by_key: dict[str, _Chat] = {}
        self.left_silently: set[str] = set()
        self.problems: list[str] = []
        self.counter = itertools.count()
        self.stopping = False
        self.earlier = earlier or set()
        """Customer keys of earlier runs of this Locust process (:mod:`sim.loadtest.runs`)."""
        self.leftovers = 0
        """Conversations of earlier runs the gateway still assigned, closed at once."""
        self._numbers: dict[str, itertools.count[int]] = {}
        self._schedule: list[gevent.Greenlet] = []

    @property
    def desk(self) -> AgentDesk:
        """The gateway's agent side (a floor without one, a bot responder's, has no agents)."""
        if self._desk is None:
            raise RuntimeError("a replay with a bot as the responder has no agents")
        return self._desk

    def start(self, t0: float) -> list[gevent.Greenlet]:
        """Schedule every login and drain relative to ``t0`` (wall time of scenario time 0);
        nothing without a desk (a bot answers: no agents are emulated)."""
        greenlets = self._schedule
        if self._desk is None:
            return greenlets
        for group in self.scenario.agents:
            for shift in group.shifts or ():
                begin, end = self.scenario.shift_window(shift)
                greenlets.append(gevent.spawn(self._shift, group, t0, begin, end, shift.count))
            if group.staffing is not None:
                greenlets.append(gevent.spawn(self._staffing, group, t0))
        return greenlets

    def _new(self, group: AgentGroup) -> EmulatedAgent:
        numbers = self._numbers.setdefault(group.group, itertools.count(1))
        agent = EmulatedAgent(f"{group.group}-{next(numbers):04d}", group, self)
        self.agents[agent.id] = agent
        return agent

    def _sleep_until(self, t0: float, at: float) -> None:
        gevent.sleep(max(0.0, t0 + at / self.speedup - time.time()))

    def _shift(self, group: AgentGroup, t0: float, begin: float, end: float, size: int) -> None:
        self._sleep_until(t0, begin)
        team = [self._new(group) for _ in range(size)]
        for agent in team:
            agent.login()
        self._sleep_until(t0, end)
        for agent in team:
            agent.drain()

    def _staffing(self, group: AgentGroup, t0: float) -> None:
        on: list[EmulatedAgent] = []
        for index, wanted in enumerate([*(group.staffing or ()), 0]):
            self._sleep_until(t0, index * self.scenario.interval)
            while len(on) > wanted:
                leaving = min(reversed(on), key=lambda a: len(a.active))
                on.remove(leaving)
                leaving.drain()
            while len(on) < wanted:
                back = [
                    a
                    for a in self.agents.values()
                    if a.group.group == group.group and not a.accepting and not a.gone
                ]
                agent = back[-1] if back else self._new(group)
                on.append(agent)
                agent.login()

    def finish(self) -> None:
        """End the run at the gateway: no more logins, every agent still logged in logs out and
        any conversation still held is closed, so that the gateway is left as it was found (a
        later run, or another replay against the same gateway, meets no agent of this one)."""
        gevent.killall(self._schedule)
        for agent in self.agents.values():
            for chat in list(agent.active.values()):
                self.desk.close(agent.id, chat.id)
                chat.handled.closed = chat.handled.closed or time.time()
                agent.active.pop(chat.id, None)
            if agent.accepting:
                agent.drain()
        self.stopping = True

    def customer_left(self, key: str) -> None:
        """A messenger customer gave up silently (told by its worker, not by the gateway)."""
        self.left_silently.add(key)
        chat = self.by_key.get(key)
        if chat is not None:
            agent = self.agents.get(chat.handled.agent)
            if agent is not None:
                agent.customer_left_silently(chat)

    @property
    def busy(self) -> bool:
        """Whether any agent still holds a conversation, or is draining and not yet gone (an
        assignment may still reach it)."""
        return any(
            agent.active or agent.closing or (not agent.accepting and not agent.gone)
            for agent in self.agents.values()
        )
