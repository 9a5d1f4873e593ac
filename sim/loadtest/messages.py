"""The messages between the replay's master and its workers.

Locust's ``send_message`` carries plain data, so each message is a dataclass with ``to_dict``
and ``from_dict`` (:class:`~sim.loadtest.raw.Plain`, read with pydantic); :attr:`kind` is the
Locust message type it travels as, and where the key path of a malformed one's error starts. In
start-up order:

- worker -> master :class:`Ready`: its handlers are registered (Locust connects a worker before
  its ``init`` event fires, so a message sent to it straight away can arrive before the handler);
- master -> each ready worker, a few times :class:`ClockProbe`, worker -> master
  :class:`ClockReading`: the worker's wall clock against the master's (:class:`ClockOffset`);
- master -> each ready worker :class:`Plan`: which run starts (:mod:`sim.loadtest.runs`), when
  its scenario time 0 is, how many workers share the trace and when the run must end; sent at
  each test start, or on ``ready`` when that comes later;
- master -> owning worker :class:`Reply`: an outbound message the provider emulator received;
- master -> each worker :class:`Halt`: end the run now (its gateway is down or died): stop the
  customers and report what they saw so far;
- worker -> master :class:`Left`: a messenger customer gave up silently;
- worker -> master :class:`Records`: its customers' records and problems, once all its
  conversations of the run have ended.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Self

from sim.loadtest.emulator import Outbound
from sim.loadtest.raw import CustomerRecord, Plain, read_plain


class _Message(Plain):
    __slots__ = ()

    kind: ClassVar[str]

    @classmethod
    def from_dict(cls, data: object) -> Self:
        return read_plain(cls, data, key=cls.kind)


@dataclass(frozen=True, slots=True)
class Ready(_Message):
    """A worker can now be sent the plan."""

    kind: ClassVar[str] = "ready"


@dataclass(frozen=True, slots=True)
class ClockProbe(_Message):
    """The master asks a worker for its wall time (``sent``: the master's, as it asked)."""

    kind: ClassVar[str] = "clock-probe"

    sent: float


@dataclass(frozen=True, slots=True)
class ClockReading(_Message):
    """A worker's answer to a :class:`ClockProbe`: its wall time as the probe arrived."""

    kind: ClassVar[str] = "clock-reading"

    sent: float
    clock: float


@dataclass(frozen=True, slots=True)
class Plan(_Message):
    """What every worker needs to start dispatching."""

    kind: ClassVar[str] = "plan"

    t0: float
    """Wall time of scenario time 0."""
    workers: int
    """How many workers share the trace (conversation ``i`` belongs to ``i mod workers``)."""
    run: int
    """Which run of this Locust process starts (the web UI's "New" starts the next)."""
    deadline: float
    """Wall time at which the run ends, finished or not (its safety limit)."""


@dataclass(frozen=True, slots=True)
class Reply(_Message):
    """An agent's message for a customer this worker plays."""

    kind: ClassVar[str] = "reply"

    message: Outbound

    def to_dict(self) -> dict[str, Any]:
        return asdict(self.message)

    @classmethod
    def from_dict(cls, data: object) -> Self:
        return cls(read_plain(Outbound, data, key=cls.kind))


@dataclass(frozen=True, slots=True)
class Halt(_Message):
    """End run ``run`` now: its customers stop, and the worker reports what they saw."""

    kind: ClassVar[str] = "halt"

    run: int


@dataclass(frozen=True, slots=True)
class Left(_Message):
    """The messenger customer with this key gave up without telling the gateway."""

    kind: ClassVar[str] = "left"

    key: str


@dataclass(frozen=True, slots=True)
class Records(_Message):
    """A worker's report at its end: what its customers saw, and what went wrong."""

    kind: ClassVar[str] = "records"

    customers: list[CustomerRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    run: int = 1
    """The run the records are of (a late report of an earlier run is dropped)."""


ToMaster = Ready | ClockReading | Left | Records
"""What a worker sends."""

ToWorker = Plan | Reply | Halt
"""What the master sends."""
