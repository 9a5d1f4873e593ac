"""The KPI catalogue: every KPI chatsim measures, what it means and how it is shown.

One entry per KPI, in the order tables show them. Everything that holds a KPI to something (a
target, a tolerance, a baseline), shows it (terminal tables, Markdown, JUnit, the HTML report) or
selects it (per channel or for agents only) reads it here, so that a new KPI or a new rule is
written once. The measurement itself is :func:`sim.kpi.measure`.

A KPI has a :class:`Unit` (which decides how values, spreads and differences are written), a
direction (:attr:`Kpi.better`: whether higher or lower is better, or neither for volumes), and
a scope: conversation KPIs exist per channel, per interval and in total; agent KPIs (occupancy,
slot utilisation) belong to no channel, so they exist in total and in the per-interval rows that
cover every channel.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum


class Unit(Enum):
    """How a KPI's values are written."""

    COUNT = "count"
    """Conversations: ``14,038``."""
    RATE = "rate"
    """A share of conversations or time: ``94.1%``, differences in percentage points."""
    SECONDS = "seconds"
    """A response time: ``32.0 s``."""
    SLOT_SECONDS = "slot_seconds"
    """Chat-slot time, shown in slot-hours: ``3.50 slot-h``."""
    MILLISECONDS = "milliseconds"
    """A wall-clock latency of the gateway or the harness: ``12.3 ms``."""
    HOURS = "hours"
    """Agent time, in agent-hours: ``312.5 h``."""


HIGHER, LOWER, NEITHER = 1, -1, 0
"""Values of :attr:`Kpi.better`."""


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a measurement may be from a prediction: ``value`` absolute (in the KPI's own
    unit, rates as fractions), or a fraction of the predicted value when ``relative``."""

    value: float
    relative: bool = False

    def allowed(self, predicted: float) -> float:
        return self.value * abs(predicted) if self.relative else self.value

    def __str__(self) -> str:
        return f"{100 * self.value:g}%" if self.relative else f"{self.value:g}"


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI: its key in results files, names for people, unit, direction and scope.

    ``tolerance`` is how far a replay may be from the model before ``compare`` fails it (None:
    not compared unless asked); ``compared_per_channel`` says whether that default comparison
    is made per channel too. ``baseline_floor`` is the smallest noise band of a baseline check
    (None: not held to a baseline).
    """

    key: str
    label: str
    """Plain name for tables and reports: ``first response, mean``."""
    short: str
    """Column header of narrow terminal tables: ``FRT mean``."""
    unit: Unit
    better: int = NEITHER
    agents: bool = False
    """Belongs to agents, not to channels: only in the total and the per-interval ``all`` rows."""
    title: str = ""
    """Headline card title in the report (the label, capitalised, when empty)."""
    description: str = ""
    """One line saying what is counted, for people who did not read the definitions."""
    tolerance: Tolerance | None = None
    compared_per_channel: bool = False
    baseline_floor: float | None = None

    @property
    def per_channel(self) -> bool:
        """Whether the KPI exists per channel (every conversation KPI does)."""
        return not self.agents

    @property
    def heading(self) -> str:
        return self.title or self.label[:1].upper() + self.label[1:]

    def meets(self, value: float | None, target: float) -> bool:
        """Whether ``value`` meets ``target`` in this KPI's direction (an undefined value does
        not)."""
        if value is None or math.isnan(value):
            return False
        return value >= target if self.better == HIGHER else value <= target

    def worse_by(self, value: float, reference: float) -> float:
        """How much worse ``value`` is than ``reference``: negative when better, 0 for a KPI
        with no better direction."""
        return (reference - value) * self.better

    # -- how values are written ---------------------------------------------------------------

    def text(self, value: float | None) -> str:
        """A value with its unit: ``94.1%``, ``32.0 s``, ``3.50 slot-h``, ``14,038``; ``–`` when
        undefined."""
        if value is None or not math.isfinite(value):
            return "–"
        if self.unit is Unit.RATE:
            return f"{value * 100:.1f}%"
        if self.unit is Unit.SECONDS:
            return f"{value:.1f} s"
        if self.unit is Unit.MILLISECONDS:
            return f"{value:.1f} ms"
        if self.unit is Unit.HOURS:
            return f"{value:,.1f} h"
        if self.unit is Unit.SLOT_SECONDS:
            hours = value / 3600
            return f"{hours:.2f} slot-h" if abs(hours) < 10 else f"{hours:.1f} slot-h"
        return f"{value:,.0f}" if abs(value) >= 100 or value == round(value) else f"{value:,.1f}"

    def spread(self, half_width: float | None) -> str:
        """A width (a confidence half-width, a tolerance) without a sign: ``0.4 pp``, ``0.6 s``."""
        if half_width is None or not math.isfinite(half_width):
            return "–"
        if self.unit is Unit.RATE:
            return f"{abs(half_width) * 100:.1f} pp"
        return self.text(abs(half_width))

    def delta(self, difference: float | None) -> str:
        """A signed difference in the KPI's unit (rates in percentage points): ``+1.2 pp``."""
        if difference is None or not math.isfinite(difference):
            return "–"
        if difference == 0:
            return "0"
        return ("+" if difference > 0 else "−") + self.spread(abs(difference))

    def with_ci(self, mean: float | None, ci: float | None, *, compact: bool = False) -> str:
        """``94.1% ± 0.4 pp``; compact for narrow tables: ``94.1% ±0.4``."""
        text = self.text(mean)
        if text == "–" or ci is None or not math.isfinite(ci) or (compact and ci == 0):
            return text
        if compact:
            scale = {Unit.RATE: 100.0, Unit.SLOT_SECONDS: 1 / 3600}.get(self.unit, 1.0)
            number = ci * scale
            return f"{text} ±{number:.1f}"
        return f"{text} ± {self.spread(ci)}"


CATALOGUE: tuple[Kpi, ...] = (
    Kpi("offered", "offered to agents", "offered", Unit.COUNT, title="Conversations",
        description="offered to agents (after bots)", tolerance=Tolerance(0.02, relative=True)),
    Kpi("answered", "answered", "answered", Unit.COUNT,
        description="first reply before the customer left"),
    Kpi("missed", "missed", "missed", Unit.COUNT, better=LOWER,
        description="left before the first reply"),
    Kpi("missed_rate", "missed rate", "missed", Unit.RATE, better=LOWER, title="Missed chats",
        description="customers who left before the first reply", tolerance=Tolerance(0.02),
        compared_per_channel=True, baseline_floor=0.002),
    Kpi("service_level", "service level", "SL", Unit.RATE, better=HIGHER,
        description="answered within the channel's first-response target",
        tolerance=Tolerance(0.03), compared_per_channel=True, baseline_floor=0.002),
    Kpi("frt_mean", "first response, mean", "FRT mean", Unit.SECONDS, better=LOWER,
        title="First response", description="mean, answered conversations",
        tolerance=Tolerance(0.10, relative=True), compared_per_channel=True, baseline_floor=0.2),
    Kpi("frt_p50", "first response, median", "FRT p50", Unit.SECONDS, better=LOWER),
    Kpi("frt_p90", "first response, p90", "FRT p90", Unit.SECONDS, better=LOWER,
        tolerance=Tolerance(0.15, relative=True), baseline_floor=0.5),
    Kpi("frt_p95", "first response, p95", "FRT p95", Unit.SECONDS, better=LOWER),
    Kpi("insession_mean", "in-session response, mean", "in-session", Unit.SECONDS, better=LOWER,
        title="In-session response", description="mean reply to messages 2..n",
        tolerance=Tolerance(0.10, relative=True), compared_per_channel=True, baseline_floor=0.2),
    Kpi("insession_p90", "in-session response, p90", "in-session p90", Unit.SECONDS, better=LOWER),
    Kpi("insession_replies", "in-session replies", "replies", Unit.COUNT,
        description="customer messages 2..n answered (the count behind the in-session mean)"),
    Kpi("occupancy", "occupancy", "occupancy", Unit.RATE, agents=True,
        description="agents' hands busy / productive time", tolerance=Tolerance(0.03)),
    Kpi("slot_utilisation", "slot utilisation", "slots", Unit.RATE, agents=True,
        description="active chats / (productive agents x max_chats)", tolerance=Tolerance(0.03)),
    Kpi("paid_hours", "paid agent-hours", "paid h", Unit.HOURS, agents=True,
        description="rostered shifts less unpaid breaks, of the agents who came"),
    Kpi("logged_in_hours", "logged-in agent-hours", "logged-in h", Unit.HOURS, agents=True,
        description="agents logged in, breaks and shrinkage included"),
    Kpi("productive_hours", "productive agent-hours", "productive h", Unit.HOURS, agents=True,
        description="logged in and not away (break, meeting, training)"),
    Kpi("bot_contained", "contained by a bot", "bot", Unit.COUNT,
        description="ended by the bot, never offered"),
    Kpi("wasted_slot_seconds", "wasted slot time", "wasted", Unit.SLOT_SECONDS, better=LOWER,
        description="slots held after a customer silently left"),
    Kpi("max_queue", "longest queue", "max queue", Unit.COUNT, better=LOWER,
        description="most conversations waiting at once"),
)  # fmt: skip
"""Every KPI, in the order tables show them."""

KEYS: tuple[str, ...] = tuple(entry.key for entry in CATALOGUE)
"""Every KPI key, in catalogue order (the keys of every KPI table in a results file)."""

BY_KEY: dict[str, Kpi] = {entry.key: entry for entry in CATALOGUE}
"""The catalogue by key."""


GATEWAY: tuple[Kpi, ...] = tuple(
    Kpi(f"{measure}_{stat}", f"{label}, {stat}", f"{short} {stat}", Unit.MILLISECONDS,
        better=LOWER, description=description)
    for measure, label, short, description in (
        ("ack", "webhook acknowledgement", "ack",
         "wall time from a customer's webhook to the gateway's 2xx"),
        ("delivery", "reply delivery", "delivery",
         "wall time from the gateway accepting an agent's reply to the customer having it"),
        ("lateness", "dispatch lateness", "lateness",
         "wall time the harness sent a conversation after it was due"),
    )
    for stat in ("p50", "p99", "max")
)  # fmt: skip
"""What a replay measures of the gateway itself, in wall milliseconds (its ``validity`` block,
``<key>_ms``), not KPIs of the contact centre: ``ack_p99``, ``delivery_p50``, ``lateness_max``...
Each is measured in total and per channel (``validity.channels``)."""

GATEWAY_BY_KEY: dict[str, Kpi] = {entry.key: entry for entry in GATEWAY}


def kpi(key: str) -> Kpi:
    """The catalogue entry of ``key`` (a KPI or a :data:`GATEWAY` measure); a KPI chatsim does
    not know gets a plain count entry, so that a foreign results file can still be shown."""
    found = BY_KEY.get(key) or GATEWAY_BY_KEY.get(key)
    return found if found is not None else Kpi(key, key.replace("_", " "), key, Unit.COUNT)


def compared() -> Iterator[Kpi]:
    """KPIs that ``compare`` holds to a tolerance by default."""
    return (k for k in CATALOGUE if k.tolerance is not None)


def held_to_baseline() -> Iterator[Kpi]:
    """KPIs that ``check`` holds to a baseline."""
    return (k for k in CATALOGUE if k.baseline_floor is not None)


# Views: which KPIs each table shows, in which order (their meaning stays in the entries above).

SUMMARY = (
    "offered",
    "service_level",
    "missed_rate",
    "frt_mean",
    "frt_p90",
    "insession_mean",
    "bot_contained",
    "max_queue",
)
"""Columns of the terminal summary of a run, per channel and in total."""

HEADLINE = (
    "service_level",
    "missed_rate",
    "frt_mean",
    "insession_mean",
    "occupancy",
    "offered",
    "wasted_slot_seconds",
)
"""Cards at the top of the report."""

CHANNEL_TABLE = (
    "offered",
    "bot_contained",
    "service_level",
    "missed_rate",
    "frt_mean",
    "frt_p90",
    "insession_mean",
    "wasted_slot_seconds",
    "max_queue",
)
"""Columns of the report's per-channel table."""

DIFFERENCES = (
    "offered",
    "answered",
    "missed_rate",
    "service_level",
    "frt_mean",
    "frt_p90",
    "insession_mean",
    "occupancy",
    "slot_utilisation",
    "bot_contained",
    "wasted_slot_seconds",
    "max_queue",
)
"""Rows of the report's table of predicted versus measured."""

AGENT_HOURS = ("paid_hours", "logged_in_hours", "productive_hours")
"""Agent time from rostered to productive: the gaps are unpaid breaks and absence (paid to
logged in: paid breaks and drains), breaks and shrinkage (logged in to productive)."""

CHANNEL_BARS = ("service_level", "missed_rate", "frt_mean", "insession_mean")
"""Panels of the report's predicted-versus-measured bars per channel."""
