"""The raw replay file: what the Locust side measured, in wall-clock seconds.

The replay's master writes one :class:`RawReplay` (``--replay-out``, ``replay-raw.json``) when
the run ends; :mod:`sim.loadtest.collect` reads it back, in the calling process, and turns it
into scenario-time records and a verdict. Both sides share these types, and this module imports
neither gevent nor Locust, so that reading a run never needs them.

All times are wall-clock seconds (``time.time()``) unless a name says otherwise; scenario time is
``(wall - t0) x speedup``. The file is JSON::

    {"format": "chatsim-replay-raw", "version": 1, "t0": ..., "speedup": ..., "workers": ...,
     "customers": [CustomerRecord...], "handled": [HandledConversation...],
     "agents": [AgentLog...], "accepting": {agent id: [[from, until or null]...]},
     "delivered": {customer key: count}, "emulator": {"received": n, "rejected": n},
     "lateness": Percentiles (seconds), "ack_ms": Percentiles (milliseconds),
     "problems": [text...], "finished": wall time}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from sim.errors import InputError
from sim.loadtest.plain import Plain

FORMAT = "chatsim-replay-raw"
VERSION = 1

Departure = Literal["visible", "silent"]
"""How a customer left a conversation an agent held: ``visible`` the gateway told the agent (a
webchat close), ``silent`` the harness told it out of band (a messenger customer who gave up)."""

Span = tuple[float, float]
"""``(begin, end)``, wall seconds."""

OpenSpan = tuple[float, float | None]
"""``(begin, end)``, wall seconds; no end yet while it lasts."""


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p50, p99 and the maximum of a sample (0 for an empty one)."""

    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        if not values:
            return cls(0.0, 0.0, 0.0)
        ordered = sorted(values)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

        return cls(pick(0.50), pick(0.99), ordered[-1])

    def to_dict(self) -> dict[str, Any]:
        return {"p50": self.p50, "p99": self.p99, "max": self.max}

    @classmethod
    def from_dict(cls, data: object) -> Percentiles:
        plain = Plain.of(data)
        return cls(plain["p50"].number(), plain["p99"].number(), plain["max"].number())


@dataclass(slots=True)
class CustomerRecord:
    """What one customer saw: when each message was sent and acknowledged, when each reply
    arrived, when the customer gave up, and how late its conversation was dispatched."""

    index: int
    """Position of the conversation in the trace."""
    id: str
    """The trace's conversation id."""
    channel: str
    key: str
    """How outbound messages name this customer (:func:`~sim.loadtest.payloads.customer_key`)."""
    sent: list[float] = field(default_factory=list)
    acked: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    left_at: float | None = None
    lateness: float = 0.0
    """Seconds between the conversation's due time and its dispatch."""
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.id,
            "channel": self.channel,
            "key": self.key,
            "sent": self.sent,
            "acked": self.acked,
            "replies": self.replies,
            "left_at": self.left_at,
            "lateness": self.lateness,
            "failures": self.failures,
        }

    @classmethod
    def from_dict(cls, data: object) -> CustomerRecord:
        plain = Plain.of(data)
        left_at = plain.optional("left_at")
        return cls(
            index=plain["index"].integer(),
            id=plain["id"].text(),
            channel=plain["channel"].text(),
            key=plain["key"].text(),
            sent=[t.number() for t in plain["sent"].items()],
            acked=[t.number() for t in plain["acked"].items()],
            replies=[t.number() for t in plain["replies"].items()],
            left_at=None if left_at is None else left_at.number(),
            lateness=plain["lateness"].number(),
            failures=[f.text() for f in plain["failures"].items()],
        )


@dataclass(slots=True)
class HandledConversation:
    """One conversation as the agent who held it saw it: the gateway's id, the trace's, when it
    was assigned and closed, and how many customer messages and replies went through it."""

    conversation_id: str
    """The gateway's id of the conversation."""
    trace_id: str
    key: str
    agent: str
    """The agent's id."""
    assigned: float
    closed: float | None = None
    messages: int = 0
    """Customer messages the agent received."""
    replies: int = 0
    """Replies the gateway accepted."""
    left: Departure | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "trace_id": self.trace_id,
            "key": self.key,
            "agent": self.agent,
            "assigned": self.assigned,
            "closed": self.closed,
            "messages": self.messages,
            "replies": self.replies,
            "left": self.left,
        }

    @classmethod
    def from_dict(cls, data: object) -> HandledConversation:
        plain = Plain.of(data)
        closed, left = plain.optional("closed"), plain.optional("left")
        if left is not None and left.text() not in get_args(Departure):
            left.fail(f"expected one of {', '.join(get_args(Departure))} or null, got {left.data!r}")
        return cls(
            conversation_id=plain["conversation_id"].text(),
            trace_id=plain["trace_id"].text(),
            key=plain["key"].text(),
            agent=plain["agent"].text(),
            assigned=plain["assigned"].number(),
            closed=None if closed is None else closed.number(),
            messages=plain["messages"].integer(),
            replies=plain["replies"].integer(),
            left=None if left is None else cast(Departure, left.text()),
        )


@dataclass(slots=True)
class AgentLog:
    """One emulated agent's presence and work: logged in ``[login_at, logout_at)``, typing in
    the ``busy`` spans."""

    id: str
    group: str
    max_chats: int
    login_at: float
    logout_at: float | None = None
    busy: list[Span] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "group": self.group,
            "max_chats": self.max_chats,
            "login_at": self.login_at,
            "logout_at": self.logout_at,
            "busy": [list(span) for span in self.busy],
        }

    @classmethod
    def from_dict(cls, data: object) -> AgentLog:
        plain = Plain.of(data)
        logout_at = plain.optional("logout_at")
        return cls(
            id=plain["id"].text(),
            group=plain["group"].text(),
            max_chats=plain["max_chats"].integer(),
            login_at=plain["login_at"].number(),
            logout_at=None if logout_at is None else logout_at.number(),
            busy=[span.span() for span in plain["busy"].items()],
        )


@dataclass(frozen=True, slots=True)
class EmulatorCounts:
    """Outbound messages the provider emulator took, and requests it turned away."""

    received: int
    rejected: int

    def to_dict(self) -> dict[str, Any]:
        return {"received": self.received, "rejected": self.rejected}

    @classmethod
    def from_dict(cls, data: object) -> EmulatorCounts:
        plain = Plain.of(data)
        return cls(plain["received"].integer(), plain["rejected"].integer())


@dataclass(slots=True)
class RawReplay:
    """Everything one replay measured; see the module docstring for the file."""

    t0: float
    """Wall time of scenario time 0."""
    speedup: float
    workers: int
    """Processes that played customers (and reported)."""
    customers: list[CustomerRecord]
    handled: list[HandledConversation]
    agents: list[AgentLog]
    delivered: dict[str, int]
    """Per customer key, the outbound messages the provider emulator received."""
    emulator: EmulatorCounts
    lateness: Percentiles
    """Dispatch lateness, wall seconds."""
    ack_ms: Percentiles
    """The gateway's acknowledgement latency of webhooks, wall milliseconds."""
    problems: list[str] = field(default_factory=list)
    accepting: dict[str, list[OpenSpan]] | None = None
    """Per agent id, when it took new chats; None: from login to logout (files without it)."""
    finished: float | None = None
    """When the master wrote the file; None in files without it."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "t0": self.t0,
            "speedup": self.speedup,
            "workers": self.workers,
            "customers": [c.to_dict() for c in self.customers],
            "handled": [h.to_dict() for h in self.handled],
            "agents": [a.to_dict() for a in self.agents],
            "accepting": None if self.accepting is None else {agent: [list(span) for span in spans] for agent, spans in self.accepting.items()},
            "delivered": self.delivered,
            "emulator": self.emulator.to_dict(),
            "lateness": self.lateness.to_dict(),
            "ack_ms": self.ack_ms.to_dict(),
            "problems": self.problems,
            "finished": self.finished,
        }

    @classmethod
    def from_dict(cls, data: object, *, file: str | Path | None = None) -> RawReplay:
        """Read and check a raw file's content; :class:`InputError` names ``file`` and the key."""
        plain = Plain.of(data, file=file)
        if not isinstance(plain.data, dict) or plain.data.get("format") != FORMAT:
            raise InputError("not a chatsim replay measurement file", file=file)
        version = plain.optional("version")
        if version is not None and version.integer() != VERSION:
            version.fail(f"version {version.data} is not supported (this chatsim reads version {VERSION})")
        accepting, finished = plain.optional("accepting"), plain.optional("finished")
        return cls(
            t0=plain["t0"].number(),
            speedup=plain["speedup"].number(),
            workers=plain["workers"].integer(),
            customers=[CustomerRecord.from_dict(c) for c in plain["customers"].items()],
            handled=[HandledConversation.from_dict(h) for h in plain["handled"].items()],
            agents=[AgentLog.from_dict(a) for a in plain["agents"].items()],
            delivered={key: count.integer() for key, count in plain["delivered"].entries()},
            emulator=EmulatorCounts.from_dict(plain["emulator"]),
            lateness=Percentiles.from_dict(plain["lateness"]),
            ack_ms=Percentiles.from_dict(plain["ack_ms"]),
            problems=[p.text() for p in plain["problems"].items()],
            accepting=None if accepting is None else {agent: [s.open_span() for s in spans.items()] for agent, spans in accepting.entries()},
            finished=None if finished is None else finished.number(),
        )


def write_raw(raw: RawReplay, path: Path) -> None:
    """Write ``raw`` to ``path`` (its directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw.to_dict(), ensure_ascii=False))


def read_raw(path: str | Path) -> RawReplay:
    """The raw file at ``path``; :class:`InputError` if it is missing or malformed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("the replay wrote no measurements (did Locust start?)", file=path) from None
    except json.JSONDecodeError as error:
        raise InputError(f"invalid JSON: {error.msg}", file=path) from None
    return RawReplay.from_dict(data, file=path)
