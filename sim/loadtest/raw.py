"""The raw replay file: what the Locust side measured, in wall-clock seconds.

The replay's master writes one :class:`RawReplay` (``--replay-out``, ``replay-raw.json``) when
the run ends; :mod:`sim.loadtest.collect` reads it back, in the calling process, and turns it
into scenario-time records and a verdict. Both sides share these types, and this module imports
neither gevent nor Locust, so that reading a run never needs them.

All times are wall-clock seconds (``time.time()``) unless a name says otherwise; scenario time is
``(wall - t0) x speedup``. Each type is written with :func:`dataclasses.asdict` and read
with pydantic (:func:`read_plain`), as the worker-master messages are. The file is JSON::

    {"format": "chatsim-replay-raw", "version": 1, "t0": ..., "speedup": ..., "workers": ...,
     "customers": [CustomerRecord...], "handled": [HandledConversation...],
     "agents": [AgentLog...], "accepting": {agent id: [[from, until or null]...]},
     "delivered": {customer key: count}, "outbound": {customer key: [wall time...]},
     "emulator": {"received": n, "rejected": n}, "lateness": Percentiles (seconds),
     "ack_ms": Percentiles (milliseconds), "delivery_ms": Percentiles (milliseconds),
     "problems": [text...], "finished": wall time, "responder": "agents" or "bot",
     "clocks": {worker index: ClockOffset}}

Reply delivery latency is the wall time from the gateway accepting an agent's reply (the agent's
``POST /conversations/{cid}/reply`` returned 2xx: ``HandledConversation.accepted``) to the
provider emulator receiving it (``outbound``), matched per customer key in order; see
:mod:`sim.loadtest.delivery`. Files written before it have neither, and read as empty.

An agent's ``away`` spans are its pauses (breaks, shrinkage) as the gateway saw them: from when
it held nothing more for the resting agent to its return; files written before agents took
breaks have none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, cast, get_args

from pydantic import TypeAdapter, ValidationError

from sim.errors import InputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

FORMAT = "chatsim-replay-raw"
VERSION = 1

Departure = Literal["visible", "silent"]
"""How a customer left a conversation an agent held: ``visible`` the gateway told the agent (a
webchat close), ``silent`` the harness told it out of band (a messenger customer who gave up)."""

Responder = Literal["agents", "bot"]
"""Who answers the customers in a replay: the emulated ``agents`` (through the gateway's agent
desk), or the gateway's own ``bot`` (no agents; :mod:`sim.loadtest.bot`)."""

RESPONDERS: tuple[Responder, ...] = get_args(Responder)

Span = tuple[float, float]
"""``(begin, end)``, wall seconds."""

OpenSpan = tuple[float, float | None]
"""``(begin, end)``, wall seconds; no end yet while it lasts."""

_T = TypeVar("_T")
_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def read_plain(cls: type[_T], data: object, *, file: str | Path | None = None, key: str = "") -> _T:
    """``data`` (plain data: what JSON and Locust's messages carry) as a ``cls``, checked strictly
    (a number is no string, an integer no float, a boolean no number); :class:`InputError` names
    ``file`` and the key path (``key`` + ``customers[1].sent[0]``) of the first thing wrong."""
    if cls not in _ADAPTERS:
        _ADAPTERS[cls] = TypeAdapter(cls)
    try:
        # pydantic's strict mode takes dataclasses from objects and tuples from arrays in JSON only
        value: _T = _ADAPTERS[cls].validate_json(json.dumps(data), strict=True)
    except ValidationError as error:
        first = error.errors()[0]
        kind, loc, got = first["type"], first["loc"], first["input"]
        if kind == "missing" and loc and isinstance(loc[-1], int):  # a span with one value
            kind, loc = "too_short", loc[:-1]
        if kind in ("too_short", "too_long"):  # only spans have a length
            problem = f"expected [begin, end], got {len(got)} values"
        elif kind == "missing":
            problem = "missing"
        else:
            shown = repr(got) if kind == "literal_error" else _KINDS.get(type(got), "a value")
            problem = f"{_EXPECTED.get(kind, first['msg'])}, got {shown}"
        for part in loc:
            key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else part
        raise InputError(problem, file=file, key=key or None) from None
    return value


_EXPECTED = {
    "float_type": "expected a number",
    "int_type": "expected an integer",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "tuple_type": "expected [begin, end]",
    "dict_type": "expected an object",
    "dataclass_type": "expected an object",
    "literal_error": f"expected one of {', '.join(get_args(Departure))} or null",
}
"""What pydantic's error types mean here (its own message for any other)."""

_KINDS = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


class Plain:
    """A dataclass carried as plain data: written with :func:`~dataclasses.asdict`, read back
    with :func:`read_plain`."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(cast("DataclassInstance", self))

    @classmethod
    def from_dict(cls, data: object) -> Self:
        return read_plain(cls, data)


@dataclass(frozen=True, slots=True)
class Percentiles(Plain):
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


@dataclass(slots=True)
class CustomerRecord(Plain):
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
    """When each acknowledged message was sent."""
    replies: list[float] = field(default_factory=list)
    left_at: float | None = None
    lateness: float = 0.0
    """Seconds between the conversation's due time and its dispatch."""
    failures: list[str] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    """The gateway's acknowledgement latency of each acknowledged message, wall milliseconds
    (empty in files written before it was kept per customer)."""
    retries: int = 0
    """Webhook attempts repeated because the gateway did not acknowledge one (as platforms
    redeliver)."""


@dataclass(slots=True)
class HandledConversation(Plain):
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
    accepted: list[float] = field(default_factory=list)
    """When the gateway accepted each reply (its answer to the agent's POST arrived)."""


@dataclass(slots=True)
class AgentLog(Plain):
    """One emulated agent's presence and work: logged in ``[login_at, logout_at)``, typing in
    the ``busy`` spans, away on a pause of its roster (a break, shrinkage) in the ``away``
    spans: from when the gateway held nothing more for it to when it was back."""

    id: str
    group: str
    max_chats: int
    login_at: float
    logout_at: float | None = None
    busy: list[Span] = field(default_factory=list)
    away: list[Span] = field(default_factory=list)
    """Files written before agents took breaks have none."""


@dataclass(frozen=True, slots=True)
class EmulatorCounts(Plain):
    """Outbound messages the provider emulator took, and requests it turned away."""

    received: int
    rejected: int


@dataclass(frozen=True, slots=True)
class ClockOffset(Plain):
    """How far a worker's wall clock is from the master's, NTP's way: the master sends its time
    ``t1``, the worker answers with its own ``t2``, the answer arrives at ``t3``; the offset is
    ``t2 - (t1 + t3) / 2``, uncertain by half the round trip ``t3 - t1`` (the best of a few
    probes: the one of least round trip)."""

    offset_ms: float
    round_trip_ms: float

    @classmethod
    def of(cls, sent: float, clock: float, received: float) -> ClockOffset:
        return cls((clock - (sent + received) / 2) * 1000.0, (received - sent) * 1000.0)


@dataclass(slots=True)
class RawReplay(Plain):
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
    outbound: dict[str, list[float]] = field(default_factory=dict)
    """Per customer key, when the provider emulator received each outbound message."""
    delivery_ms: Percentiles | None = None
    """Reply delivery latency, wall milliseconds; None in files without it."""
    outages: list[OpenSpan] = field(default_factory=list)
    """When the gateway's ``/healthz`` did not answer 200, wall times (an end of None: it was
    still down when the run ended)."""
    responder: Responder = "agents"
    """Who answered: emulated agents, or the gateway's bot (files without it: agents)."""
    clocks: dict[str, ClockOffset] = field(default_factory=dict)
    """Per worker index, its clock's offset from the master's (none with one process)."""

    def to_dict(self) -> dict[str, Any]:
        data = {"format": FORMAT, "version": VERSION, **asdict(self)}
        for key in (
            "delivered",
            "outbound",
            "emulator",
            "lateness",
            "ack_ms",
            "delivery_ms",
            "outages",
            "problems",
            "finished",
            "responder",
            "clocks",
        ):
            data[key] = data.pop(key)  # after "accepting", as files have always had them
        return data

    @classmethod
    def from_dict(cls, data: object, *, file: str | Path | None = None) -> Self:
        """Read and check a raw file's content; :class:`InputError` names ``file`` and the key."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError("not a chatsim replay measurement file", file=file)
        version = data.get("version")
        if version is not None and read_plain(int, version, file=file, key="version") != VERSION:
            problem = f"version {version!r} is not supported (this chatsim reads version {VERSION})"
            raise InputError(problem, file=file, key="version")
        return read_plain(cls, data, file=file)


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
        raise InputError(
            "the replay wrote no measurements (did Locust start?)", file=path
        ) from None
    except json.JSONDecodeError as error:
        raise InputError(f"invalid JSON: {error.msg}", file=path) from None
    return RawReplay.from_dict(data, file=path)
