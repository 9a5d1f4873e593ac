"""Chats, the queue, agents and their inboxes: all in memory, no I/O.

Routing: one queue, highest channel priority first, FIFO within a priority; a chat goes to an
available agent serving its channel with a free slot (``capacity`` chats at once): the one with
the fewest chats, then the one whose last assignment (or sign-in) is oldest, then the lowest id.
An agent that is not available takes no new chats and keeps the ones it holds.

Each agent has an inbox of numbered items (``chat``: a chat was given to it, with the messages
so far; ``message``: a further customer message; ``ended``: the customer left). The agent reads
it with ``since=N`` and items up to N are dropped: reading is acknowledging.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .config import Channel

SEEN_IDS = 100_000
"""Platform message ids remembered for deduplication (a redelivery is not a second message)."""


@dataclass(slots=True)
class Chat:
    """One conversation of a customer on a channel."""

    id: str
    channel: Channel
    customer: str
    """The customer's id on the channel's protocol: WhatsApp wa_id, Telegram chat id, Viber
    user id, webchat session."""
    address: dict[str, str]
    """What the send API needs beyond the customer id (WhatsApp: the business phone id)."""
    seq: int
    messages: list[tuple[float, str]] = field(default_factory=list)
    """Customer messages: (received at, text)."""
    agent: str | None = None
    ended: bool = False
    reply_keys: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Agent:
    id: str
    channels: frozenset[str]
    capacity: int
    token: str
    available: bool = True
    chats: set[str] = field(default_factory=set)
    last_assigned: float = field(default_factory=time.monotonic)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    next_item: int = 1
    news: asyncio.Event = field(default_factory=asyncio.Event)


class Reply(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    ENDED = "ended"
    NOT_YOURS = "not_yours"
    UNKNOWN = "unknown"


Send = Callable[[Chat, str], None]
"""Hands a reply to the outbound side (which sends it in the background, in order)."""


class Floor:
    """The gateway's state. All methods run on the event loop's thread."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.chats: dict[str, Chat] = {}
        self.open: dict[tuple[str, str], Chat] = {}
        """Open chat per (channel, customer)."""
        self.queue: list[Chat] = []
        self.agents: dict[str, Agent] = {}
        self.tokens: dict[str, str] = {}
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._ids = itertools.count(1)

    # -- customers ---------------------------------------------------------------------------

    def seen(self, protocol: str, customer: str, message_id: str) -> bool:
        """Whether this platform message was already received (and remember it if not)."""
        key = (protocol, customer, message_id)
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        return False

    def customer_message(
        self, channel: Channel, customer: str, text: str, address: dict[str, str] | None = None
    ) -> Chat:
        """A customer's message: to its open chat, or opening one at the back of the queue."""
        now = time.time()
        chat = self.open.get((channel.name, customer))
        if chat is None:
            seq = next(self._ids)
            chat = Chat(f"c{seq}", channel, customer, dict(address or {}), seq)
            self.chats[chat.id] = chat
            self.open[(channel.name, customer)] = chat
            chat.messages.append((now, text))
            self.queue.append(chat)
            self.route()
            return chat
        chat.messages.append((now, text))
        if chat.agent is not None:
            self._tell(chat.agent, {"kind": "message", "chat": chat.id, "at": now, "text": text})
        return chat

    def customer_left(self, channel: Channel, customer: str) -> None:
        """The customer closed the chat (webchat): out of the queue, or the agent is told."""
        chat = self.open.get((channel.name, customer))
        if chat is None:
            return
        self._end(chat)
        if chat in self.queue:
            self.queue.remove(chat)
        elif chat.agent is not None:
            self._tell(chat.agent, {"kind": "ended", "chat": chat.id})

    def _end(self, chat: Chat) -> None:
        chat.ended = True
        self.open.pop((chat.channel.name, chat.customer), None)
        if chat.agent is not None and chat.agent in self.agents:
            self.agents[chat.agent].chats.discard(chat.id)

    # -- agents ------------------------------------------------------------------------------

    def sign_in(self, agent_id: str, channels: list[str], capacity: int) -> Agent:
        """A new session for the agent (a former session's token stops working); the chats it
        held stay with it."""
        old = self.agents.get(agent_id)
        if old is not None:
            self.tokens.pop(old.token, None)
        agent = Agent(agent_id, frozenset(channels), capacity, secrets.token_urlsafe(24))
        if old is not None:
            agent.chats, agent.inbox, agent.next_item = old.chats, old.inbox, old.next_item
            old.news.set()
        self.agents[agent_id] = agent
        self.tokens[agent.token] = agent_id
        self.route()
        return agent

    def agent_of(self, token: str) -> Agent | None:
        agent_id = self.tokens.get(token)
        return None if agent_id is None else self.agents.get(agent_id)

    def set_available(self, agent: Agent, available: bool) -> None:
        agent.available = available
        if available:
            self.route()

    def inbox(self, agent: Agent, since: int) -> list[dict[str, Any]]:
        """Items after ``since``; those up to it were read and are dropped."""
        agent.inbox = [item for item in agent.inbox if item["n"] > since]
        return list(agent.inbox)

    def reply(self, agent: Agent, chat_id: str, text: str, key: str) -> Reply:
        chat = self.chats.get(chat_id)
        if chat is None:
            return Reply.UNKNOWN
        if chat.agent != agent.id:
            return Reply.NOT_YOURS
        if key and key in chat.reply_keys:
            return Reply.DUPLICATE
        if chat.ended:
            return Reply.ENDED
        if key:
            chat.reply_keys.add(key)
        self.send(chat, text)
        return Reply.ACCEPTED

    def close(self, agent: Agent, chat_id: str) -> Reply:
        """The agent ends the chat and frees its slot (again: nothing more happens)."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return Reply.UNKNOWN
        if chat.agent != agent.id:
            return Reply.NOT_YOURS
        if not chat.ended:
            self._end(chat)
        agent.chats.discard(chat.id)
        self.route()
        return Reply.ACCEPTED

    # -- routing -----------------------------------------------------------------------------

    def route(self) -> None:
        """Give queued chats, in queue order, to the agents who can take them."""
        if not self.queue:
            return
        order = sorted(self.queue, key=lambda c: (-c.channel.priority, c.seq))
        for chat in order:
            candidates = [
                a
                for a in self.agents.values()
                if a.available and chat.channel.name in a.channels and len(a.chats) < a.capacity
            ]
            if not candidates:
                continue
            agent = min(candidates, key=lambda a: (len(a.chats), a.last_assigned, a.id))
            self.queue.remove(chat)
            chat.agent = agent.id
            agent.chats.add(chat.id)
            agent.last_assigned = time.monotonic()
            self._tell(
                agent.id,
                {
                    "kind": "chat",
                    "chat": chat.id,
                    "channel": chat.channel.name,
                    "customer": chat.customer,
                    "assigned_at": time.time(),
                    "messages": [{"at": at, "text": text} for at, text in chat.messages],
                },
            )

    def _tell(self, agent_id: str, item: dict[str, Any]) -> None:
        agent = self.agents[agent_id]
        agent.inbox.append({"n": agent.next_item, **item})
        agent.next_item += 1
        agent.news.set()
