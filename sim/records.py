"""What happened in one run: a record per conversation and per agent.

The model fills these in as the run goes; :mod:`sim.kpi` turns them into KPIs afterwards, so
the model's hot path only stores times and never aggregates. The replay writes the same
per-conversation records (README.md, "KPIs and results").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.roster import Roster
from sim.trace import Conversation


class ConversationRecord:
    """The life of one conversation, in scenario seconds.

    ``queued_at`` is queue entry (after the bot), the time zero of first response and patience.
    ``first_reply_at`` is the agent's first reply, also when it came after the customer had
    left (``missed`` tells). ``left_at`` is when the customer gave up, ``left_queue_at`` when the
    conversation stopped waiting (assignment, or a visible abandonment while queued);
    ``closed_at`` when its agent slot was freed. ``reply_delays`` has one entry per customer
    message answered while the customer was there: the first response, then in-session ones.
    """

    __slots__ = (
        "agent_id",
        "answered",
        "assigned_at",
        "closed_at",
        "conversation",
        "first_reply_at",
        "left_at",
        "left_queue_at",
        "queued_at",
        "reply_delays",
        "silent",
    )

    def __init__(self, conversation: Conversation, silent: bool) -> None:
        self.conversation = conversation
        self.silent = silent
        self.queued_at: float | None = None
        self.assigned_at: float | None = None
        self.left_queue_at: float | None = None
        self.first_reply_at: float | None = None
        self.left_at: float | None = None
        self.closed_at: float | None = None
        self.agent_id: str | None = None
        self.answered = False
        self.reply_delays: list[float] = []

    @property
    def id(self) -> str:
        return self.conversation.id

    @property
    def channel(self) -> str:
        return self.conversation.channel

    @property
    def bot_contained(self) -> bool:
        bot = self.conversation.bot
        return bot is not None and bot.contained

    @property
    def offered(self) -> bool:
        return self.queued_at is not None

    @property
    def missed(self) -> bool:
        return self.offered and not self.answered

    @property
    def wasted_slot_seconds(self) -> float:
        """Slot time held for a customer who had already left without telling anyone."""
        if (
            not self.silent
            or self.left_at is None
            or self.assigned_at is None
            or self.closed_at is None
        ):
            return 0.0
        return self.closed_at - max(self.assigned_at, self.left_at)

    def to_dict(self) -> dict[str, Any]:
        """The per-conversation record of ``conversations.jsonl`` (README.md, "KPIs and
        results")."""
        return {
            "id": self.id,
            "channel": self.channel,
            "arrived_at": self.conversation.t,
            "bot_contained": self.bot_contained,
            "queued_at": self.queued_at,
            "assigned_at": self.assigned_at,
            "first_reply_at": self.first_reply_at,
            "missed": self.missed,
            "left_at": self.left_at,
            "closed_at": self.closed_at,
            "agent": self.agent_id,
            "reply_delays": self.reply_delays,
        }


@dataclass(slots=True)
class AgentRecord:
    """One agent's presence and work: logged in ``[login_at, logout_at)``, typing from each
    of ``busy_starts`` to the matching one of ``busy_ends`` (:attr:`busy`), away from chats (a
    break, a meeting) in ``away`` spans (start, end).

    The typing spans are two lists of numbers rather than a list of pairs: a day has a span
    for every reply, and the measurement reads them straight into arrays."""

    id: str
    group: str
    max_chats: int
    login_at: float
    logout_at: float | None = None
    busy_starts: list[float] = field(default_factory=list)
    busy_ends: list[float] = field(default_factory=list)
    away: list[tuple[float, float]] = field(default_factory=list)

    @property
    def busy(self) -> list[tuple[float, float]]:
        """The typing spans (start, end), in the order they ended."""
        return list(zip(self.busy_starts, self.busy_ends, strict=True))


@dataclass(slots=True)
class Run:
    """The outcome of playing one trace: every conversation and every agent."""

    conversations: list[ConversationRecord]
    agents: list[AgentRecord]
    end: float
    roster: Roster | None = None
    """Who was rostered (paid hours, absences); None where no roster was played."""
