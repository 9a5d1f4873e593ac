"""Thresholds: pass/fail criteria on a replay's results, in the spirit of k6's thresholds.

A threshold is ``NAME<VALUE`` (or ``<=``, ``>``, ``>=``), optionally for one channel,
``NAME[CHANNEL]<VALUE``. ``NAME`` is any KPI of the results file (``frt_mean<40s``,
``missed_rate<3%``, ``service_level>=90%``) or a measure of the gateway itself from the replay's
``validity`` block (:data:`sim.catalogue.GATEWAY`: ``ack_p99<50ms``, ``delivery_p99<250ms``,
``lateness_p99<20ms``). The value's unit must suit the KPI: ``ms`` or ``s`` for times (a plain
number is the KPI's own unit: seconds for response times, milliseconds for the gateway), ``%``
or a fraction up to 1 for rates, a plain number for counts.

Each threshold becomes a :class:`~sim.verdict.Check` of kind ``threshold``: the limit is its
``expected``, the measured value its ``actual``. An undefined value (no conversation answered,
no reply delivered) fails: a threshold on nothing proves nothing.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sim.catalogue import BY_KEY, GATEWAY_BY_KEY, Kpi, Unit
from sim.results import Results
from sim.verdict import Check

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_SYNTAX = re.compile(
    r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\[\s*(?P<channel>[^\]]*?)\s*\])?\s*"
    r"(?P<op><=|>=|<|>)\s*(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*"
    r"(?P<unit>ms|s|%)?\s*$"
)


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed threshold; ``limit`` is in the KPI's own unit (seconds, a fraction, ms)."""

    kpi: str
    operator: str
    limit: float
    channel: str | None = None
    text: str = ""
    """As the user wrote it."""

    @property
    def scope(self) -> str:
        return self.channel or "total"

    @property
    def entry(self) -> Kpi:
        return BY_KEY.get(self.kpi) or GATEWAY_BY_KEY[self.kpi]

    def holds(self, value: float | None) -> bool:
        """Whether ``value`` meets the threshold (an undefined value does not)."""
        if value is None or math.isnan(value):
            return False
        return OPERATORS[self.operator](value, self.limit)


def parse_threshold(text: str, channels: Collection[str] | None = None) -> Threshold:
    """``ack_p99<50ms``, ``missed_rate[webchat]<=3%``...; raises ``ValueError`` saying what is
    wrong. With ``channels``, a channel must be one of them."""
    match = _SYNTAX.match(text)
    if match is None:
        raise ValueError(
            f"expected NAME<VALUE (or NAME[CHANNEL]<VALUE; operators <, <=, >, >=; units ms, s, "
            f"%), got {text!r}"
        )
    name, channel = match["name"], match["channel"]
    entry = BY_KEY.get(name) or GATEWAY_BY_KEY.get(name)
    if entry is None:
        known = ", ".join([*BY_KEY, *GATEWAY_BY_KEY])
        raise ValueError(f"{text!r}: unknown KPI {name!r} (one of {known})")
    if channel is not None:
        if not channel:
            raise ValueError(f"{text!r}: empty channel in []")
        if not entry.per_channel:
            raise ValueError(f"{text!r}: {name} is measured in total only, not per channel")
        if channels is not None and channel not in channels:
            raise ValueError(
                f"{text!r}: unknown channel {channel!r} (one of {', '.join(sorted(channels))})"
            )
    limit = _in_unit(entry, float(match["value"]), match["unit"], text)
    return Threshold(name, match["op"], limit, channel, text.strip())


def _in_unit(entry: Kpi, value: float, unit: str | None, text: str) -> float:
    """``value`` written with ``unit`` in ``entry``'s own unit."""
    if not math.isfinite(value):
        raise ValueError(f"{text!r}: {value} is not a finite number")
    times = {Unit.SECONDS: {"s": 1.0, "ms": 0.001}, Unit.MILLISECONDS: {"s": 1000.0, "ms": 1.0}}
    if entry.unit in times:
        if unit == "%":
            raise ValueError(f"{text!r}: {entry.key} is a time: write ms or s, not %")
        return value * times[entry.unit].get(unit or "", 1.0)
    if entry.unit is Unit.RATE:
        if unit in ("ms", "s"):
            raise ValueError(f"{text!r}: {entry.key} is a rate: write a percentage such as 3%")
        if unit is None and abs(value) > 1:
            raise ValueError(
                f"{text!r}: {entry.key} is a rate: write {value:g}% or {value / 100:g}"
            )
        return value / 100 if unit == "%" else value
    if unit is not None and not (entry.unit is Unit.SLOT_SECONDS and unit == "s"):
        raise ValueError(f"{text!r}: {entry.key} is a {entry.unit.value}: write a plain number")
    return value


def measured(results: Results, kpi: str, channel: str | None = None) -> float | None:
    """The value of ``kpi`` in total or in ``channel``: a KPI's mean, or a gateway measure of
    the ``validity`` block (None when the results have none)."""
    if kpi in BY_KEY:
        if channel is not None and channel not in results.channels:
            return None
        return results.mean(kpi, channel)
    validity = results.extra.get("validity")
    if not isinstance(validity, dict):
        return None
    if channel is not None:
        validity = (validity.get("channels") or {}).get(channel)
        if not isinstance(validity, dict):
            return None
    value = validity.get(f"{kpi}_ms")
    return float(value) if isinstance(value, int | float) else None


def judge_thresholds(results: Results, thresholds: Collection[Threshold]) -> list[Check]:
    """One check of kind ``threshold`` per threshold, in the order given."""
    checks = []
    for threshold in thresholds:
        entry = threshold.entry
        actual = measured(results, threshold.kpi, threshold.channel)
        passed = threshold.holds(actual)
        bound = f"{threshold.operator} {entry.text(threshold.limit)}"
        detail = (
            f"{threshold.kpi} is undefined (nothing measured), required {bound}"
            if actual is None
            else f"{threshold.kpi} {entry.text(actual)}, required {bound}"
        )
        checks.append(
            Check(
                kind="threshold",
                scope=threshold.scope,
                kpi=threshold.kpi,
                expected=threshold.limit,
                actual=actual,
                allowed=None,
                passed=passed,
                detail=detail,
                operator=threshold.operator,
            )
        )
    return checks
