"""Emulated agents: they log in through the gateway's agent desk and answer like the model's.

The agents speak to the gateway only through an :class:`~sim.loadtest.desk.AgentDesk` (the
reference gateway's, or the one ``--agents MODULE:CLASS`` names) and learn of conversations
only through its events (:data:`~sim.loadtest.desk.DeskEvent`). Each agent long-polls them,
keeps its conversations' messages in the order customers sent them, and types one reply at a
time for ``reply x reply_factor x slowdown[k-1] / speedup`` (``k`` its active chats when it
starts), taking the work from the trace. After the last answer (or the one answer a silently
departed customer gets) it closes the conversation ``close_after / speedup`` later.

Who works when is the scenario's roster (:mod:`sim.roster`), the very one the model plays for
the trace's seed and replication: :class:`AgentFloor` is its :class:`~sim.roster.Floor`, and
one greenlet walks the :class:`~sim.roster.RosterPlayer`'s steps on the wall clock
(``t0 + at / speedup``), so that agent ids, logins, breaks, shrinkage, drains and who is asked
back are the model's. Through the desk, a step means:

- **login**: :meth:`~sim.loadtest.desk.AgentDesk.login` the first time, and
  :meth:`~sim.loadtest.desk.AgentDesk.back` after a drain (back from a pause, or asked back);
- **drain**: :meth:`~sim.loadtest.desk.AgentDesk.away`: no new chats, the agent finishes those
  it holds;
- **rest** (a pause begins): the agent is away from the moment the gateway says it holds
  nothing (:meth:`~sim.loadtest.desk.AgentDesk.gone`) until it is back, an ``away`` span of its
  log. It never leaves while typing or holding a chat, and it stays logged in in the records,
  whatever the gateway calls it meanwhile;
- **leave** (end of shift, staffing going down): drained, and logged out once the gateway says
  it holds nothing.
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
from sim.roster import Roster, RosterPlayer, draw_roster
from sim.scenario import AgentGroup, Scenario
from sim.trace import Conversation, Trace

POLL_TIMEOUT = 1.0
"""Wall seconds an agent's events poll waits: short, so that a drained agent notices soon that
the gateway holds nothing more for it."""


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
    """One agent: a poller greenlet (events) and a hands greenlet (typing, one at a time).

    Its presence, as the roster's steps leave it: ``accepting`` (taking new chats), ``leaving``
    (drained to log out), ``resting`` (on a pause: away once it holds nothing), ``out`` (the
    gateway holds nothing for it: before its first login, and from the gateway's word after a
    drain until it is back) and ``gone`` (logged out for good). Its greenlets run while it is
    not ``out``.
    """

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
        self.leaving = False
        self.resting = False
        self.away_since: float | None = None
        """Wall time its current pause began (it held nothing any more), None when not away."""
        self.out = True
        self.gone = False
        self.closing = 0
        self._joining = False
        """A login or back is under way: what the gateway said before it no longer holds."""
        self._epoch = 0
        """Counts logins, so that an answer of :meth:`AgentDesk.gone` asked before one is
        dropped."""
        self._poller: gevent.Greenlet | None = None
        self._hands_at_work: gevent.Greenlet | None = None

    # -- presence (the roster's steps, through AgentFloor) -----------------------------------

    def login(self) -> None:
        """Take new chats: log in the first time (or after logging out), come back after a
        pause or a drain otherwise (same log: a pause ends its away span)."""
        fresh = self.log is None or self.gone
        self._epoch += 1
        self._joining = True
        try:
            welcomed = self.desk.login(self.profile) if fresh else self.desk.back(self.profile)
        finally:
            self._joining = False
        if not welcomed:
            self.floor.problems.append(f"agent {self.id}: the desk refused its login")
            return
        now = time.time()
        if fresh or self.log is None:
            self.log = AgentLog(self.id, self.group.group, self.group.max_chats, now)
            self.floor.logs.append(self.log)
        self._end_away(now)
        self.log.logout_at = None
        self.accepting, self.leaving, self.resting, self.gone = True, False, False, False
        spans = self.floor.accepting_spans.setdefault(self.id, [])
        if not spans or spans[-1][1] is not None:
            spans.append((now, None))
        self.out = False
        # Greenlets that stopped while the gateway held nothing for the agent start again; one
        # still running sees ``out`` cleared and carries on.
        if self._poller is None or self._poller.dead:
            self._poller = gevent.spawn(self._poll)
        if self._hands_at_work is None or self._hands_at_work.dead:
            self._hands_at_work = gevent.spawn(self._hands)

    def drain(self, *, leaving: bool) -> None:
        """No new chats; finish those held. ``leaving``: log out once the gateway holds nothing
        for the agent (otherwise a pause follows)."""
        self.leaving = leaving
        if self.accepting:
            self.accepting = False
            spans = self.floor.accepting_spans.get(self.id)
            if spans and spans[-1][1] is None:
                spans[-1] = (spans[-1][0], time.time())
            self.desk.away(self.id)
        self._maybe_gone()

    def rest(self) -> None:
        """The pause begins: away as soon as the agent holds nothing."""
        self.resting = True
        self._maybe_gone()

    def _maybe_gone(self) -> None:
        """After a drain with nothing left locally, ask the gateway: only its word that it holds
        nothing for the agent counts, since an assignment may be on its way in a poll not yet
        read. Then a leaving agent logs out, and a resting one is away."""
        if self.accepting or self._joining or self.active or self.closing or self.gone:
            return
        if not self.out:
            epoch = self._epoch
            if not self.desk.gone(self.id):
                return
            if epoch != self._epoch or self.accepting or self._joining or self.active:
                return  # back meanwhile, or a chat came: the answer is stale
            if self.closing or self.gone or self.out:
                return
            self.out = True
            self._wake.set()
        now = time.time()
        if self.leaving:
            self.gone = True
            self._end_away(now)
            if self.log is not None:
                self.log.logout_at = now
        elif self.resting and self.away_since is None:
            self.away_since = now

    def abandon(self, now: float) -> None:
        """The run ended with the gateway down: the agent holds nothing and is logged out, in
        the records only."""
        self.active.clear()
        if self.log is not None and not self.gone:
            self._end_away(now)
            self.log.logout_at = self.log.logout_at or now
            self.gone = True

    def _end_away(self, now: float) -> None:
        if self.away_since is not None:
            if self.log is not None:
                self.log.away.append((self.away_since, now))
            self.away_since = None

    # -- events ------------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self.out and not self.floor.stopping:
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
        while not self.out and not self.floor.stopping:
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
    """All emulated agents of a replay, playing the scenario's roster (:mod:`sim.roster`) for
    the trace's seed and replication: the :class:`~sim.roster.Floor` of its
    :class:`~sim.roster.RosterPlayer`."""

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
        self.roster: Roster = draw_roster(scenario, trace.header.seed, trace.header.replication)
        """Who works when: the model's roster of the same trace."""
        self.player: RosterPlayer[EmulatedAgent] = RosterPlayer(scenario, self.roster, self)
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
        self._schedule: list[gevent.Greenlet] = []

    @property
    def desk(self) -> AgentDesk:
        """The gateway's agent side (a floor without one, a bot responder's, has no agents)."""
        if self._desk is None:
            raise RuntimeError("a replay with a bot as the responder has no agents")
        return self._desk

    @property
    def agents(self) -> dict[str, EmulatedAgent]:
        """Every agent that came to work so far, by id."""
        return self.player.agents

    def start(self, t0: float) -> list[gevent.Greenlet]:
        """Play the roster relative to ``t0`` (wall time of scenario time 0); nothing without a
        desk (a bot answers: no agents are emulated)."""
        if self._desk is not None:
            self._schedule.append(gevent.spawn(self._play, t0))
        return self._schedule

    def _play(self, t0: float) -> None:
        """Each step of the roster at its time on the wall clock, in the player's order."""
        for step in self.player.steps:
            gevent.sleep(max(0.0, t0 + step.at / self.speedup - time.time()))
            self.player.apply(step)

    # -- the roster's floor (sim.roster.Floor) ---------------------------------------------

    def hire(self, group: AgentGroup, id: str) -> EmulatedAgent:
        return EmulatedAgent(id, group, self)

    def login(self, agent: EmulatedAgent) -> None:
        agent.login()

    def drain(self, agent: EmulatedAgent, *, leaving: bool) -> None:
        agent.drain(leaving=leaving)

    def rest(self, agent: EmulatedAgent) -> None:
        agent.rest()

    def held(self, agent: EmulatedAgent) -> int:
        return len(agent.active)

    def present(self, agent: EmulatedAgent) -> bool:
        return not agent.gone

    # -- the end of a run --------------------------------------------------------------------

    def finish(self) -> None:
        """End the run at the gateway: no more roster steps, every agent still logged in logs
        out (one on a pause too: its away span ends) and any conversation still held is closed,
        so that the gateway is left as it was found (a later run, or another replay against the
        same gateway, meets no agent of this one)."""
        gevent.killall(self._schedule)
        for agent in list(self.agents.values()):
            for chat in list(agent.active.values()):
                self.desk.close(agent.id, chat.id)
                chat.handled.closed = chat.handled.closed or time.time()
                agent.active.pop(chat.id, None)
            if agent.log is not None and not agent.gone:
                agent.drain(leaving=True)
        self.stopping = True

    def abandon(self) -> None:
        """End the run without the gateway (it is down): no more roster steps, and what the
        agents still held or were logged in for ends now in the records only; nothing is sent,
        since nothing would answer."""
        gevent.killall(self._schedule)
        now = time.time()
        self.stopping = True
        for agent in list(self.agents.values()):
            for chat in list(agent.active.values()):
                chat.handled.closed = chat.handled.closed or now
            agent.abandon(now)

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
        """Whether any agent still holds a conversation, or is drained and the gateway has not
        yet said it holds nothing for it (an assignment may still reach it)."""
        return any(
            agent.active or agent.closing or (not agent.accepting and not agent.out)
            for agent in self.agents.values()
        )
