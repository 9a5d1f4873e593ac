"""Storage of the gateway: conversations, messages, agent events, webchat outboxes, keys.

:class:`Store` is the interface (a ``Protocol``); :class:`MemoryStore` keeps everything in
process memory. Routing state (the queue and the agents' slots) is not stored here: it lives in
:class:`sim.routing.Router`, so a durable store can replace this one without touching routing.

Objects returned by a store may be mutated by the caller, who then calls the matching ``save_``
or ``update_`` method; the memory store's are no-ops apart from keeping its indexes right, a
durable one would write there.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .schemas import AssignedEvent, DeliveryEvent, LeftEvent, MessageEvent

ConversationState = Literal["queued", "assigned", "closed", "left"]
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


class MemoryStore:
    """A :class:`Store` in process memory.

    Idempotency keys are kept for the newest ``max_keys`` (platforms retry within hours, a
    replay within seconds); delivery statuses for the newest ``max_statuses``.
    """

    def __init__(self, max_keys: int = 500_000, max_statuses: int = 100_000) -> None:
        self._conversations: dict[str, Conversation] = {}
        self._open: dict[tuple[str, str], str] = {}
        self._messages: dict[str, list[Message]] = {}
        self._events: dict[str, deque[Event]] = {}
        self._webchat: dict[str, list[WebchatOut]] = {}
        self._keys: dict[str, str] = {}
        self._statuses: deque[StatusRecord] = deque(maxlen=max_statuses)
        self._max_keys = max_keys
        self._conversation_seq = 0
        self._event_seq = 0

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
        elif self._open.get(key) == conversation.id:
            del self._open[key]

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

    def add_webchat_message(
        self, session: str, conversation_id: str, text: str, ts: float
    ) -> WebchatOut:
        outbox = self._webchat.setdefault(session, [])
        message = WebchatOut(len(outbox) + 1, conversation_id, text, ts)
        outbox.append(message)
        return message

    def webchat_messages(self, session: str, after: int) -> list[WebchatOut]:
        return self._webchat.get(session, [])[max(after, 0) :]

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
