"""The agent side of a gateway, as the replay's emulated agents use it: one interface, many APIs.

Every gateway has its own agent API (or its own agent desktop's API); the replay's emulated
agents (:mod:`sim.loadtest.agents`) only ever go through an :class:`AgentDesk`, and
``chatsim replay --agents MODULE:CLASS`` picks the implementation. The reference gateway's agent
API is :class:`sim.loadtest.reference_desk.ReferenceDesk`; README's "Replaying against your
gateway" is the guide to writing another.

The calls are blocking from the caller's point of view and run inside Locust's gevent loop, so
an implementation makes its HTTP calls through the :class:`DeskConnection` it is given (Locust's
own HTTP client: its requests show in Locust's statistics, its long-polls do not) and never
blocks the process any other way. Each call is made for one agent (``agent_id``), so an
implementation may keep per-agent state (session tokens, poll cursors).

What the replay needs to know of each event is small: which conversation an agent was given and
for which customer (the customer key the replay's customers use, so that the agent can find the
trace's conversation), when each customer message was sent (so that the agent answers in order),
and when a customer left. Everything else about a gateway's events stays inside its desk.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """Who logs in: the agent's id (the model's), the channels it serves, its chat limit."""

    id: str
    channels: tuple[str, ...]
    max_chats: int


@dataclass(frozen=True, slots=True)
class Assigned:
    """The gateway gave the agent a conversation: its id at the gateway, its channel, the
    customer's id as the replay's customers present it on that channel's protocol (WhatsApp
    ``wa_id``, Telegram chat id, Viber sender id, webchat session), and when each customer
    message so far was sent (wall seconds, the gateway's timestamps)."""

    conversation_id: str
    channel: str
    customer_id: str
    messages: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    """A further customer message in a conversation the agent holds, sent at ``sent_at``."""

    conversation_id: str
    sent_at: float


@dataclass(frozen=True, slots=True)
class CustomerLeft:
    """The customer ended the conversation (the gateway knows: webchat's close, say)."""

    conversation_id: str


DeskEvent = Assigned | CustomerMessage | CustomerLeft
"""What an agent learns from its desk."""


class Sent(Enum):
    """What became of a reply."""

    ACCEPTED = "accepted"
    """The gateway took it (it will reach the customer)."""
    ENDED = "ended"
    """The conversation had ended (the customer left meanwhile): not an error."""
    FAILED = "failed"
    """Refused or unanswered: the replay records a problem."""


class DeskConnection(Protocol):
    """HTTP to the gateway, as a desk implementation gets it from the replay.

    ``request`` is recorded in Locust's statistics under ``name``; ``poll`` (long-polls, whose
    duration is their timeout) is not. Both return ``(status, body)``: the status (0 when no
    answer came) and the JSON body (None when there is none). Actions the gateway did not
    answer, or answered with 408, 429 or 5xx, are sent again with backoff for a while, as an
    agent desktop would; give them idempotency keys where the API has them.
    """

    desk_key: str
    """The desk's credential (``CHATSIM_DESK_KEY``)."""

    def request(
        self,
        method: str,
        path: str,
        name: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]: ...

    def poll(self, path: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]: ...


class AgentDesk(Protocol):
    """One gateway's agent side. Built once per replay run with ``cls(connection)``."""

    def login(self, agent: AgentProfile) -> bool:
        """Start the agent's session and its taking of chats; False if refused."""
        ...

    def away(self, agent_id: str) -> None:
        """Stop giving the agent new chats; it keeps and finishes the ones it holds (a break,
        the end of a shift)."""
        ...

    def back(self, agent: AgentProfile) -> bool:
        """Take new chats again after :meth:`away` (same session where the API allows)."""
        ...

    def gone(self, agent_id: str) -> bool:
        """Whether the gateway holds nothing more for the agent (after :meth:`away`, when its
        last chat has closed): only the gateway's word counts, since an assignment may still
        be on its way."""
        ...

    def events(self, agent_id: str, timeout: float) -> list[DeskEvent] | None:
        """The agent's new events, waiting up to ``timeout`` seconds for one; None when the
        call failed (the caller tries again shortly)."""
        ...

    def reply(self, agent_id: str, conversation_id: str, text: str, key: str) -> Sent:
        """Send the agent's reply; ``key`` identifies it, so a repeated call is one reply."""
        ...

    def close(self, agent_id: str, conversation_id: str) -> None:
        """End the conversation and free the agent's slot."""
        ...
