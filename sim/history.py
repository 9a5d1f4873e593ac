"""Conversation history: what a chat platform's export says happened, read row by row.

``chatsim fit`` (and the forecast) start from logs of real conversations. This module reads
them into :class:`LoggedConversation` and :class:`LoggedMessage` values on one time line,
seconds since the epoch (UTC), each with the UTC offset it was written in so that intraday
profiles can be drawn on the operator's own clock. Two inputs are understood (README.md, "From
history to a scenario"):

- **the generic CSV**, one row per conversation: ``id, channel, created_at`` (required) and
  ``queued_at, assigned_at, first_response_at, abandoned_at, closed_at, agent,
  customer_messages, agent_messages, bot_contained`` (optional, empty where unknown), times as
  ISO 8601 with an offset (``2024-03-04T08:15:02+03:00``, ``...Z``) or epoch seconds; optionally
  with a message-level CSV ``conversation_id, at, sender`` (``customer``, ``agent`` or ``bot``).
  Other exports' column names are mapped with ``mapping`` (``--map created_at=Started``); a
  ``;`` or tab delimiter and an Excel byte-order mark are recognised.
- **chatsim's own** ``conversations.jsonl`` (model or replay). Its times are seconds after the
  scenario start; they are placed on :data:`ORIGIN` (Monday 2024-01-01 00:00 UTC) plus the start
  clock of the ``results.json`` beside it (``"Tue 08:00"`` is Tuesday 2024-01-02 08:00). Several
  such files are laid one after another, a day apart (a week apart when the start has a
  weekday), their ids prefixed with the file's position (``2:c000017``).

A row that cannot be used (a required value missing, a time that does not parse, times out of
order such as a first response before the conversation was created, a duplicate id) is not
dropped silently: it becomes a :class:`RowProblem` with file, line and reason, and ``strict``
makes the first one fatal. A required column missing from a header is always fatal.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from sim.durations import DAY, WEEK, WeekTime, parse_day_clock
from sim.errors import InputError
from sim.records import ConversationRecord

ORIGIN = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
"""Where chatsim's own scenario-relative seconds are placed: Monday 2024-01-01 00:00 UTC (the
scenario's start clock is added, with its weekday if it has one)."""

CONVERSATION_COLUMNS = (
    "id",
    "channel",
    "created_at",
    "queued_at",
    "assigned_at",
    "first_response_at",
    "abandoned_at",
    "closed_at",
    "agent",
    "customer_messages",
    "agent_messages",
    "bot_contained",
)
"""The generic conversation CSV's columns, in the order :func:`write_history_csv` writes them.
``assigned_at`` is chatsim's addition to the format of issue 14 (optional, like all but the
first three): when an agent took the chat, which tells first-reply work from queue wait."""

REQUIRED_COLUMNS = ("id", "channel", "created_at")
MESSAGE_COLUMNS = ("conversation_id", "at", "sender")
SENDERS = ("customer", "agent", "bot")

_TIMES = (
    "created_at",
    "queued_at",
    "assigned_at",
    "first_response_at",
    "abandoned_at",
    "closed_at",
)
_ORDER = (
    ("created_at", "queued_at"),
    ("created_at", "assigned_at"),
    ("created_at", "first_response_at"),
    ("created_at", "abandoned_at"),
    ("created_at", "closed_at"),
    ("queued_at", "assigned_at"),
    ("queued_at", "first_response_at"),
    ("queued_at", "abandoned_at"),
    ("queued_at", "closed_at"),
    ("assigned_at", "first_response_at"),
    ("assigned_at", "closed_at"),
    ("first_response_at", "closed_at"),
    ("abandoned_at", "closed_at"),
)
"""Pairs of times a conversation must have in this order (earlier, later) when both are given."""

_SLACK = 1e-6
"""Times equal up to rounding are in order."""

_EPOCH = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_MAX_EPOCH = 1e11
"""Epoch seconds beyond this (the year 5138) are milliseconds written by mistake."""

# Kinds of row problems, by which the command line groups them.
MISSING = "missing value"
UNPARSEABLE = "unparseable time"
OUT_OF_ORDER = "times out of order"
BAD_VALUE = "bad value"
DUPLICATE = "duplicate id"
UNKNOWN = "unknown conversation"
BAD_RECORD = "bad record"


@dataclass(frozen=True, slots=True)
class LoggedConversation:
    """One conversation as the logs tell it; times are seconds since the epoch (UTC).

    ``utc_offset`` is the offset (seconds east of UTC) the row's ``created_at`` was written in
    (0 for epoch seconds unless the reader was given one): local clock time is ``created_at +
    utc_offset``. Everything after ``created_at`` is ``None`` where the logs do not say.
    ``assigned_at`` (an agent took the chat) and ``insession_responses`` (the agent's response
    time to each later customer message, which chatsim's own records keep) are additions to the
    issue's interface.
    """

    id: str
    channel: str
    created_at: float
    utc_offset: float
    queued_at: float | None = None
    first_response_at: float | None = None
    abandoned_at: float | None = None
    closed_at: float | None = None
    agent: str | None = None
    customer_messages: int | None = None
    agent_messages: int | None = None
    bot_contained: bool | None = None
    assigned_at: float | None = None
    insession_responses: tuple[float, ...] | None = None

    @property
    def local_created(self) -> float:
        """``created_at`` on the clock it was written in (seconds since the epoch as if that
        clock were UTC): what intraday profiles count by."""
        return self.created_at + self.utc_offset

    @property
    def queue_entry(self) -> float | None:
        """When the conversation reached the agents' queue: ``queued_at``, or ``created_at`` when
        no bot kept it; ``None`` for a conversation the bot contained."""
        if self.bot_contained:
            return None
        return self.queued_at if self.queued_at is not None else self.created_at


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    """One message of a conversation: when it was sent and by whom (customer, agent or bot)."""

    conversation_id: str
    at: float
    sender: str


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that was not used: where it is (``line`` 1-based, the header is line 1) and why.
    ``kind`` groups problems for the summary (``times out of order``, ``unparseable time``…)."""

    file: str
    line: int
    reason: str
    kind: str = BAD_RECORD

    def format(self) -> str:
        return f"{self.file}: line {self.line}: {self.reason}"


@dataclass
class History:
    """Conversations that were read, their messages by conversation id (in time order), and
    the rows that were not used."""

    conversations: list[LoggedConversation]
    messages: dict[str, list[LoggedMessage]]
    problems: list[RowProblem]
    files: list[str] = field(default_factory=list)
    rows: int = 0
    """Data rows read (conversations and messages), problems included."""


# -- timestamps ------------------------------------------------------------------------------


def parse_timestamp(text: str, default_offset: float | None = None) -> tuple[float, float]:
    """``(seconds since the epoch, UTC offset in seconds)`` of an ISO 8601 time with an offset
    (``2024-03-04T08:15:02.250+03:00``, ``2024-03-04 05:15:02Z``) or of epoch seconds
    (``1709529302.25``, offset ``default_offset`` or 0).

    An ISO time without an offset takes ``default_offset`` and is refused without one: the same
    wall-clock time is a different instant in every time zone. Raises ``ValueError`` with a
    message fit for the user.
    """
    value = text.strip()
    if _EPOCH.match(value):
        seconds = float(value)
        if abs(seconds) >= _MAX_EPOCH:
            raise ValueError(
                f"{value!r} is too large for epoch seconds (milliseconds? divide by 1000)"
            )
        return seconds, default_offset or 0.0
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"cannot read {value!r} as a time: write ISO 8601 with an offset "
            "(2024-03-04T08:15:00+03:00) or epoch seconds"
        ) from None
    offset = moment.utcoffset()
    if offset is None:
        if default_offset is None:
            raise ValueError(
                f"{value!r} has no UTC offset: write it with one (+03:00, Z) or give --utc-offset"
            )
        moment = moment.replace(tzinfo=timezone(timedelta(seconds=default_offset)))
        offset = timedelta(seconds=default_offset)
    return moment.timestamp(), offset.total_seconds()


def format_timestamp(seconds: float, utc_offset: float = 0.0) -> str:
    """ISO 8601 with its offset, to the millisecond (``2024-01-01T08:00:00.250+00:00``); what
    :func:`parse_timestamp` reads back."""
    zone = timezone(timedelta(seconds=round(utc_offset)))
    moment = datetime.fromtimestamp(round(seconds, 3), tz=zone)
    return moment.isoformat(timespec="milliseconds")


def parse_utc_offset(text: str) -> float:
    """Seconds east of UTC of ``+03:00``, ``-0500``, ``+3`` or ``Z``."""
    value = text.strip()
    if value.upper() in ("Z", "UTC", "0"):
        return 0.0
    match = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", value)
    if not match or int(match.group(2)) > 18 or int(match.group(3) or 0) >= 60:
        raise ValueError(f"expected a UTC offset such as +03:00 or -05:00, got {text!r}")
    sign = -1.0 if match.group(1) == "-" else 1.0
    return sign * (int(match.group(2)) * 3600.0 + int(match.group(3) or 0) * 60.0)


# -- reading ---------------------------------------------------------------------------------


class _Rejected(Exception):
    """A row that cannot be used; carries its problem's kind and reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def read_history(
    paths: Sequence[Path],
    *,
    mapping: Mapping[str, str] | None = None,
    strict: bool = False,
    messages: Sequence[Path] = (),
    utc_offset: float | None = None,
) -> History:
    """Read conversation logs (generic CSVs or chatsim's ``conversations.jsonl``) and optional
    message CSVs.

    ``mapping`` maps chatsim's column names to the file's (``{"created_at": "Started"}``).
    ``utc_offset`` (seconds east of UTC) is taken for ISO times without an offset and is the
    clock epoch seconds are shown on. Rows that cannot be used are listed in
    :attr:`History.problems`; with ``strict`` the first of them raises :class:`InputError`
    (exit code 2), as does a missing required column or an unreadable file in any case.
    """
    mapping = dict(mapping or {})
    known = set(CONVERSATION_COLUMNS) | set(MESSAGE_COLUMNS)
    for ours in mapping:
        if ours not in known:
            raise InputError(
                f"unknown column {ours!r} in --map {ours}={mapping[ours]} "
                f"(chatsim's columns: {', '.join(CONVERSATION_COLUMNS + MESSAGE_COLUMNS)})",
                key="--map",
            )
    history = History([], {}, [], files=[str(p) for p in (*paths, *messages)])
    seen: dict[str, tuple[str, int]] = {}
    skipped: set[str] = set()
    logs = [(path, _is_jsonl(path)) for path in paths]
    chatsim_files = sum(jsonl for _, jsonl in logs)
    position = 0
    for path, jsonl in logs:
        if jsonl:
            rows: Iterator[tuple[int, LoggedConversation | _Rejected, str | None]] = _read_jsonl(
                path, position, prefix=chatsim_files > 1
            )
            position += 1
        else:
            rows = _read_csv(path, mapping, utc_offset)
        for line, outcome, raw_id in rows:
            history.rows += 1
            if isinstance(outcome, LoggedConversation) and outcome.id in seen:
                where = seen[outcome.id]
                outcome = _Rejected(
                    DUPLICATE,
                    f"duplicate id {outcome.id!r} (first on line {where[1]} of {where[0]})",
                )
            if isinstance(outcome, _Rejected):
                history.problems.append(RowProblem(str(path), line, outcome.reason, outcome.kind))
                if raw_id:
                    skipped.add(raw_id)
                continue
            seen[outcome.id] = (str(path), line)
            history.conversations.append(outcome)
    created = {c.id: c for c in history.conversations}
    for path in messages:
        for line, message in _read_messages(path, mapping, utc_offset):
            history.rows += 1
            if isinstance(message, _Rejected):
                history.problems.append(RowProblem(str(path), line, message.reason, message.kind))
                continue
            conversation = created.get(message.conversation_id)
            if conversation is None:
                why = (
                    "its conversation's row was skipped"
                    if message.conversation_id in skipped and message.conversation_id not in seen
                    else "no such conversation in the conversation logs"
                )
                history.problems.append(
                    RowProblem(
                        str(path), line, f"conversation {message.conversation_id!r}: {why}", UNKNOWN
                    )
                )
                continue
            if message.at < conversation.created_at - _SLACK:
                history.problems.append(
                    RowProblem(
                        str(path),
                        line,
                        f"message at {format_timestamp(message.at)} is before its conversation "
                        f"{message.conversation_id!r} was created "
                        f"({format_timestamp(conversation.created_at)})",
                        OUT_OF_ORDER,
                    )
                )
                continue
            history.messages.setdefault(message.conversation_id, []).append(message)
    for thread in history.messages.values():
        thread.sort(key=lambda m: m.at)
    if strict and history.problems:
        first = history.problems[0]
        more = len(history.problems) - 1
        tail = f" ({more} more bad row{'s' if more != 1 else ''})" if more else ""
        raise InputError(
            f"{first.reason}{tail}; without --strict bad rows are skipped and listed",
            file=first.file,
            key=f"line {first.line}",
        )
    return history


def _is_jsonl(path: Path) -> bool:
    """chatsim's JSON Lines (by its suffix, or a first character ``{``) rather than a CSV."""
    if path.suffix.lower() in (".jsonl", ".json"):
        return True
    try:
        with path.open(encoding="utf-8-sig") as handle:
            head = handle.read(256).lstrip()
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read: {error}", file=path) from None
    return head.startswith("{")


def _open(path: Path) -> TextIO:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", file=path) from None


def _csv_rows(handle: TextIO, path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` of a CSV file, the header first; blank rows skipped. The delimiter is
    the most frequent of ``,``, ``;`` and tab in the first line."""
    try:
        first = handle.readline()
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text: {error}", file=path) from None
    delimiter = max((",", ";", "\t"), key=first.count)
    lines = iter([first])

    def text() -> Iterator[str]:
        yield from lines
        yield from handle

    reader = csv.reader(text(), delimiter=delimiter)
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield start, row
            start = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text after line {start}: {error}", file=path) from None
    except csv.Error as error:
        raise InputError(f"line {start}: {error}", file=path) from None


def _columns(
    header: list[str],
    wanted: Sequence[str],
    required: Sequence[str],
    mapping: Mapping[str, str],
    path: Path,
) -> dict[str, int]:
    """Positions of chatsim's columns in a header, through ``mapping``; a required column that
    is missing (or a mapped one) is fatal, naming the column and ``--map``."""
    names = [cell.strip() for cell in header]
    lowered = [name.lower() for name in names]
    positions: dict[str, int] = {}
    for ours in wanted:
        theirs = mapping.get(ours, ours)
        if theirs in names:
            positions[ours] = names.index(theirs)
        elif theirs.lower() in lowered:
            positions[ours] = lowered.index(theirs.lower())
        elif ours in mapping:
            raise InputError(
                f"no column {theirs!r} (from --map {ours}={theirs}); the header has: "
                f"{', '.join(names)}",
                file=path,
                key="line 1",
            )
        elif ours in required:
            raise InputError(
                f"missing required column {ours!r} (the header has: {', '.join(names)}); if "
                f"the file calls it otherwise, give --map {ours}=THEIR_NAME",
                file=path,
                key="line 1",
            )
    return positions


def _read_csv(
    path: Path, mapping: Mapping[str, str], utc_offset: float | None
) -> Iterator[tuple[int, LoggedConversation | _Rejected, str | None]]:
    for line, cells in _csv_cells(path, CONVERSATION_COLUMNS, REQUIRED_COLUMNS, mapping):
        try:
            yield line, _conversation(cells, utc_offset), cells.get("id")
        except _Rejected as rejected:
            yield line, rejected, cells.get("id")


def _csv_cells(
    path: Path, columns: Sequence[str], required: Sequence[str], mapping: Mapping[str, str]
) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Each data row of a CSV as ``(line, {our column: stripped text or None})``, after its
    header has been checked for the ``required`` columns."""
    with _open(path) as handle:
        rows = _csv_rows(handle, path)
        header = next(rows, None)
        if header is None:
            raise InputError("empty file: expected a header line", file=path)
        positions = _columns(header[1], columns, required, mapping, path)
        for line, row in rows:
            yield (
                line,
                {
                    ours: row[i].strip() if i < len(row) and row[i].strip() else None
                    for ours, i in positions.items()
                },
            )


def _conversation(cells: Mapping[str, str | None], utc_offset: float | None) -> LoggedConversation:
    for name in REQUIRED_COLUMNS:
        if cells.get(name) is None:
            raise _Rejected(MISSING, f"no {name} (required)")
    times: dict[str, float | None] = {}
    offset = 0.0
    for name in _TIMES:
        text = cells.get(name)
        if text is None:
            times[name] = None
            continue
        try:
            times[name], written = parse_timestamp(text, utc_offset)
        except ValueError as error:
            raise _Rejected(UNPARSEABLE, f"{name}: {error}") from None
        if name == "created_at":
            offset = written
    _check_order(times)
    counts: dict[str, int | None] = {}
    for name in ("customer_messages", "agent_messages"):
        text = cells.get(name)
        counts[name] = None if text is None else _count(name, text)
    contained = cells.get("bot_contained")
    return LoggedConversation(
        id=str(cells["id"]),
        channel=str(cells["channel"]),
        created_at=times["created_at"],  # type: ignore[arg-type]  # required, checked above
        utc_offset=offset,
        queued_at=times["queued_at"],
        first_response_at=times["first_response_at"],
        abandoned_at=times["abandoned_at"],
        closed_at=times["closed_at"],
        agent=cells.get("agent"),
        customer_messages=counts["customer_messages"],
        agent_messages=counts["agent_messages"],
        bot_contained=None if contained is None else _flag(contained),
        assigned_at=times["assigned_at"],
    )


def _check_order(times: Mapping[str, float | None]) -> None:
    for earlier, later in _ORDER:
        first, second = times.get(earlier), times.get(later)
        if first is not None and second is not None and second < first - _SLACK:
            raise _Rejected(
                OUT_OF_ORDER,
                f"{later} ({format_timestamp(second)}) is before {earlier} "
                f"({format_timestamp(first)})",
            )


def _count(name: str, text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise _Rejected(BAD_VALUE, f"{name}: {text!r} is not a number") from None
    if value < 0 or value != int(value):
        raise _Rejected(BAD_VALUE, f"{name}: {text!r} is not a whole number >= 0")
    return int(value)


_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Rejected(BAD_VALUE, f"bot_contained: {text!r} is not true or false")


def _read_messages(
    path: Path, mapping: Mapping[str, str], utc_offset: float | None
) -> Iterator[tuple[int, LoggedMessage | _Rejected]]:
    for line, cells in _csv_cells(path, MESSAGE_COLUMNS, MESSAGE_COLUMNS, mapping):
        missing = [name for name in MESSAGE_COLUMNS if cells[name] is None]
        if missing:
            yield line, _Rejected(MISSING, f"no {missing[0]} (required)")
            continue
        sender = str(cells["sender"]).lower()
        if sender not in SENDERS:
            yield (
                line,
                _Rejected(BAD_VALUE, f"sender: {cells['sender']!r} is not customer, agent or bot"),
            )
            continue
        try:
            at, _ = parse_timestamp(str(cells["at"]), utc_offset)
        except ValueError as error:
            yield line, _Rejected(UNPARSEABLE, f"at: {error}")
            continue
        yield line, LoggedMessage(str(cells["conversation_id"]), at, sender)


def _jsonl_origin(path: Path, position: int) -> tuple[float, float]:
    """Epoch seconds of scenario time 0 of a chatsim file, and the step between files."""
    start: float = 0.0
    results = path.parent / "results.json"
    if results.is_file():
        try:
            data = json.loads(results.read_text(encoding="utf-8"))
            start = parse_day_clock(data.get("start", "00:00"))
        except (OSError, ValueError, AttributeError):
            start = 0.0  # an unreadable header: the fixed origin, as documented
    step = WEEK if isinstance(start, WeekTime) else DAY
    return ORIGIN + float(start) + position * step, step


def _read_jsonl(
    path: Path, position: int, *, prefix: bool
) -> Iterator[tuple[int, LoggedConversation | _Rejected, str | None]]:
    epoch, _ = _jsonl_origin(path, position)
    with _open(path) as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as error:
                yield line, _Rejected(BAD_RECORD, f"invalid JSON: {error.msg}"), None
                continue
            if not isinstance(data, dict):
                yield line, _Rejected(BAD_RECORD, "expected a JSON object"), None
                continue
            if line == 1 and data.get("format") == "chatsim-trace":
                raise InputError(
                    "this is a trace (what customers will do), not a log of what happened: "
                    "simulate it (chatsim simulate SCENARIO --trace F --out DIR) and fit "
                    "DIR/conversations.jsonl",
                    file=path,
                )
            raw_id = data.get("id")
            try:
                conversation = _record(data, epoch)
            except _Rejected as rejected:
                yield line, rejected, str(raw_id) if raw_id is not None else None
                continue
            if prefix:
                conversation = _renamed(conversation, f"{position + 1}:{conversation.id}")
            yield line, conversation, conversation.id


def _renamed(conversation: LoggedConversation, new_id: str) -> LoggedConversation:
    values = {f.name: getattr(conversation, f.name) for f in fields(LoggedConversation)}
    values["id"] = new_id
    return LoggedConversation(**values)


def _record(data: Mapping[str, Any], epoch: float) -> LoggedConversation:
    """A record of chatsim's ``conversations.jsonl`` (:meth:`ConversationRecord.to_dict`)."""
    for name in ("id", "channel", "arrived_at"):
        if data.get(name) is None:
            raise _Rejected(MISSING, f"no {name} (required)")

    def at(name: str) -> float | None:
        value = data.get(name)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _Rejected(BAD_VALUE, f"{name}: expected seconds, got {value!r}")
        return epoch + float(value)

    created = at("arrived_at")
    assert created is not None
    queued, first, left, closed = (
        at("queued_at"),
        at("first_reply_at"),
        at("left_at"),
        at("closed_at"),
    )
    times = {
        "created_at": created,
        "queued_at": queued,
        "assigned_at": at("assigned_at"),
        "first_response_at": first,
        "abandoned_at": left,
        "closed_at": closed,
    }
    _check_order(times)
    delays = data.get("reply_delays") or []
    if not isinstance(delays, list) or not all(
        isinstance(d, int | float) and not isinstance(d, bool) for d in delays
    ):
        raise _Rejected(BAD_VALUE, f"reply_delays: expected a list of seconds, got {delays!r}")
    missed = bool(data.get("missed"))
    offered = queued is not None
    if not offered:
        customer, agent_count = 1, 0
    elif missed:
        customer, agent_count = 1, (1 if first is not None else 0)
    else:
        customer = agent_count = max(len(delays), 1)
    return LoggedConversation(
        id=str(data["id"]),
        channel=str(data["channel"]),
        created_at=created,
        utc_offset=0.0,
        queued_at=queued,
        first_response_at=first,
        abandoned_at=left if missed else None,
        closed_at=closed,
        agent=None if data.get("agent") is None else str(data["agent"]),
        customer_messages=customer,
        agent_messages=agent_count,
        bot_contained=bool(data.get("bot_contained")),
        assigned_at=times["assigned_at"],
        insession_responses=tuple(float(d) for d in delays[1:]) if not missed else (),
    )


# -- writing ---------------------------------------------------------------------------------


def history_of_records(
    records: Iterable[ConversationRecord],
    *,
    epoch: float = ORIGIN,
    utc_offset: float = 0.0,
    prefix: str = "",
) -> History:
    """What a chat platform would have logged of a model run: conversations and messages, on
    the time line ``epoch`` + scenario seconds, written at ``utc_offset``, ids prefixed with
    ``prefix`` (several runs laid one after another keep their ids apart).

    A platform does not see a messenger customer leave (silent abandonment): such a
    conversation has its late first response and no ``abandoned_at``, exactly as an export
    shows it. Messages are the customer's (the first at creation, each later one ``think``
    after the agent's previous answer) and the agent's (each ``reply_delays`` after the message
    it answers). Bot messages are not written.
    """
    conversations: list[LoggedConversation] = []
    messages: dict[str, list[LoggedMessage]] = {}
    for record in records:
        talk = record.conversation
        key = prefix + record.id
        created = epoch + talk.t
        thread = [LoggedMessage(key, created, "customer")]
        queued = None if record.queued_at is None else epoch + record.queued_at
        first = None if record.first_reply_at is None else epoch + record.first_reply_at
        if first is not None:
            thread.append(LoggedMessage(key, first, "agent"))
        if record.answered and first is not None:
            previous = first
            for turn, delay in zip(talk.turns[1:], record.reply_delays[1:], strict=False):
                asked = previous + turn.think
                previous = asked + delay
                thread.append(LoggedMessage(key, asked, "customer"))
                thread.append(LoggedMessage(key, previous, "agent"))
        visible_leave = record.left_at is not None and not record.silent
        conversations.append(
            LoggedConversation(
                id=key,
                channel=record.channel,
                created_at=created,
                utc_offset=utc_offset,
                queued_at=queued,
                first_response_at=first,
                abandoned_at=epoch + record.left_at if visible_leave else None,  # type: ignore[operator]  # left_at is set
                closed_at=None if record.closed_at is None else epoch + record.closed_at,
                agent=record.agent_id,
                customer_messages=sum(m.sender == "customer" for m in thread),
                agent_messages=sum(m.sender == "agent" for m in thread),
                bot_contained=record.bot_contained,
                assigned_at=None if record.assigned_at is None else epoch + record.assigned_at,
            )
        )
        messages[key] = thread
    return History(conversations, messages, [])


def write_history_csv(history: History, path: Path, *, messages: Path | None = None) -> None:
    """Write conversations as the generic CSV (and their messages as the message CSV), times
    in ISO 8601 with each conversation's offset: the format :func:`read_history` reads."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CONVERSATION_COLUMNS)
        for c in history.conversations:
            writer.writerow(_row(c))
    if messages is None:
        return
    offsets = {c.id: c.utc_offset for c in history.conversations}
    with messages.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MESSAGE_COLUMNS)
        for key, thread in history.messages.items():
            for message in thread:
                at = format_timestamp(message.at, offsets.get(key, 0.0))
                writer.writerow([message.conversation_id, at, message.sender])


def _row(c: LoggedConversation) -> list[str]:
    def time(value: float | None) -> str:
        return "" if value is None else format_timestamp(value, c.utc_offset)

    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return [
        c.id,
        c.channel,
        time(c.created_at),
        time(c.queued_at),
        time(c.assigned_at),
        time(c.first_response_at),
        time(c.abandoned_at),
        time(c.closed_at),
        text(c.agent),
        text(c.customer_messages),
        text(c.agent_messages),
        text(c.bot_contained),
    ]
