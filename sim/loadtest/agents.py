"""Emulated agents: they log in through the gateway's agent API and answer like the model's.

Each agent long-polls its events, keeps its conversations' messages in the order customers sent
them, and types one reply at a time for ``reply x reply_factor x slowdown[k-1] / speedup``
(``k`` its active chats when it starts), taking the work from the trace. After the last answer
(or the one answer a silently departed customer gets) it closes the conversation
``close_after / speedup`` later. Shifts and per-interval staffing log agents in and drain them
on the schedule the model uses, with the same agent ids.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event

from sim.loadtest.payloads import customer_key
from sim.records import AgentRecord
from sim.scenario import AgentGroup, Scenario
from sim.trace import Conversation, Trace

Call = Callable[[str, str, dict[str, Any] | None, str], tuple[int, Any]]
"""``call(method, path, json, name) -> (status, body)``: the agent API over HTTP."""


@dataclass(slots=True)
class Handled:
    """One conversation as its agent saw it (wall-clock seconds)."""

    conversation_id: str
    trace_id: str
    key: str
    agent: str
    assigned: float
    closed: float | None = None
    messages: int = 0
    replies: int = 0
    replied_turns: int = 0
    left: str | None = None  # "visible" (gateway told) or "silent" (harness told)
    last_reply: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "trace_id": self.trace_id,
            "key": self.key,
            "agent": self.agent,
            "assigned": self.assigned,
            "closed": self.closed,
            "messages": self.messages,
            "replies": self.replies,
            "left": self.left,
        }


class EmulatedAgent:
    """One agent: a poller greenlet (events) and a hands greenlet (typing, one at a time)."""

    def __init__(self, id: str, group: AgentGroup, floor: AgentFloor) -> None:
        self.id = id
        self.group = group
        self.floor = floor
        self.slowdown = group.slowdown_factors
        self.active: dict[str, Handled] = {}
        self._work: list[tuple[float, int, str, int]] = []
        self._wake = gevent.event.Event()
        self._abort: gevent.event.Event | None = None
        self._typing: str | None = None
        self.log: AgentRecord | None = None
        self.accepting = False
        self.gone = True
        self._seq = 0
        self.closing = 0
        self._greenlets: list[gevent.Greenlet] = []

    # -- presence ----------------------------------------------------------------------------

    def login(self) -> None:
        status, _ = self.floor.call("POST", "/agents/login", {"agent_id": self.id, "skills": self.group.skills, "max_chats": self.group.max_chats}, "agent login")
        if status != 200:
            self.floor.problems.append(f"agent {self.id}: login answered {status}")
            return
        now = time.time()
        if self.log is None or self.gone:
            self.log = AgentRecord(self.id, self.group.group, self.group.max_chats, now)  # wall-clock times
            self.floor.logs.append(self.log)
        self.log.logout_at = None
        self.accepting = True
        spans = self.floor.accepting_spans.setdefault(self.id, [])
        if not spans or spans[-1][1] is not None:
            spans.append([now, None])
        if self.gone:
            self.gone = False
            self._greenlets = [gevent.spawn(self._poll), gevent.spawn(self._hands)]

    def drain(self) -> None:
        self.accepting = False
        spans = self.floor.accepting_spans.get(self.id)
        if spans and spans[-1][1] is None:
            spans[-1][1] = time.time()
        self.floor.call("POST", f"/agents/{self.id}/logout", None, "agent logout")
        self._maybe_gone()

    def _maybe_gone(self) -> None:
        """After a drain with nothing left locally, ask the gateway: only its word that the agent
        is gone counts, since an assignment may be on its way in a poll not yet read."""
        if self.accepting or self.active or self.gone or self.closing:
            return
        status, body = self.floor.call("GET", f"/agents/{self.id}", None, "")
        if status == 200 and isinstance(body, dict) and body.get("state") != "gone":
            return
        self.gone = True
        if self.log is not None:
            self.log.logout_at = time.time()
        self._wake.set()

    # -- events ------------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self.gone and not self.floor.stopping:
            status, events = self.floor.call("GET", f"/agents/{self.id}/events?timeout=1&after={self._seq}", None, "")
            if status != 200 or not isinstance(events, list):
                gevent.sleep(0.05)
                continue
            for event in events:
                self._seq = max(self._seq, int(event["seq"]))
                self._on_event(event)
            if not events:
                self._maybe_gone()

    def _on_event(self, event: dict[str, Any]) -> None:
        kind, cid = event["type"], event["conversation_id"]
        if kind == "assigned":
            customer = event["customer"]["id"]
            key = customer_key(self.floor.protocols[event["channel"]], customer)
            conversation = self.floor.conversations.get(key)
            if conversation is None:
                self.floor.problems.append(f"agent {self.id}: assigned {cid} of unknown customer {key}")
                return
            handled = Handled(cid, conversation.id, key, self.id, float(event["ts"]))
            self.floor.handled.append(handled)
            self.floor.by_key[key] = handled
            self.active[cid] = handled
            if key in self.floor.left_silently:
                handled.left = "silent"
            for message in event["messages"]:
                if message["sender"] == "customer":
                    self._queue(handled, float(message["ts"]))
        elif kind == "message":
            handled_or_none = self.active.get(cid)
            if handled_or_none is not None and event["message"]["sender"] == "customer":
                self._queue(handled_or_none, float(event["message"]["ts"]))
        elif kind == "left":
            handled_or_none = self.active.pop(cid, None)
            if handled_or_none is not None:
                handled_or_none.left = "visible"
                handled_or_none.closed = time.time()
                if self._typing == cid and self._abort is not None:
                    self._abort.set()
                self._maybe_gone()

    def _queue(self, handled: Handled, sent_at: float) -> None:
        turn = handled.messages
        handled.messages += 1
        heapq.heappush(self._work, (sent_at, next(self.floor.counter), handled.conversation_id, turn))
        self._wake.set()

    # -- hands -------------------------------------------------------------------------------

    def _hands(self) -> None:
        while not self.gone and not self.floor.stopping:
            if not self._work:
                self._wake.clear()
                self._wake.wait(timeout=1.0)
                continue
            _, _, cid, turn = heapq.heappop(self._work)
            handled = self.active.get(cid)
            if handled is None:
                continue  # the customer left (webchat close)
            conversation = self.floor.trace_by_id[handled.trace_id]
            if turn >= len(conversation.turns):
                continue  # a message the trace does not have: nothing to work from
            k = len(self.active)
            work = conversation.turns[turn].reply * self.group.reply_factor * self.slowdown[min(k, len(self.slowdown)) - 1]
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
            gevent.spawn(self._send, handled, conversation, turn, time.time())

    def _send(self, handled: Handled, conversation: Conversation, turn: int, typed: float) -> None:
        cid = handled.conversation_id
        status, _ = self.floor.call("POST", f"/conversations/{cid}/reply", {"agent_id": self.id, "text": f"Ответ {turn + 1}", "id": f"{cid}-{turn}"}, "agent reply")
        if status not in (200, 202):
            if status != 409:
                self.floor.problems.append(f"agent {self.id}: reply to {cid} answered {status}")
            return
        handled.replies += 1
        handled.replied_turns = turn + 1
        handled.last_reply = typed  # close_after runs from the end of typing, as in the model
        if handled.replied_turns >= len(conversation.turns) or handled.left == "silent":
            self._close_later(handled, conversation)

    def _close_later(self, handled: Handled, conversation: Conversation) -> None:
        delay = conversation.close_after / self.floor.speedup
        if handled.last_reply is not None:
            delay = max(0.0, handled.last_reply + delay - time.time())
        gevent.spawn_later(delay, self._close, handled)

    def _close(self, handled: Handled) -> None:
        if handled.conversation_id not in self.active or handled.closed is not None:
            return
        self.closing += 1
        try:
            handled.closed = time.time()
            self.floor.call("POST", f"/conversations/{handled.conversation_id}/close", {"agent_id": self.id}, "agent close")
            # Only now is the slot free at the gateway, and the chat no longer counts here.
            self.active.pop(handled.conversation_id, None)
        finally:
            self.closing -= 1
        self._maybe_gone()

    def customer_left_silently(self, handled: Handled) -> None:
        """The harness says this customer gave up: once answered, close as the model does."""
        handled.left = "silent"
        if handled.replied_turns >= 1 and handled.conversation_id in self.active:
            self._close_later(handled, self.floor.trace_by_id[handled.trace_id])


class AgentFloor:
    """All emulated agents of a replay, following the scenario's shifts and staffing."""

    def __init__(self, scenario: Scenario, trace: Trace, speedup: float, call: Call) -> None:
        self.scenario = scenario
        self.speedup = speedup
        self.call = call
        self.protocols = {name: channel.protocol for name, channel in scenario.channels.items()}
        self.conversations: dict[str, Conversation] = {}
        for conversation in trace:
            if conversation.customer is not None:
                self.conversations[customer_key(self.protocols[conversation.channel], conversation.customer.id)] = conversation
        self.trace_by_id = {c.id: c for c in trace}
        self.agents: dict[str, EmulatedAgent] = {}
        self.logs: list[AgentRecord] = []
        self.accepting_spans: dict[str, list[list[float | None]]] = {}  # agent id: [taking new chats from, until]
        self.handled: list[Handled] = []
        self.by_key: dict[str, Handled] = {}
        self.left_silently: set[str] = set()
        self.problems: list[str] = []
        self.counter = itertools.count()
        self.stopping = False
        self._numbers: dict[str, itertools.count[int]] = {}

    def start(self, t0: float) -> list[gevent.Greenlet]:
        """Schedule every login and drain relative to ``t0`` (wall time of scenario time 0)."""
        greenlets = []
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
                back = [a for a in self.agents.values() if a.group.group == group.group and not a.accepting and not a.gone]
                agent = back[-1] if back else self._new(group)
                on.append(agent)
                agent.login()

    def customer_left(self, key: str) -> None:
        """A messenger customer gave up silently (told by its worker, not by the gateway)."""
        self.left_silently.add(key)
        handled = self.by_key.get(key)
        if handled is not None:
            agent = self.agents.get(handled.agent)
            if agent is not None:
                agent.customer_left_silently(handled)

    @property
    def busy(self) -> bool:
        """Whether any agent still holds a conversation, or is draining and not yet gone (an
        assignment may still reach it)."""
        return any(agent.active or agent.closing or (not agent.accepting and not agent.gone) for agent in self.agents.values())
