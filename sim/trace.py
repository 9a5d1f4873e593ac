"""Trace: one concrete draw of a scenario's conversations, and its JSON Lines file.

A trace fixes everything random about the customers (arrival times, bot outcome, patience,
turns with think and reply work, close_after, who they are and what they write), so the model
and the Locust replay can play exactly the same traffic. Line 1 of the file is a header; every
other line is one :class:`Conversation`, ordered by arrival time ``t`` (seconds after the
scenario start).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

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


@dataclass(slots=True)
class Trace:
    """A header and the conversations in arrival order."""

    header: TraceHeader
    conversations: list[Conversation] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.conversations)

    def __iter__(self) -> Iterator[Conversation]:
        return iter(self.conversations)

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
