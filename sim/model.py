"""The SimPy model of a chat contact centre.

It plays a :class:`~sim.trace.Trace` against the scenario's agents, following the model
semantics of docs/design.md: conversations pass the bot, wait in a priority queue, are routed by
:class:`~sim.routing.Router` to agents who hold several chats at once but type one reply at a
time, and close ``close_after`` after the last answer. Customers give up when their patience
runs out before the first reply, visibly (the slot frees) or silently (the conversation is
still served once: wasted capacity).

Everything random is already in the trace, so a run is deterministic. The model keeps SimPy's
event loop but drives conversations with event callbacks rather than one process per
conversation: a conversation is a handful of timeouts, which keeps the model close to the speed
of bare SimPy. It does no I/O and reads no clock but SimPy's.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from itertools import count

import simpy

from sim.collector import collector_paused
from sim.records import AgentRecord, ConversationLog, Run
from sim.roster import Roster, RosterPlayer, draw_roster
from sim.routing import RoutedAgent, Router
from sim.scenario import AgentGroup, Scenario
from sim.trace import Trace


class _Chat:
    """A conversation while the model plays it: its row in the run's log, and the model's
    scratch state (who holds it, which turn is next, when it was queued and its latest message
    came, whether it was answered, replied to or left, whether a visible abandonment dropped
    it), which the model reads back from here rather than from the log's columns."""

    __slots__ = (
        "agent",
        "answered",
        "dropped",
        "first_turn",
        "left",
        "message_at",
        "queued_at",
        "replied",
        "row",
        "turn",
        "turns",
    )

    def __init__(self, row: int, first_turn: int, turns: int) -> None:
        self.row = row
        self.first_turn = first_turn
        """Where its turns start in the trace's turn columns."""
        self.turns = turns
        self.agent: Agent | None = None
        self.dropped = False
        self.answered = False
        self.replied = False
        self.left = False
        self.turn = 0
        self.queued_at = 0.0
        self.message_at = 0.0


class Agent(RoutedAgent):
    """An agent in the model: routing state, a pair of hands and an inbox of customer messages
    waiting for an answer, ordered by when they arrived."""

    __slots__ = (
        "away_since",
        "busy",
        "inbox",
        "leaving",
        "record",
        "reply_factor",
        "resting",
        "slowdown",
        "token",
        "typing",
        "typing_since",
        "typing_turn",
    )

    def __init__(self, id: str, group: AgentGroup, now: float) -> None:
        super().__init__(id, group.skills, group.max_chats, now)
        self.reply_factor = group.reply_factor
        self.slowdown = group.slowdown_factors
        self.inbox: list[tuple[float, int, _Chat, int]] = []
        self.busy = False
        self.typing: _Chat | None = None
        self.typing_turn = 0
        self.typing_since = 0.0
        self.token = 0
        self.leaving = False
        """Drained to log out (end of shift, staffing going down), not for a pause."""
        self.resting = False
        """In a pause: away as soon as it holds nothing."""
        self.away_since: float | None = None
        self.record = AgentRecord(id, group.group, group.max_chats, now)


class Model:
    """One run of a scenario on one trace. Create, then :meth:`run` once."""

    def __init__(self, scenario: Scenario, trace: Trace, roster: Roster | None = None) -> None:
        unknown = set(trace.columns.channels) - set(scenario.channels)
        if unknown:
            raise ValueError(
                f"trace has channels the scenario does not: {', '.join(sorted(unknown))}"
            )
        self.scenario = scenario
        self.trace = trace
        self.env = simpy.Environment()
        self.router: Router[_Chat, Agent] = Router(
            {n: c.priority for n, c in scenario.channels.items()}
        )
        self.agents: list[Agent] = []
        # The trace's columns as lists: the model reads one number at a time, and a list hands
        # out its Python floats where an array would box a new one on every read.
        columns = trace.columns
        self._channel = [columns.channels[i] for i in columns.channel.tolist()]
        self._patience: list[float] = columns.patience.tolist()
        self._close_after: list[float] = columns.close_after.tolist()
        self._think: list[float] = columns.think.tolist()
        self._reply: list[float] = columns.reply.tolist()
        silent = {name: channel.silent for name, channel in scenario.channels.items()}
        self.log = ConversationLog(trace, [silent[name] for name in self._channel])
        self._seq = count()
        self.roster = roster or draw_roster(scenario, trace.header.seed, trace.header.replication)
        self.player: RosterPlayer[Agent] = RosterPlayer(scenario, self.roster, self)

    # -- running ---------------------------------------------------------------------------

    def run(self, progress: Callable[[float], None] | None = None) -> Run:
        """Play the whole trace until the last conversation closes.

        ``progress`` (optional) is called with the share of the horizon done, once an interval.
        """
        env = self.env
        env.process(self._arrivals())
        env.process(self._roster())
        if progress is None:
            env.run()
        else:
            horizon, step = self.scenario.duration, self.scenario.interval
            checkpoint = step
            while checkpoint <= horizon:
                env.run(until=checkpoint)
                progress(checkpoint / horizon)
                checkpoint += step
            env.run()
        run = Run(self.log, [agent.record for agent in self.agents], env.now, self.roster)
        # The roster player and the model point at each other: a cycle only the cyclic
        # collector would free, with every agent and record hanging from it. Cut, the model is
        # freed as soon as it is dropped, so a run leaves no garbage behind (sim.collector).
        del self.player
        return run

    # -- conversations ---------------------------------------------------------------------

    def _arrivals(self) -> simpy.events.ProcessGenerator:
        env = self.env
        timeout = env.timeout
        enter = self._on_enter
        columns = self.trace.columns
        arrivals = zip(
            columns.t.tolist(),
            columns.bot_time.tolist(),
            columns.bot_contained.tolist(),
            columns.first_turn.tolist(),
            columns.turn_count.tolist(),
            strict=True,
        )
        for row, (t, bot_time, contained, first_turn, turns) in enumerate(arrivals):
            delay = t - env.now
            if delay > 0:
                yield timeout(delay)
            if bot_time != bot_time:  # NaN: no bot
                self._enter(_Chat(row, first_turn, turns))
            elif not contained:
                timeout(bot_time, _Chat(row, first_turn, turns)).callbacks.append(enter)

    def _on_enter(self, event: simpy.Event) -> None:
        self._enter(event._value)

    def _enter(self, chat: _Chat) -> None:
        env = self.env
        now = env.now
        row = chat.row
        chat.queued_at = self.log.queued_at[row] = now
        env.timeout(self._patience[row], chat).callbacks.append(self._on_patience)
        agent = self.router.enqueue(chat, self._channel[row], now)
        if agent is not None:
            self._assign(agent, chat, now)

    def _assign(self, agent: Agent, chat: _Chat, now: float) -> None:
        log, row = self.log, chat.row
        log.assigned_at[row] = log.left_queue_at[row] = now
        log.agent_ids[row] = agent.id
        chat.agent = agent
        heapq.heappush(agent.inbox, (chat.queued_at, next(self._seq), chat, 0))
        if not agent.busy:
            self._type_next(agent)

    def _type_next(self, agent: Agent) -> None:
        """Start answering the oldest waiting message, if any."""
        inbox = agent.inbox
        while inbox:
            _, _, chat, turn = heapq.heappop(inbox)
            if chat.dropped:
                continue
            work = (
                self._reply[chat.first_turn + turn]
                * agent.reply_factor
                * agent.slowdown[agent.active - 1]
            )
            agent.busy = True
            agent.typing = chat
            agent.typing_turn = turn
            agent.typing_since = self.env.now
            self.env.timeout(work, (agent, agent.token)).callbacks.append(self._on_typed)
            return
        agent.busy = False
        agent.typing = None

    def _on_typed(self, event: simpy.Event) -> None:
        agent, token = event._value
        if token != agent.token:
            return  # the customer left while the agent typed; the typing was abandoned
        env = self.env
        now = env.now
        log = agent.record
        log.busy_starts.append(agent.typing_since)
        log.busy_ends.append(now)
        chat: _Chat = agent.typing
        log, row = self.log, chat.row
        turn = agent.typing_turn
        if turn == 0:
            log.first_reply_at[row] = now
            chat.replied = True
            if not chat.left:
                chat.answered = True
                log.answered[row] = True
                log.reply(row, now - chat.queued_at)
        else:
            log.reply(row, now - chat.message_at)
        if chat.answered and turn + 1 < chat.turns:
            chat.turn = turn + 1
            think = self._think[chat.first_turn + turn + 1]
            env.timeout(think, chat).callbacks.append(self._on_message)
        else:
            env.timeout(self._close_after[row], chat).callbacks.append(self._on_close)
        self._type_next(agent)

    def _on_message(self, event: simpy.Event) -> None:
        chat: _Chat = event._value
        now = self.env.now
        chat.message_at = now
        agent: Agent = chat.agent  # type: ignore[assignment]  # a message comes after assignment
        heapq.heappush(agent.inbox, (now, next(self._seq), chat, chat.turn))
        if not agent.busy:
            self._type_next(agent)

    def _on_close(self, event: simpy.Event) -> None:
        chat: _Chat = event._value
        self.log.closed_at[chat.row] = self.env.now
        self._release(chat.agent)  # type: ignore[arg-type]  # closing follows assignment

    def _on_patience(self, event: simpy.Event) -> None:
        chat: _Chat = event._value
        if chat.replied:
            return
        now = self.env.now
        log, row = self.log, chat.row
        log.left_at[row] = now
        chat.left = True
        if log.silent[row]:
            return  # nobody is told: it stays queued or assigned, and will be served once
        agent = chat.agent
        if agent is None:
            self.router.remove(chat)
            log.left_queue_at[row] = now
            return
        chat.dropped = True
        log.closed_at[row] = now
        if agent.typing is chat:
            agent.token += 1
            agent.record.busy_starts.append(agent.typing_since)
            agent.record.busy_ends.append(now)
            agent.busy = False
            agent.typing = None
        self._release(agent)
        if not agent.busy:
            self._type_next(agent)

    def _release(self, agent: Agent) -> None:
        now = self.env.now
        for chat in self.router.release(agent, now):
            self._assign(agent, chat, now)
        if agent.active == 0 and not agent.accepting:
            self._idle(agent)

    # -- agents: the roster's floor (sim.roster.Floor) --------------------------------------

    def _roster(self) -> simpy.events.ProcessGenerator:
        env = self.env
        apply = self.player.apply
        for step in self.player.steps:
            delay = step.at - env.now
            if delay > 0:
                yield env.timeout(delay)
            apply(step)

    def hire(self, group: AgentGroup, id: str) -> Agent:
        agent = Agent(id, group, self.env.now)
        self.agents.append(agent)
        return agent

    def login(self, agent: Agent) -> None:
        now = self.env.now
        if agent.away_since is not None:
            agent.record.away.append((agent.away_since, now))
            agent.away_since = None
            # Away, it held nothing and was gone at a gateway; back, it starts a new session
            # there, idle since this login (the routing tie-break), as the gateway counts it.
            agent.last_assigned = now
        agent.resting = agent.leaving = False
        agent.record.logout_at = None
        for chat in self.router.login(agent, now):
            self._assign(agent, chat, now)

    def drain(self, agent: Agent, *, leaving: bool) -> None:
        self.router.drain(agent)
        agent.leaving = leaving
        if agent.active == 0:
            self._idle(agent)

    def rest(self, agent: Agent) -> None:
        agent.resting = True
        if agent.active == 0:
            self._idle(agent)

    def held(self, agent: Agent) -> int:
        return agent.active

    def present(self, agent: Agent) -> bool:
        return agent.record.logout_at is None

    def _idle(self, agent: Agent) -> None:
        """A drained agent's last chat closed: it logs out, or its pause begins."""
        now = self.env.now
        if agent.leaving:
            if agent.away_since is not None:
                agent.record.away.append((agent.away_since, now))
                agent.away_since = None
            agent.record.logout_at = now
        elif agent.resting and agent.away_since is None:
            agent.away_since = now


def simulate_trace(
    scenario: Scenario,
    trace: Trace,
    progress: Callable[[float], None] | None = None,
    roster: Roster | None = None,
) -> Run:
    """Play ``trace`` on ``scenario``'s agents; deterministic for a given trace. The roster is
    drawn from the trace's seed and replication unless given."""
    # Collections would rescan the trace and the growing records over and over: on a day of a
    # million conversations that was 40% of the model's time (sim.collector).
    with collector_paused():
        return Model(scenario, trace, roster).run(progress)
