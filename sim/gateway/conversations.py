"""The conversation service: customers' messages in, agents' work out, routing in between.

A customer message on a channel either joins the customer's open conversation or opens a new
one, which enters the queue of the shared :class:`sim.routing.Router` (priority, FIFO, fewest
active chats, longest idle, lowest id: DESIGN.md's model semantics). Whatever the router
assigns becomes an ``assigned`` event for the agent. A conversation ends when its agent closes
it or, for webchat, when the customer leaves (``left`` event, slot freed at once); the next
message of that customer opens a new conversation.

Agents log in with skills and ``max_chats``, and log out by draining: no new chats, the active
ones stay until closed, and the agent is *gone* when its last one closes.

Every method that changes state is synchronous and validates before it changes anything, so on
the gateway's single event loop each request is atomic and a refused one leaves no trace. Each
one commits the store before it returns (:func:`_committed`), so what a request acknowledged is
durable before its answer leaves.

**Restart.** The service is built on whatever the store holds: agents come back in their state
(active ones accepting chats again, with their skills and limits), assigned conversations fill
their agents' slots again, queued ones re-enter the router in their original queue order, and
agent replies the platform never confirmed are sent again (at least once: a reply sent just
before a crash may go out twice). Agents resume their event streams with their last ``after``.

**Stale agents.** An agent that has not polled its events for ``agent_poll_timeout`` seconds (an
open long-poll counts as polling) loses its chats to the front of the queue, in their original
order, and is gone; each chat taken away is a ``left`` event for it, with the reason, so an
agent coming back learns what happened. Gone agents are forgotten ``agent_forget_after`` seconds
later (no longer listed; their unread events dropped).

**Bounds.** Identifiers that become state (customer, session, message, agent ids and reply
keys) are refused over :data:`MAX_ID_LENGTH` characters with 422; ended conversations leave the
service's memory (the store decides how long it keeps them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Concatenate, Literal, ParamSpec, TypeVar

from sim.routing import RoutedAgent, Router

from .config import GatewayConfig
from .errors import ApiError
from .inbound import Inbound, InboundMessage, MessageChange
from .longpoll import Signals, long_poll
from .metrics import GatewayMetrics, GatewayState
from .outbound import OutboundJob, Outbox
from .schemas import (
    AgentStatus,
    AssignedEvent,
    CloseResult,
    Customer,
    DeliveryEvent,
    LeftEvent,
    MessageEvent,
    ReplyResult,
    WebhookAck,
)
from .store import AgentRecord, AgentState, Conversation, Event, Message, Store, WebchatOut
from .views import message_view

log = logging.getLogger("sim.gateway")
P = ParamSpec("P")
R = TypeVar("R")

MAX_ID_LENGTH = 128
"""Longest identifier (customer, session, message, agent id, reply key) the gateway keeps."""


class GatewayAgent(RoutedAgent):
    """A logged-in agent: routing state plus its open conversations (in assignment order)."""

    __slots__ = ("conversations", "gone_at", "last_poll", "polls", "state")

    def __init__(self, id: str, skills: Iterable[str], max_chats: int, now: float) -> None:
        super().__init__(id, skills, max_chats, now)
        self.conversations: dict[str, None] = {}
        self.state: AgentState = "active"
        self.last_poll = now  # monotonic time of the last events poll (or login)
        self.polls = 0  # long-polls open right now
        self.gone_at: float | None = None  # wall time

    def record(self) -> AgentRecord:
        return AgentRecord(self.id, list(self.skills), self.max_chats, self.state, self.gone_at)


def _committed(
    method: Callable[Concatenate[ConversationService, P], R],
) -> Callable[Concatenate[ConversationService, P], R]:
    """Commit the store when ``method`` returns (or fails: the store then matches memory)."""

    @functools.wraps(method)
    def wrapper(service: ConversationService, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(service, *args, **kwargs)
        finally:
            service.store.commit()

    return wrapper


def check_id(what: str, value: str) -> None:
    """422 for an identifier longer than :data:`MAX_ID_LENGTH`."""
    if len(value) > MAX_ID_LENGTH:
        raise ApiError(
            422,
            "id_too_long",
            f"{what} is {len(value)} characters long; at most {MAX_ID_LENGTH} are accepted",
        )


class ConversationService:
    """Gateway state and its rules; see the module docstring.

    ``monotonic`` is the routing clock (idle times), ``wall`` stamps conversations, messages
    and events with Unix time; tests pass fakes.
    """

    def __init__(
        self,
        config: GatewayConfig,
        store: Store,
        metrics: GatewayMetrics,
        outbox: Outbox,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.outbox = outbox
        self._monotonic = monotonic
        self._wall = wall
        self.router: Router[str, GatewayAgent] = Router(
            {name: priority for name, (_, priority) in config.channels.items()}
        )
        self.agents: dict[str, GatewayAgent] = {}
        self._cursors: dict[str, int] = {}
        self._active = dict.fromkeys(config.channels, 0)
        self.agent_signals = Signals()
        self.webchat_signals = Signals()
        self.stopping = False
        self._pending: list[OutboundJob] = []
        self._sweeper: asyncio.Task[None] | None = None
        metrics.watch(
            GatewayState(self.queue_lengths, lambda: dict(self._active), self.agent_counts)
        )
        outbox.on_failed = self._delivery_failed
        self._restore()

    # -- inbound -------------------------------------------------------------------------

    @_committed
    def receive(self, channel: str, inbound: Inbound) -> WebhookAck:
        """Apply a parsed webhook of ``channel``: messages, delivery statuses, leaves."""
        for inbound_message in inbound.messages:
            check_id("customer id", inbound_message.customer_id)
            check_id("message id", inbound_message.key or "")
        for change in inbound.changes:
            check_id("customer id", change.customer_id)
            check_id("message id", change.key or "")
        for customer in inbound.closes:
            check_id("customer id", customer)
        for status in inbound.statuses:
            check_id("status message id", status.message_id)
            check_id("status recipient", status.recipient or "")
        protocol = self.config.channels[channel][0]
        ids: list[str] = []
        duplicates = 0
        for message in inbound.messages:
            if self._seen(channel, message.idempotency_key):
                duplicates += 1
                continue
            ids.append(self._customer_message(channel, protocol, message))
        ignored = inbound.ignored
        for change in inbound.changes:
            if self._seen(channel, change.idempotency_key):
                duplicates += 1
                continue
            if not self._customer_changed(channel, change):
                ignored += 1
        statuses = 0
        for status in inbound.statuses:
            # A platform retries a status callback like a message: one status is one record.
            if (
                self.store.claim_key(
                    f"status:{channel}:{status.message_id}:{status.status}:{status.recipient}"
                )
                is not None
            ):
                duplicates += 1
                self.metrics.duplicates.labels(channel).inc()
                continue
            statuses += 1
            self.store.record_status(status)
            self.metrics.statuses.labels(status.protocol, status.status).inc()
        closed = sum(self._customer_left(channel, customer) for customer in inbound.closes)
        if ignored:
            self.metrics.ignored.labels(protocol).inc(ignored)
        return WebhookAck(
            messages=len(ids),
            duplicates=duplicates,
            statuses=statuses,
            ignored=ignored,
            closed=closed,
            conversation_ids=ids,
        )

    def _seen(self, channel: str, idempotency_key: str | None) -> bool:
        """Whether a platform already delivered this (a retry); claims the key if not. Without
        a key (the platform gave no id) nothing can be recognised again."""
        if (
            idempotency_key is None
            or self.store.claim_key(f"in:{channel}:{idempotency_key}") is None
        ):
            return False
        self.metrics.duplicates.labels(channel).inc()
        return True

    def _customer_message(self, channel: str, protocol: str, inbound: InboundMessage) -> str:
        now = self._wall()
        conversation = self.store.open_conversation(channel, inbound.customer_id)
        message = Message(
            "customer",
            inbound.kind,
            inbound.text,
            now,
            inbound.native_type,
            inbound.media,
            inbound.key,
        )
        self.metrics.messages_in.labels(channel, inbound.kind).inc()
        if conversation is not None:
            conversation.address.update(inbound.address)
            conversation.customer_name = conversation.customer_name or inbound.customer_name
            self.store.save_conversation(conversation)
            self.store.add_message(conversation.id, message)
            if conversation.state == "assigned" and conversation.agent_id is not None:
                self._push(
                    conversation.agent_id,
                    MessageEvent(
                        seq=self.store.next_event_seq(),
                        ts=now,
                        conversation_id=conversation.id,
                        channel=channel,
                        message=message_view(message),
                    ),
                )
            return conversation.id
        conversation = Conversation(
            id=self.store.new_conversation_id(),
            channel=channel,
            protocol=protocol,
            customer_id=inbound.customer_id,
            customer_name=inbound.customer_name,
            queued_at=now,
            address=dict(inbound.address),
        )
        conversation.queue_order = int(conversation.id.rsplit("-", 1)[1])
        self.store.add_conversation(conversation)
        self.store.add_message(conversation.id, message)
        self.metrics.conversations.labels(channel).inc()
        agent = self.router.enqueue(conversation.id, channel, self._monotonic())
        if agent is not None:
            self._assign(agent, conversation)
        log.debug(
            "conversation opened",
            extra={
                "fields": {
                    "conversation_id": conversation.id,
                    "channel": channel,
                    "agent": agent.id if agent else None,
                }
            },
        )
        return conversation.id

    def _customer_changed(self, channel: str, change: MessageChange) -> bool:
        """Record an edit or deletion in the customer's open conversation's history (kind
        ``edited`` or ``deleted``, ``platform_id`` the changed message's id). It is no new
        message: it opens no conversation, is not queued, and no agent is asked to answer it.
        False when the customer has no open conversation (the change is ignored)."""
        conversation = self.store.open_conversation(channel, change.customer_id)
        if conversation is None:
            return False
        record = Message(
            "customer",
            change.action,
            change.text,
            self._wall(),
            change.native_type,
            None,
            change.original,
        )
        self.store.add_message(conversation.id, record)
        return True

    def _customer_left(self, channel: str, customer_id: str) -> bool:
        conversation = self.store.open_conversation(channel, customer_id)
        if conversation is None:
            return False
        agent = self.agents.get(conversation.agent_id or "")
        self._end(conversation, "left")
        if agent is None:
            self.router.remove(conversation.id)
            return True
        self._push(
            agent.id,
            LeftEvent(
                seq=self.store.next_event_seq(),
                ts=self._wall(),
                conversation_id=conversation.id,
                channel=channel,
            ),
        )
        self._release(agent, conversation.id)
        return True

    # -- agents --------------------------------------------------------------------------

    @_committed
    def login(self, agent_id: str, skills: list[str], max_chats: int) -> AgentStatus:
        """Start taking chats; logging in again resumes a draining agent with new settings."""
        check_id("agent id", agent_id)
        unknown = [skill for skill in skills if skill not in self.config.channels]
        if unknown:
            raise ApiError(
                422,
                "unknown_channel",
                f"unknown channel(s) {', '.join(unknown)}; this gateway serves "
                f"{', '.join(self.config.channels)}",
            )
        now = self._monotonic()
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = GatewayAgent(agent_id, skills, max_chats, now)
        else:
            # One object per agent id for good: the router's heaps may still hold entries of
            # it, and only its version (never a second object's) tells them apart.
            if agent.state == "gone":
                agent.last_assigned = now  # a new session: idle since this login
            agent.skills = tuple(dict.fromkeys(skills))
            agent.max_chats = max_chats
            agent.state = "active"
            agent.gone_at = None
        agent.last_poll = now
        self.store.save_agent(agent.record())
        for conversation_id in self.router.login(agent, now):
            self._assign_id(agent, conversation_id)
        log.info(
            "agent logged in",
            extra={"fields": {"agent": agent_id, "skills": skills, "max_chats": max_chats}},
        )
        return self.status(agent_id)

    @_committed
    def logout(self, agent_id: str) -> AgentStatus:
        """Drain: no new chats; the agent is gone once its last active chat closes."""
        agent = self._agent(agent_id)
        if agent.state == "active":
            self.router.drain(agent)
            agent.state = "draining"
            self.store.save_agent(agent.record())
            log.info(
                "agent draining", extra={"fields": {"agent": agent_id, "active": agent.active}}
            )
            self._maybe_gone(agent)
        return self.status(agent_id)

    def status(self, agent_id: str) -> AgentStatus:
        agent = self._agent(agent_id)
        return AgentStatus(
            agent_id=agent.id,
            state=agent.state,
            skills=list(agent.skills),
            max_chats=agent.max_chats,
            active=agent.active,
            conversations=list(agent.conversations),
        )

    async def poll_events(self, agent_id: str, after: int | None, timeout: float) -> list[Event]:
        """The agent's events after ``after`` (default: after the last poll's), long-polled.

        Events up to ``after`` count as acknowledged and are forgotten. A gone agent's
        remaining events come back at once.
        """
        agent = self._agent(agent_id)
        base = self._cursors.get(agent_id, 0) if after is None else after
        self.store.drop_events(agent_id, base)
        self.store.commit()
        agent.last_poll = self._monotonic()
        agent.polls += 1
        try:
            events = await long_poll(
                lambda: self.store.events_after(agent_id, base),
                self.agent_signals,
                agent_id,
                min(timeout, self.config.max_poll_timeout),
                stopping=lambda: agent.state == "gone" or self.stopping,
            )
        finally:
            agent.polls -= 1
            agent.last_poll = self._monotonic()
        if events:
            self._cursors[agent_id] = max(self._cursors.get(agent_id, 0), events[-1].seq)
        return events

    @_committed
    def reply(self, conversation_id: str, agent_id: str, text: str, key: str | None) -> ReplyResult:
        """Accept an agent's reply and queue it for the customer's platform."""
        conversation = self._owned(conversation_id, agent_id)
        check_id("reply id", key or "")
        if conversation.protocol != "webchat":
            self.outbox.admit(conversation.channel)  # back-pressure, before anything changes
        if key is not None:
            index = len(self.store.messages(conversation_id)) + 1  # the index it will get
            earlier = self.store.claim_key(f"reply:{conversation_id}:{key}", str(index))
            if earlier is not None:
                return ReplyResult(
                    conversation_id=conversation_id, index=int(earlier), status="duplicate"
                )
        now = self._wall()
        message = self.store.add_message(
            conversation_id,
            Message("agent", "text", text, now, "text", agent_id=agent_id, delivery="queued"),
        )
        if conversation.first_reply_at is None:
            conversation.first_reply_at = now
            self.store.save_conversation(conversation)
        self.metrics.messages_out.labels(conversation.channel).inc()
        if conversation.protocol == "webchat":
            session = str(conversation.address["session"])
            self.store.add_webchat_message(session, conversation_id, text, now)
            message.delivery = "sent"
            self.store.update_message(conversation_id, message)
            self.webchat_signals.fire(session)
        else:
            self.outbox.submit(
                OutboundJob(
                    conversation_id,
                    conversation.channel,
                    conversation.protocol,
                    dict(conversation.address),
                    message,
                )
            )
        return ReplyResult(conversation_id=conversation_id, index=message.index, status="queued")

    @_committed
    def close(self, conversation_id: str, agent_id: str) -> CloseResult:
        """The agent ends a conversation; its slot takes the next waiting one."""
        conversation = self._owned(conversation_id, agent_id)
        self._end(conversation, "closed")
        self._release(self.agents[agent_id], conversation_id)
        return CloseResult(conversation_id=conversation_id, state="closed")

    async def poll_webchat(self, session: str, after: int, timeout: float) -> list[WebchatOut]:
        """Agent messages to a webchat session with index > ``after``, long-polled."""
        check_id("session id", session)
        return await long_poll(
            lambda: self.store.webchat_messages(session, after),
            self.webchat_signals,
            session,
            min(timeout, self.config.max_poll_timeout),
            stopping=lambda: self.stopping,
        )

    def start(self) -> None:
        """On the server's event loop: send again the replies no platform confirmed before the
        last stop, and start watching for agents that stop polling."""
        for job in self._pending:
            self.outbox.submit(job)
        if self._pending:
            log.info("outbound resumed", extra={"fields": {"replies": len(self._pending)}})
        self._pending = []
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    def shutdown(self) -> None:
        """Answer every waiting long-poll now (the server is stopping)."""
        self.stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self.agent_signals.fire_all()
        self.webchat_signals.fire_all()
        self.store.commit()

    # -- gauges ---------------------------------------------------------------------------

    def queue_lengths(self) -> dict[str, int]:
        return {channel: self.router.waiting(channel) for channel in self.config.channels}

    def agent_counts(self) -> dict[str, int]:
        counts = {"active": 0, "draining": 0}
        for agent in self.agents.values():
            if agent.state != "gone":
                counts[agent.state] += 1
        return counts

    # -- internals -------------------------------------------------------------------------

    def _agent(self, agent_id: str) -> GatewayAgent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise ApiError(404, "unknown_agent", f"agent {agent_id} has never logged in")
        return agent

    def _owned(self, conversation_id: str, agent_id: str) -> Conversation:
        conversation = self.store.conversation(conversation_id)
        if conversation is None:
            raise ApiError(404, "unknown_conversation", f"no conversation {conversation_id}")
        if conversation.agent_id != agent_id:
            holder = (
                f"assigned to agent {conversation.agent_id}"
                if conversation.agent_id
                else "waiting in the queue"
            )
            raise ApiError(
                403,
                "not_your_conversation",
                f"conversation {conversation_id} is {holder}, not agent {agent_id}'s",
            )
        if conversation.state != "assigned":
            why = "the customer left" if conversation.state == "left" else "it was closed"
            raise ApiError(
                409, "conversation_ended", f"conversation {conversation_id} has ended: {why}"
            )
        return conversation

    def _assign_id(self, agent: GatewayAgent, conversation_id: str) -> None:
        conversation = self.store.conversation(conversation_id)
        assert conversation is not None, conversation_id
        self._assign(agent, conversation)

    def _assign(self, agent: GatewayAgent, conversation: Conversation) -> None:
        now = self._wall()
        conversation.state = "assigned"
        conversation.agent_id = agent.id
        conversation.assigned_at = now
        self.store.save_conversation(conversation)
        agent.conversations[conversation.id] = None
        self._active[conversation.channel] += 1
        history = [message_view(m) for m in self.store.messages(conversation.id)]
        self._push(
            agent.id,
            AssignedEvent(
                seq=self.store.next_event_seq(),
                ts=now,
                conversation_id=conversation.id,
                channel=conversation.channel,
                queued_at=conversation.queued_at,
                messages=history,
                customer=Customer(id=conversation.customer_id, name=conversation.customer_name),
            ),
        )

    def _end(self, conversation: Conversation, state: Literal["closed", "left"]) -> None:
        if conversation.state == "assigned":
            self._active[conversation.channel] -= 1
        conversation.state = state
        conversation.ended_at = self._wall()
        self.store.save_conversation(conversation)
        self.metrics.ended.labels(conversation.channel, state).inc()

    def _release(self, agent: GatewayAgent, conversation_id: str) -> None:
        agent.conversations.pop(conversation_id, None)
        for taken in self.router.release(agent, self._monotonic()):
            self._assign_id(agent, taken)
        self._maybe_gone(agent)

    def _maybe_gone(self, agent: GatewayAgent) -> None:
        if agent.state == "draining" and agent.active == 0:
            self._gone(agent)
            log.info("agent gone", extra={"fields": {"agent": agent.id}})

    def _gone(self, agent: GatewayAgent) -> None:
        agent.state = "gone"
        agent.gone_at = self._wall()
        self.store.save_agent(agent.record())
        self.agent_signals.fire(agent.id)

    def _delivery_failed(self, job: OutboundJob, reason: str) -> None:
        """Tell the reply's agent that the outbox gave it up (a ``delivery`` event)."""
        agent_id = job.message.agent_id
        if agent_id is None:
            return
        self._push(
            agent_id,
            DeliveryEvent(
                seq=self.store.next_event_seq(),
                ts=self._wall(),
                conversation_id=job.conversation_id,
                channel=job.channel,
                index=job.message.index,
                reason=reason,
            ),
        )

    def _push(self, agent_id: str, event: Event) -> None:
        self.store.add_event(agent_id, event)
        self.agent_signals.fire(agent_id)

    # -- stale agents ------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        timeout = self.config.agent_poll_timeout
        period = min(1.0, timeout / 4) if timeout > 0 else 1.0
        while True:
            await asyncio.sleep(period)
            try:
                self.sweep()
            except Exception:  # a failed sweep must not stop the next ones
                log.exception("agent sweep failed")

    @_committed
    def sweep(self) -> None:
        """Time out agents that stopped polling; forget agents gone long enough."""
        now = self._monotonic()
        wall = self._wall()
        timeout = self.config.agent_poll_timeout
        for agent in list(self.agents.values()):
            if agent.state == "gone":
                if wall - (agent.gone_at or wall) >= self.config.agent_forget_after:
                    self._forget(agent)
            elif timeout > 0 and agent.polls == 0 and now - agent.last_poll > timeout:
                self._time_out(agent, now)

    def _time_out(self, agent: GatewayAgent, now: float) -> None:
        """The agent stopped polling: its chats go to the front of the queue, it is gone."""
        conversations = [self.store.conversation(cid) for cid in agent.conversations]
        taken = sorted((c for c in conversations if c is not None), key=lambda c: c.queue_order)
        self.router.drain(agent)
        reason = (
            f"returned to the queue: agent {agent.id} did not poll for "
            f"{self.config.agent_poll_timeout:g} s"
        )
        for conversation in taken:
            self.router.release(agent, now)
            self._active[conversation.channel] -= 1
            self._push(
                agent.id,
                LeftEvent(
                    seq=self.store.next_event_seq(),
                    ts=self._wall(),
                    conversation_id=conversation.id,
                    channel=conversation.channel,
                    reason=reason,
                ),
            )
        fronts = [self.store.next_front_seq() for _ in taken]
        for conversation, front in zip(taken, reversed(fronts), strict=True):
            conversation.state = "queued"
            conversation.agent_id = None
            conversation.queue_order = -front  # the first taken gets the lowest
            self.store.save_conversation(conversation)
        agent.conversations.clear()
        self._gone(agent)
        log.warning(
            "agent timed out",
            extra={"fields": {"agent": agent.id, "requeued": [c.id for c in taken]}},
        )
        requeued = [(conversation.id, conversation.channel) for conversation in taken]
        for conversation_id, to in self.router.requeue(requeued, now):
            self._assign_id(to, conversation_id)

    def _forget(self, agent: GatewayAgent) -> None:
        del self.agents[agent.id]
        self._cursors.pop(agent.id, None)
        self.store.forget_agent(agent.id)

    # -- restart -----------------------------------------------------------------------------

    @_committed
    def _restore(self) -> None:
        """Rebuild agents, slots and the queue from the store (see the module docstring)."""
        now = self._monotonic()
        wall = self._wall()
        served = self.config.channels
        open_conversations = sorted(self.store.open_conversations(), key=lambda c: c.queue_order)
        unserved = sorted({c.channel for c in open_conversations} - set(served))
        if unserved:
            raise ValueError(
                f"the store holds open conversations on channel(s) {', '.join(unserved)}, "
                "which this gateway does not serve: serve them, or use another store"
            )
        for record in self.store.agents():
            skills = [skill for skill in record.skills if skill in served]
            agent = GatewayAgent(record.id, skills or list(served)[:1], record.max_chats, now)
            agent.state = record.state
            agent.gone_at = record.gone_at
            self.agents[record.id] = agent
        latest: dict[str, float] = {}
        for conversation in open_conversations:
            if conversation.state != "assigned":
                continue
            holder = self.agents.get(conversation.agent_id or "")
            if holder is None:  # not expected: put it back in the queue rather than lose it
                conversation.state, conversation.agent_id = "queued", None
                self.store.save_conversation(conversation)
                continue
            holder.conversations[conversation.id] = None
            holder.active += 1
            self._active[conversation.channel] += 1
            assigned = conversation.assigned_at or wall
            latest[holder.id] = max(latest.get(holder.id, assigned), assigned)
        for agent_id, assigned in latest.items():
            # The routing clock is this process's: carry idle times over from wall time.
            self.agents[agent_id].last_assigned = now - max(0.0, wall - assigned)
        for conversation in open_conversations:
            if conversation.state == "queued":
                self.router.enqueue(conversation.id, conversation.channel, now)
        for agent in list(self.agents.values()):
            if agent.state == "draining" and agent.active == 0:
                self._gone(agent)
            elif agent.state == "active":
                for conversation_id in self.router.login(agent, now):
                    self._assign_id(agent, conversation_id)
        self._pending = [
            OutboundJob(
                conversation.id,
                conversation.channel,
                conversation.protocol,
                dict(conversation.address),
                message,
            )
            for conversation, message in self.store.pending_messages()
            if conversation.protocol != "webchat" and conversation.channel in served
        ]
        if self.agents or open_conversations or self._pending:
            log.info(
                "gateway state restored",
                extra={
                    "fields": {
                        "agents": len(self.agents),
                        "queued": self.router.waiting(),
                        "assigned": sum(self._active.values()),
                        "outbound": len(self._pending),
                    }
                },
            )
