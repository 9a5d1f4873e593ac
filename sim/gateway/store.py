"""Storage of the gateway: conversations, messages, agent events, webchat outboxes, keys.

:class:`Store` is the interface (a ``Protocol``). Two implement it:

* :class:`sim.gateway.sqlite_store.SqliteStore`, the default: an SQLite file that survives a
  crash and a restart, holding in memory only what is open (conversations being routed or
  worked on, agents' unacknowledged events);
* :class:`MemoryStore`: everything in process memory, for throwaway runs; ended conversations
  stay readable for the newest ``retain_ended`` of them, then are forgotten.

:func:`open_store` picks one from a path (``:memory:`` or ``memory`` for the memory store).

Routing state (the queue and the agents' slots) is not stored as such: it lives in
:class:`sim.routing.Router`, and the conversation service rebuilds it on start from what the
store keeps (each open conversation's state, agent and :attr:`Conversation.queue_order`, and the
:class:`AgentRecord` of every agent).

Objects returned by a store may be mutated by the caller, who then calls the matching ``save_``
or ``update_`` method. Changes become durable at :meth:`Store.commit`: the conversation service
commits before it answers a request, so whatever it acknowledged is on disk.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .schemas import AssignedEvent, DeliveryEvent, LeftEvent, MessageEvent

ConversationState = Literal["queued", "assigned", "closed", "left"]
AgentState = Literal["active", "draining", "gone"]
Event = AssignedEvent | MessageEvent | LeftEvent | DeliveryEvent
OPEN_STATES = ("queued", "assigned")


@dataclass
class Message:
    """One message of a conversation. ``index`` counts from 1 within the conversation."""

    sender: Literal["customer", "agent"]
    kind: str
    text: str
    ts: float
    native_type: str | None = None
    media: str | None = None
    platform_id: str | None = None
    agent_id: str | None = None
    delivery: Literal["queued", "sent", "failed"] | None = None
    index: int = 0
    delivery_error: str | None = None
    attempts: int = 0


@dataclass
class Conversation:
    """A customer's conversation on one channel, from the first message until it ends.

    ``address`` is what the platform needs to reach the customer (WhatsApp ``wa_id`` and
    ``phone_number_id``, Telegram ``chat_id``, Viber ``receiver``, webchat ``session``).
    """

    id: str
    channel: str
    protocol: str
    customer_id: str
    customer_name: str | None
    queued_at: float
    address: dict[str, Any] = field(default_factory=dict)
    state: ConversationState = "queued"
    agent_id: str | None = None
    assigned_at: float | None = None
    first_reply_at: float | None = None
    ended_at: float | None = None
    queue_order: int = 0
    """Where it stands in the queue relative to the others: the conversation's number when it
    first queued, negative when it was put back at the front (its agent stopped polling)."""


@dataclass
class AgentRecord:
    """What the store keeps of an agent, to bring it back after a restart.

    ``gone_at`` (Unix time) is when the agent became gone: it is forgotten some time later.
    """

    id: str
    skills: list[str]
    max_chats: int
    state: AgentState
    gone_at: float | None = None


@dataclass(frozen=True)
class WebchatOut:
    """An agent message waiting for a webchat customer's long-poll."""

    index: int
    conversation_id: str
    text: str
    ts: float


@dataclass(frozen=True)
class StatusRecord:
    """A delivery status callback (WhatsApp ``statuses``, Viber ``delivered``/``seen``)."""

    protocol: str
    message_id: str
    status: str
    recipient: str | None
    ts: float


class Store(Protocol):
    """What the gateway keeps; see the module docstring."""

    def new_conversation_id(self) -> str: ...

    def add_conversation(self, conversation: Conversation) -> None: ...

    def conversation(self, conversation_id: str) -> Conversation | None: ...

    def open_conversation(self, channel: str, customer_id: str) -> Conversation | None:
        """The queued or assigned conversation of this customer on this channel, if any."""
        ...

    def save_conversation(self, conversation: Conversation) -> None: ...

    def add_message(self, conversation_id: str, message: Message) -> Message:
        """Append a message, setting its ``index``."""
        ...

    def messages(self, conversation_id: str) -> list[Message]: ...

    def update_message(self, conversation_id: str, message: Message) -> None: ...

    def next_event_seq(self) -> int: ...

    def add_event(self, agent_id: str, event: Event) -> None: ...

    def events_after(self, agent_id: str, seq: int) -> list[Event]: ...

    def drop_events(self, agent_id: str, upto: int) -> None:
        """Forget the agent's events with ``seq <= upto`` (acknowledged)."""
        ...

    def add_webchat_message(
        self, session: str, conversation_id: str, text: str, ts: float
    ) -> WebchatOut: ...

    def webchat_messages(self, session: str, after: int) -> list[WebchatOut]: ...

    def claim_key(self, key: str, value: str = "") -> str | None:
        """Remember an idempotency key with a value; None if new, else the earlier value."""
        ...

    def record_status(self, status: StatusRecord) -> None: ...

    def statuses(self) -> list[StatusRecord]: ...

    def next_front_seq(self) -> int:
        """1, 2, 3, ... for conversations put back at the front of the queue; never reused."""
        ...

    def open_conversations(self) -> list[Conversation]:
        """The queued and assigned conversations (what routing is rebuilt from on start)."""
        ...

    def pending_messages(self) -> list[tuple[Conversation, Message]]:
        """Agent replies not yet confirmed by their platform, in order per conversation."""
        ...

    def save_agent(self, agent: AgentRecord) -> None: ...

    def agents(self) -> list[AgentRecord]: ...

    def forget_agent(self, agent_id: str) -> None:
        """Drop an agent's record and its events."""
        ...

    def commit(self) -> None:
        """Make every change so far durable; called before a request is acknowledged."""
        ...

    def close(self) -> None: ...

    def resident(self) -> dict[str, int]:
        """How many objects of each kind the store holds in process memory (for tests and
        operations: it must not grow with ended conversations)."""
        ...


def open_store(path: str, *, synchronous: str = "normal", retain_ended: int = 10_000) -> Store:
    """The store at ``path``: an SQLite file, or the memory store for ``:memory:``/``memory``.

    ``synchronous`` is SQLite's ``normal`` or ``full`` (see
    :class:`sim.gateway.sqlite_store.SqliteStore`); ``retain_ended`` bounds the memory store.
    """
    if path in MEMORY:
        return MemoryStore(retain_ended=retain_ended)
    from .sqlite_store import SqliteStore  # here: sqlite_store imports this module

    return SqliteStore(path, synchronous=synchronous)


MEMORY = (":memory:", "memory")
"""Store paths that mean the in-memory store."""


class MemoryStore:
    """A :class:`Store` in process memory.

    Ended conversations stay readable for the newest ``retain_ended`` of them; older ones are
    forgotten with their messages and webchat replies (a webchat session with nothing left is
    forgotten too, so a customer who comes back to it after that long starts again at index 1).
    Idempotency keys are kept for the newest ``max_keys`` (platforms retry within hours, a
    replay within seconds); delivery statuses for the newest ``max_statuses``. Nothing survives
    the process: :meth:`commit` does nothing.
    """

    def __init__(
        self, max_keys: int = 500_000, max_statuses: int = 100_000, retain_ended: int = 10_000
    ) -> None:
        self._conversations: dict[str, Conversation] = {}
        self._open: dict[tuple[str, str], str] = {}
        self._ended: dict[str, None] = {}  # ended conversation ids, oldest first
        self._messages: dict[str, list[Message]] = {}
        self._events: dict[str, deque[Event]] = {}
        self._webchat: dict[str, list[WebchatOut]] = {}
        self._webchat_last: dict[str, int] = {}
        self._agents: dict[str, AgentRecord] = {}
        self._keys: dict[str, str] = {}
        self._statuses: deque[StatusRecord] = deque(maxlen=max_statuses)
        self._max_keys = max_keys
        self._retain_ended = retain_ended
        self._conversation_seq = 0
        self._event_seq = 0
        self._front_seq = 0

    def new_conversation_id(self) -> str:
        self._conversation_seq += 1
        return f"cv-{self._conversation_seq:06d}"

    def add_conversation(self, conversation: Conversation) -> None:
        self._conversations[conversation.id] = conversation
        self._messages[conversation.id] = []
        self.save_conversation(conversation)

    def conversation(self, conversation_id: str) -> Conversation | None:
        return self._conversations.get(conversation_id)

    def open_conversation(self, channel: str, customer_id: str) -> Conversation | None:
        cid = self._open.get((channel, customer_id))
        return None if cid is None else self._conversations[cid]

    def save_conversation(self, conversation: Conversation) -> None:
        key = (conversation.channel, conversation.customer_id)
        if conversation.state in OPEN_STATES:
            self._open[key] = conversation.id
            return
        if self._open.get(key) == conversation.id:
            del self._open[key]
        if conversation.id not in self._ended:
            self._ended[conversation.id] = None
            while len(self._ended) > self._retain_ended:
                self._evict(next(iter(self._ended)))

    def _evict(self, conversation_id: str) -> None:
        del self._ended[conversation_id]
        conversation = self._conversations.pop(conversation_id, None)
        self._messages.pop(conversation_id, None)
        if conversation is None or conversation.protocol != "webchat":
            return
        session = str(conversation.address.get("session", ""))
        if session not in self._webchat:
            return
        kept = [m for m in self._webchat[session] if m.conversation_id != conversation_id]
        self._webchat[session] = kept
        if not kept and (conversation.channel, conversation.customer_id) not in self._open:
            del self._webchat[session]
            self._webchat_last.pop(session, None)

    def add_message(self, conversation_id: str, message: Message) -> Message:
        messages = self._messages[conversation_id]
        message.index = len(messages) + 1
        messages.append(message)
        return message

    def messages(self, conversation_id: str) -> list[Message]:
        return list(self._messages.get(conversation_id, ()))

    def update_message(self, conversation_id: str, message: Message) -> None:
        pass

    def next_event_seq(self) -> int:
        self._event_seq += 1
        return self._event_seq

    def add_event(self, agent_id: str, event: Event) -> None:
        self._events.setdefault(agent_id, deque()).append(event)

    def events_after(self, agent_id: str, seq: int) -> list[Event]:
        return [event for event in self._events.get(agent_id, ()) if event.seq > seq]

    def drop_events(self, agent_id: str, upto: int) -> None:
        events = self._events.get(agent_id)
        while events and events[0].seq <= upto:
            events.popleft()
        if events is not None and not events:
            del self._events[agent_id]

    def add_webchat_message(
        self, session: str, conversation_id: str, text: str, ts: float
    ) -> WebchatOut:
        index = self._webchat_last.get(session, 0) + 1
        self._webchat_last[session] = index
        message = WebchatOut(index, conversation_id, text, ts)
        self._webchat.setdefault(session, []).append(message)
        return message

    def webchat_messages(self, session: str, after: int) -> list[WebchatOut]:
        return [message for message in self._webchat.get(session, ()) if message.index > after]

    def claim_key(self, key: str, value: str = "") -> str | None:
        earlier = self._keys.get(key)
        if earlier is not None:
            return earlier
        self._keys[key] = value
        if len(self._keys) > self._max_keys:
            del self._keys[next(iter(self._keys))]
        return None

    def record_status(self, status: StatusRecord) -> None:
        self._statuses.append(status)

    def statuses(self) -> list[StatusRecord]:
        return list(self._statuses)

    def next_front_seq(self) -> int:
        self._front_seq += 1
        return self._front_seq

    def open_conversations(self) -> list[Conversation]:
        return [self._conversations[cid] for cid in self._open.values()]

    def pending_messages(self) -> list[tuple[Conversation, Message]]:
        return [
            (conversation, message)
            for conversation in self._conversations.values()
            for message in self._messages.get(conversation.id, ())
            if message.delivery == "queued"
        ]

    def save_agent(self, agent: AgentRecord) -> None:
        self._agents[agent.id] = agent

    def agents(self) -> list[AgentRecord]:
        return list(self._agents.values())

    def forget_agent(self, agent_id: str) -> None:
        self._agents.pop(agent_id, None)
        self._events.pop(agent_id, None)

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass

    def resident(self) -> dict[str, int]:
        return {
            "conversations": len(self._conversations),
            "messages": sum(len(messages) for messages in self._messages.values()),
            "event_queues": len(self._events),
            "webchat_sessions": len(self._webchat_last),
            "agents": len(self._agents),
        }
