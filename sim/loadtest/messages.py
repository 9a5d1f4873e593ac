"""The messages between the replay's master and its workers.

Locust's ``send_message`` carries plain data, so each message is a dataclass with ``to_dict``
and ``from_dict``; :attr:`kind` is the Locust message type it travels as. In start-up order:

- worker -> master :class:`Ready`: its handlers are registered (Locust connects a worker before
  its ``init`` event fires, so a message sent to it straight away can arrive before the handler);
- master -> each ready worker :class:`Plan`: when scenario time 0 is and how many workers share
  the trace; sent at test start, or on ``ready`` when that comes later;
- master -> owning worker :class:`Reply`: an outbound message the provider emulator received;
- worker -> master :class:`Left`: a messenger customer gave up silently;
- worker -> master :class:`Records`: its customers' records, acknowledgement latencies and
  problems, once all its conversations have ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from sim.loadtest.emulator import Outbound
from sim.loadtest.plain import Plain
from sim.loadtest.raw import CustomerRecord


@dataclass(frozen=True, slots=True)
class Ready:
    """A worker can now be sent the plan."""

    kind: ClassVar[str] = "ready"

    def to_dict(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_dict(cls, data: object) -> Ready:
        return cls()


@dataclass(frozen=True, slots=True)
class Plan:
    """What every worker needs to start dispatching."""

    kind: ClassVar[str] = "plan"

    t0: float
    """Wall time of scenario time 0."""
    workers: int
    """How many workers share the trace (conversation ``i`` belongs to ``i mod workers``)."""

    def to_dict(self) -> dict[str, Any]:
        return {"t0": self.t0, "workers": self.workers}

    @classmethod
    def from_dict(cls, data: object) -> Plan:
        plain = Plain.of(data, key=cls.kind)
        return cls(plain["t0"].number(), plain["workers"].integer())


@dataclass(frozen=True, slots=True)
class Reply:
    """An agent's message for a customer this worker plays."""

    kind: ClassVar[str] = "reply"

    message: Outbound

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.message.key, "text": self.message.text, "received": self.message.received}

    @classmethod
    def from_dict(cls, data: object) -> Reply:
        plain = Plain.of(data, key=cls.kind)
        return cls(Outbound(plain["key"].text(), plain["text"].text(), plain["received"].number()))


@dataclass(frozen=True, slots=True)
class Left:
    """The messenger customer with this key gave up without telling the gateway."""

    kind: ClassVar[str] = "left"

    key: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key}

    @classmethod
    def from_dict(cls, data: object) -> Left:
        return cls(Plain.of(data, key=cls.kind)["key"].text())


@dataclass(frozen=True, slots=True)
class Records:
    """A worker's report at its end: what its customers saw, and what went wrong."""

    kind: ClassVar[str] = "records"

    customers: list[CustomerRecord] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    """The gateway's acknowledgement latency of every webhook, wall seconds."""
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"customers": [c.to_dict() for c in self.customers], "acks": self.acks, "problems": self.problems}

    @classmethod
    def from_dict(cls, data: object) -> Records:
        plain = Plain.of(data, key=cls.kind)
        return cls(
            [CustomerRecord.from_dict(c) for c in plain["customers"].items()],
            [a.number() for a in plain["acks"].items()],
            [p.text() for p in plain["problems"].items()],
        )


ToMaster = Ready | Left | Records
"""What a worker sends."""

ToWorker = Plan | Reply
"""What the master sends."""
