"""Trace: one concrete draw of a scenario's conversations, and its JSON Lines file.

A trace fixes everything random about the customers (arrival times, bot outcome, patience,
turns with think and reply work, close_after, who they are and what they write), so the model
and the Locust replay can play exactly the same traffic. Line 1 of the file is a header; every
other line is one :class:`Conversation`, ordered by arrival time ``t`` (seconds after the
scenario start).

In memory a trace holds its conversations as objects, or as columns of numbers
(:class:`TraceColumns`), or both: each is made from the other the first time it is asked for.
A drawn trace starts as columns, which is all the model and the measurement read; a trace read
from a file, or rewritten conversation by conversation, starts as objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple, overload

import numpy as np

from sim.errors import InputError
from sim.texts import Customer

FORMAT = "chatsim-trace"
VERSION = 1


class Turn(NamedTuple):
    """One customer message: its ``text``, the customer's ``think`` time before sending it
    (after the previous reply; 0 for the first) and the agent's ``reply`` work to answer it."""

    text: str
    think: float
    reply: float


@dataclass(frozen=True, slots=True)
class BotOutcome:
    """What the bot did: ``contained`` the conversation, or handed it on after ``time``."""

    contained: bool
    time: float


@dataclass(slots=True)
class Conversation:
    """A customer's conversation as drawn: what happens is up to the model or the gateway.

    Treat it as immutable (it is not frozen only because frozen dataclasses are slow to build,
    and traces hold hundreds of thousands of them)."""

    id: str
    channel: str
    t: float
    customer: Customer | None
    bot: BotOutcome | None
    patience: float
    close_after: float
    turns: tuple[Turn, ...]

    @property
    def queue_entry(self) -> float:
        """When the conversation reaches the agent queue (after the bot, if any)."""
        return self.t + self.bot.time if self.bot is not None else self.t


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """Where a trace came from: scenario, its hash, the seed and the horizon."""

    scenario: str
    scenario_sha256: str
    seed: int
    start: str
    duration: float
    locale: str = "ru_RU"
    replication: int = 0


class NumberedIds(Sequence[str]):
    """The ids of ``n`` conversations named by their place, ``c000001`` on (six digits at
    least, more when needed), each made when read: a drawn trace's, of which a replication
    reads none."""

    __slots__ = ("_form", "_n")

    def __init__(self, n: int) -> None:
        self._n = n
        self._form = f"c%0{max(6, len(str(n)))}d"  # %-formatting: the fastest way to many ids

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        places = range(1, self._n + 1)
        if isinstance(index, slice):
            form = self._form
            return [form % number for number in places[index]]
        return self._form % places[index]

    def __iter__(self) -> Iterator[str]:
        form = self._form
        return (form % number for number in range(1, self._n + 1))


@dataclass(frozen=True, slots=True, eq=False)
class TraceColumns:
    """A trace's numbers in columns: row ``i`` of each conversation column is conversation
    ``i`` of the trace; its turns are rows ``first_turn[i]`` to ``first_turn[i] +
    turn_count[i] - 1`` of ``think`` and ``reply``.

    ``channel`` indexes ``channels`` (names); a conversation without a bot has ``bot_time`` NaN
    (and ``bot_contained`` False). ``texts`` (one per turn) and ``customers`` (one per
    conversation) are None when the trace has none (drawn for the model: every text empty,
    every customer None).
    """

    ids: Sequence[str]
    channels: tuple[str, ...]
    channel: np.ndarray
    t: np.ndarray
    bot_contained: np.ndarray
    bot_time: np.ndarray
    patience: np.ndarray
    close_after: np.ndarray
    first_turn: np.ndarray
    turn_count: np.ndarray
    think: np.ndarray
    reply: np.ndarray
    texts: list[str] | None = None
    customers: list[Customer | None] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, conversations: Sequence[Conversation]) -> TraceColumns:
        """The columns of ``conversations`` (their turns laid out in order)."""
        names: dict[str, int] = {}
        channel = [names.setdefault(c.channel, len(names)) for c in conversations]
        bots = [c.bot for c in conversations]
        counts = [len(c.turns) for c in conversations]
        turns = [turn for c in conversations for turn in c.turns]
        turn_count = np.array(counts, dtype=np.int64)
        texts = [turn.text for turn in turns]
        customers = [c.customer for c in conversations]
        return cls(
            ids=[c.id for c in conversations],
            channels=tuple(names),
            channel=np.array(channel, dtype=np.int64),
            t=_floats([c.t for c in conversations]),
            bot_contained=np.array([b is not None and b.contained for b in bots], dtype=bool),
            bot_time=_floats([np.nan if b is None else b.time for b in bots]),
            patience=_floats([c.patience for c in conversations]),
            close_after=_floats([c.close_after for c in conversations]),
            first_turn=np.cumsum(turn_count) - turn_count,
            turn_count=turn_count,
            think=_floats([turn.think for turn in turns]),
            reply=_floats([turn.reply for turn in turns]),
            texts=texts if any(texts) else None,
            customers=customers if any(c is not None for c in customers) else None,
        )

    def on(self, channels: Collection[str]) -> np.ndarray:
        """Which conversations are on one of ``channels`` (a mask of the rows)."""
        chosen = [i for i, name in enumerate(self.channels) if name in channels]
        return np.isin(self.channel, chosen)

    def subset(self, rows: np.ndarray) -> TraceColumns:
        """The conversations at ``rows`` (ascending), their turns left where they are."""
        at = rows.tolist()
        return replace(
            self,
            ids=[self.ids[i] for i in at],
            channel=self.channel[rows],
            t=self.t[rows],
            bot_contained=self.bot_contained[rows],
            bot_time=self.bot_time[rows],
            patience=self.patience[rows],
            close_after=self.close_after[rows],
            first_turn=self.first_turn[rows],
            turn_count=self.turn_count[rows],
            customers=None if self.customers is None else [self.customers[i] for i in at],
        )

    def turn_places(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every conversation's turns in trace order: each one's row in ``think`` and
        ``reply``, its conversation, and whether it is that conversation's first."""
        counts = self.turn_count
        owner = np.repeat(np.arange(len(counts)), counts)
        starts = np.repeat(self.first_turn, counts)
        within = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
        return starts + within, owner, within == 0

    def conversations(self) -> list[Conversation]:
        """The conversations as objects."""
        think, reply = self.think.tolist(), self.reply.tolist()
        texts: Iterable[str] = repeat("") if self.texts is None else self.texts
        # texts may be endless (repeat("")): the numbers bound the zip.
        every_turn = list(map(tuple.__new__, repeat(Turn), zip(texts, think, reply, strict=False)))
        turns = [
            tuple(every_turn[p : p + k])
            for p, k in zip(self.first_turn.tolist(), self.turn_count.tolist(), strict=True)
        ]
        bots = [
            None if time != time else BotOutcome(contained, time)  # NaN: no bot
            for contained, time in zip(
                self.bot_contained.tolist(), self.bot_time.tolist(), strict=True
            )
        ]
        names = [self.channels[i] for i in self.channel.tolist()]
        return list(
            map(
                Conversation,
                self.ids,
                names,
                self.t.tolist(),
                repeat(None) if self.customers is None else self.customers,
                bots,
                self.patience.tolist(),
                self.close_after.tolist(),
                turns,
            )
        )


def _floats(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=float) if values else np.zeros(0)


class Trace:
    """A header and the conversations in arrival order: as objects (``conversations``), as
    columns (``columns``), or both; either is made from the other when first asked for, and
    kept. Treat both as immutable."""

    __slots__ = ("_columns", "_conversations", "header")

    def __init__(
        self,
        header: TraceHeader,
        conversations: list[Conversation] | None = None,
        *,
        columns: TraceColumns | None = None,
    ) -> None:
        self.header = header
        self._conversations = conversations
        self._columns = columns
        if conversations is None and columns is None:
            self._conversations = []

    @property
    def conversations(self) -> list[Conversation]:
        """The conversations as objects."""
        if self._conversations is None:
            assert self._columns is not None  # one of the two is always there
            self._conversations = self._columns.conversations()
        return self._conversations

    @property
    def columns(self) -> TraceColumns:
        """The conversations' numbers as columns."""
        if self._columns is None:
            assert self._conversations is not None  # one of the two is always there
            self._columns = TraceColumns.of(self._conversations)
        return self._columns

    def __len__(self) -> int:
        if self._columns is not None:
            return len(self._columns)
        return len(self.conversations)

    def keeping(self, rows: np.ndarray) -> Trace:
        """This trace with only its conversations at ``rows`` (ascending)."""
        return Trace(self.header, columns=self.columns.subset(rows))

    def __iter__(self) -> Iterator[Conversation]:
        return iter(self.conversations)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        return self.header == other.header and self.conversations == other.conversations

    __hash__ = None  # type: ignore[assignment]  # mutable caches: not hashable

    def __repr__(self) -> str:
        return f"Trace({self.header!r}, {len(self)} conversations)"

    def lines(self) -> Iterator[str]:
        """The JSON Lines of the file, header first, without newlines."""
        head = self.header
        yield _dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "scenario": head.scenario,
                "scenario_sha256": head.scenario_sha256,
                "seed": head.seed,
                "start": head.start,
                "duration": head.duration,
                "locale": head.locale,
                "replication": head.replication,
            }
        )
        for conversation in self.conversations:
            yield _dumps(conversation_to_dict(conversation))

    def sha256(self) -> str:
        """Hash of the file content, so results can name the exact trace they came from."""
        digest = hashlib.sha256()
        for line in self.lines():
            digest.update(line.encode())
            digest.update(b"\n")
        return digest.hexdigest()


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def conversation_to_dict(conversation: Conversation) -> dict[str, Any]:
    customer = conversation.customer
    bot = conversation.bot
    return {
        "id": conversation.id,
        "channel": conversation.channel,
        "t": conversation.t,
        "customer": {"id": customer.id, "name": customer.name} if customer else None,
        "bot": {"contained": bot.contained, "time": bot.time} if bot else None,
        "patience": conversation.patience,
        "close_after": conversation.close_after,
        "turns": [{"text": t.text, "think": t.think, "reply": t.reply} for t in conversation.turns],
    }


def write_trace(trace: Trace, path: str | Path) -> str:
    """Write ``trace`` as JSON Lines; returns the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for line in trace.lines():
            data = line + "\n"
            handle.write(data)
            digest.update(data.encode())
    return digest.hexdigest()


def read_trace(path: str | Path) -> Trace:
    """Read and check a trace file; any problem is an :class:`InputError` naming the line."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read trace: {error.strerror}", file=path) from None
    with handle:
        try:
            # Only "\n" ends a line: texts may hold U+2028 and friends, which JSON leaves as is.
            lines = handle.read().split("\n")
        except UnicodeDecodeError:
            raise InputError("not a UTF-8 text file", file=path) from None
    if lines and not lines[-1]:
        lines.pop()
    if not lines or not lines[0].strip():
        raise InputError("empty file, expected a chatsim trace header on line 1", file=path)
    header = _parse_header(_load_line(lines[0], path, 1), path)
    conversations: list[Conversation] = []
    seen: set[str] = set()
    previous_t = float("-inf")
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        conversation = _parse_conversation(_load_line(line, path, number), path, number)
        if conversation.id in seen:
            raise InputError(
                f"duplicate conversation id {conversation.id!r}", file=path, key=f"line {number}.id"
            )
        if conversation.t < previous_t:
            raise InputError(
                "conversations must be ordered by t", file=path, key=f"line {number}.t"
            )
        seen.add(conversation.id)
        previous_t = conversation.t
        conversations.append(conversation)
    return Trace(header, conversations)


def _load_line(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(
            f"invalid JSON: {error.msg} at column {error.colno}", file=path, key=f"line {number}"
        ) from None
    except (ValueError, RecursionError) as error:  # huge integers, absurd nesting
        raise InputError(f"invalid JSON: {error}", file=path, key=f"line {number}") from None
    if not isinstance(value, dict):
        raise InputError("expected a JSON object", file=path, key=f"line {number}")
    return value


def _parse_header(data: dict[str, Any], path: Path) -> TraceHeader:
    if data.get("format") != FORMAT:
        raise InputError(
            f'not a chatsim trace: line 1 must have "format": "{FORMAT}"',
            file=path,
            key="line 1.format",
        )
    if data.get("version") != VERSION:
        raise InputError(
            f"unsupported trace version {data.get('version')!r} (this chatsim reads {VERSION})",
            file=path,
            key="line 1.version",
        )
    reader = _Fields(data, path, "line 1")
    return TraceHeader(
        scenario=reader.text("scenario"),
        scenario_sha256=reader.text("scenario_sha256"),
        seed=reader.integer("seed"),
        start=reader.text("start"),
        duration=reader.number("duration", positive=True),
        locale=str(data.get("locale", "ru_RU")),
        replication=reader.integer("replication", default=0),
    )


def _parse_conversation(data: dict[str, Any], path: Path, number: int) -> Conversation:
    where = f"line {number}"
    reader = _Fields(data, path, where)
    customer_data = data.get("customer")
    customer = None
    if customer_data is not None:
        sub = (
            _Fields(customer_data, path, f"{where}.customer")
            if isinstance(customer_data, dict)
            else reader.fail("customer", "expected an object or null")
        )
        customer = Customer(sub.text("id"), sub.text("name"))
    bot_data = data.get("bot")
    bot = None
    if bot_data is not None:
        sub = (
            _Fields(bot_data, path, f"{where}.bot")
            if isinstance(bot_data, dict)
            else reader.fail("bot", "expected an object or null")
        )
        contained = bot_data.get("contained")
        if not isinstance(contained, bool):
            sub.fail("contained", "expected true or false")
        bot = BotOutcome(contained, sub.number("time"))
    turns_data = data.get("turns")
    if not isinstance(turns_data, list) or not turns_data:
        raise InputError("expected a non-empty list of turns", file=path, key=f"{where}.turns")
    turns = []
    for i, turn in enumerate(turns_data):
        if not isinstance(turn, dict):
            reader.fail(f"turns[{i}]", "expected an object")
        sub = _Fields(turn, path, f"{where}.turns[{i}]")
        turns.append(Turn(str(turn.get("text", "")), sub.number("think"), sub.number("reply")))
    return Conversation(
        id=reader.text("id"),
        channel=reader.text("channel"),
        t=reader.number("t"),
        customer=customer,
        bot=bot,
        patience=reader.number("patience"),
        close_after=reader.number("close_after"),
        turns=tuple(turns),
    )


class _Fields:
    """Typed access to one JSON object with errors that name the line and key."""

    def __init__(self, data: dict[str, Any], path: Path, where: str) -> None:
        self.data, self.path, self.where = data, path, where

    def fail(self, key: str, problem: str) -> Any:
        raise InputError(problem, file=self.path, key=f"{self.where}.{key}")

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            self.fail(
                key, "missing" if value is None else f"expected a non-empty string, got {value!r}"
            )
        return str(value)

    def integer(self, key: str, *, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(
                "missing" if value is None else f"expected a non-negative integer, got {value!r}",
                file=self.path,
                key=f"{self.where}.{key}",
            )
        return value

    def number(self, key: str, *, positive: bool = False) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(
                "missing" if value is None else f"expected a number, got {value!r}",
                file=self.path,
                key=f"{self.where}.{key}",
            )
        number = float(value)
        if number != number or number < 0 or number == float("inf") or (positive and number == 0):
            self.fail(
                key,
                f"expected a {'positive' if positive else 'non-negative'} finite number, "
                f"got {value!r}",
            )
        return number
