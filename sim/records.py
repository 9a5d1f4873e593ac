"""What happened in one run: a record per conversation and per agent.

The model fills these in as the run goes; :mod:`sim.kpi` turns them into KPIs afterwards, so
the model's hot path only stores times and never aggregates. The replay writes the same
per-conversation records (README.md, "KPIs and results").

A run keeps its conversations' records in columns (:class:`ConversationLog`): a number per
conversation and field, written by the model where it happens and read by the measurement and
the writer as arrays. A day of conversations is then a dozen arrays rather than hundreds of
thousands of objects to make, read back from all over memory and free. Whoever wants one
conversation's record as an object (:class:`ConversationRecord`) gets it from the log.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from sim.roster import Roster
from sim.trace import Conversation, Trace, TraceColumns


class ConversationRecord:
    """The life of one conversation, in scenario seconds: one row of a
    :class:`ConversationLog` as an object (what the replay builds, and what a log hands out).

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


_TIMES = ("queued_at", "assigned_at", "left_queue_at", "first_reply_at", "left_at", "closed_at")
"""The time fields of a record, each a column of a :class:`ConversationLog` (NaN: never)."""


class ConversationLog(Sequence[ConversationRecord]):
    """The records of a run's conversations in columns: row ``i`` is conversation ``i`` of the
    trace played (or of the conversations given), whose own numbers are in :attr:`columns`.

    Each time of :class:`ConversationRecord` is an ``array('d')`` with NaN for never;
    ``answered`` and ``silent`` are bytes (0 or 1), ``agent_ids`` the agent who held each. The
    reply delays of every conversation are two flat columns, filled as the replies are typed:
    ``reply_owner`` (the row) and ``reply_delay`` (seconds). A conversation's delays are those
    of its row in the order they were added, as :attr:`ConversationRecord.reply_delays`.

    Indexing or iterating a log gives :class:`ConversationRecord` objects made from the
    columns: snapshots, which do not write back. :meth:`column` gives a column as a read-only
    numpy array without a copy.
    """

    __slots__ = (
        "_columns",
        "_replies",
        "_source",
        "agent_ids",
        "answered",
        "assigned_at",
        "closed_at",
        "first_reply_at",
        "left_at",
        "left_queue_at",
        "queued_at",
        "reply_delay",
        "reply_owner",
        "silent",
    )

    def __init__(self, source: Trace | list[Conversation], silent: Iterable[bool]) -> None:
        n = len(source)
        self._source = source
        self._columns: TraceColumns | None = None
        self.silent = bytearray(silent)
        if len(self.silent) != n:
            raise ValueError(f"{len(self.silent)} silent flags for {n} conversations")
        never = array("d", [math.nan]) * n
        self.queued_at = array("d", never)
        self.assigned_at = array("d", never)
        self.left_queue_at = array("d", never)
        self.first_reply_at = array("d", never)
        self.left_at = array("d", never)
        self.closed_at = never
        self.answered = bytearray(n)
        self.agent_ids: list[str | None] = [None] * n
        self.reply_owner = array("q")
        self.reply_delay = array("d")
        self._replies: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def conversations(self) -> list[Conversation]:
        """The conversations, as objects."""
        source = self._source
        return source.conversations if isinstance(source, Trace) else source

    @property
    def columns(self) -> TraceColumns:
        """The conversations' own numbers (arrival, channel, bot), as columns."""
        source = self._source
        if isinstance(source, Trace):
            return source.columns
        if self._columns is None:
            self._columns = TraceColumns.of(source)
        return self._columns

    @classmethod
    def of(cls, records: Iterable[ConversationRecord]) -> ConversationLog:
        """The log of ``records`` (in their order)."""
        records = list(records)
        log = cls([r.conversation for r in records], [r.silent for r in records])
        for name in _TIMES:
            setattr(log, name, array("d", [_nan(getattr(r, name)) for r in records]))
        log.answered = bytearray(r.answered for r in records)
        log.agent_ids = [r.agent_id for r in records]
        for i, r in enumerate(records):
            log.reply_owner.extend([i] * len(r.reply_delays))
            log.reply_delay.extend(r.reply_delays)
        return log

    def reply(self, row: int, delay: float) -> None:
        """Conversation ``row`` got a reply ``delay`` seconds after the message it answers."""
        self.reply_owner.append(row)
        self.reply_delay.append(delay)

    def column(self, name: str) -> np.ndarray:
        """Column ``name`` (a time, ``answered`` or ``silent``) as a read-only numpy array that
        shares the log's memory (times are float, flags bool)."""
        values = getattr(self, name)
        found = np.frombuffer(values, dtype=bool if isinstance(values, bytearray) else float)
        found.flags.writeable = False
        return found

    def replies(self) -> tuple[np.ndarray, np.ndarray]:
        """Every reply delay in row order (each row's in the order added), and how many each
        row has: ``delays[sum(counts[:i]) : sum(counts[:i + 1])]`` are row ``i``'s."""
        _, delays, counts, _ = self._sorted_replies()
        return delays, counts

    def _sorted_replies(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`replies` and where each row's end, kept until a reply is added."""
        added = len(self.reply_owner)
        if self._replies is None or self._replies[0] != added:
            owner = np.frombuffer(self.reply_owner, dtype=np.int64)
            delays = np.frombuffer(self.reply_delay, dtype=float)
            order = np.argsort(owner, kind="stable")
            counts = np.bincount(owner, minlength=len(self))
            self._replies = (added, delays[order], counts, np.cumsum(counts))
        return self._replies

    def __len__(self) -> int:
        return len(self._source)

    @overload
    def __getitem__(self, index: int) -> ConversationRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[ConversationRecord]: ...

    def __getitem__(self, index: int | slice) -> ConversationRecord | list[ConversationRecord]:
        if isinstance(index, slice):
            return list(self._records(range(len(self))[index]))
        if not -len(self) <= index < len(self):
            raise IndexError(f"record {index} of {len(self)}")
        return next(self._records([index % len(self)]))

    def __iter__(self) -> Iterator[ConversationRecord]:
        return self._records(range(len(self)))

    def _records(self, rows: Iterable[int]) -> Iterator[ConversationRecord]:
        _, delays, counts, ends = self._sorted_replies()
        times = [getattr(self, name) for name in _TIMES]
        talks = self.conversations
        for i in rows:
            record = ConversationRecord(talks[i], bool(self.silent[i]))
            for name, column in zip(_TIMES, times, strict=True):
                value = column[i]
                if value == value:  # not NaN
                    setattr(record, name, value)
            record.answered = bool(self.answered[i])
            record.agent_id = self.agent_ids[i]
            record.reply_delays = delays[ends[i] - counts[i] : ends[i]].tolist()
            yield record


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


@dataclass(slots=True)
class AgentRecord:
    """One agent's presence and work: logged in ``[login_at, logout_at)``, typing from each
    of ``busy_starts`` to the matching one of ``busy_ends`` (:attr:`busy`), away from chats (a
    break, a meeting) in ``away`` spans (start, end).

    The typing spans are two sequences of numbers rather than a list of pairs: a day has a
    span for every reply. The model keeps them as ``array('d')``, which the measurement reads
    without a copy; the replay gives lists."""

    id: str
    group: str
    max_chats: int
    login_at: float
    logout_at: float | None = None
    busy_starts: MutableSequence[float] = field(default_factory=lambda: array("d"))
    busy_ends: MutableSequence[float] = field(default_factory=lambda: array("d"))
    away: list[tuple[float, float]] = field(default_factory=list)

    @property
    def busy(self) -> list[tuple[float, float]]:
        """The typing spans (start, end), in the order they ended."""
        return list(zip(self.busy_starts, self.busy_ends, strict=True))


@dataclass(slots=True)
class Run:
    """The outcome of playing one trace: every conversation and every agent."""

    conversations: ConversationLog
    agents: list[AgentRecord]
    end: float
    roster: Roster | None = None
    """Who was rostered (paid hours, absences); None where no roster was played."""
