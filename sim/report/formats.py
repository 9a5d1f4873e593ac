"""How KPI values are written in the report's cards and tables."""

from __future__ import annotations

import math

RATES = frozenset({"missed_rate", "service_level", "occupancy", "slot_utilisation"})
SECONDS = frozenset({"frt_mean", "frt_p50", "frt_p90", "frt_p95", "insession_mean", "insession_p90"})

#: Plain names of the KPIs, for table rows.
NAMES: dict[str, str] = {
    "offered": "offered to agents",
    "answered": "answered",
    "missed": "missed",
    "missed_rate": "missed rate",
    "service_level": "service level",
    "frt_mean": "first response, mean",
    "frt_p50": "first response, median",
    "frt_p90": "first response, p90",
    "frt_p95": "first response, p95",
    "insession_mean": "in-session response, mean",
    "insession_p90": "in-session response, p90",
    "occupancy": "occupancy",
    "slot_utilisation": "slot utilisation",
    "bot_contained": "contained by a bot",
    "wasted_slot_seconds": "wasted slot time",
    "max_queue": "longest queue",
}


def name(kpi: str) -> str:
    """The plain name of a KPI (its key with spaces if the report does not know it)."""
    return NAMES.get(kpi, kpi.replace("_", " "))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def magnitude(kpi: str, value: float) -> str:
    """A KPI value with its unit: ``94.1%``, ``32.2 s``, ``3.5 slot-h``, ``14,040``."""
    if kpi in RATES:
        return f"{value * 100:.1f}%"
    if kpi in SECONDS:
        return f"{value:.1f} s"
    if kpi == "wasted_slot_seconds":
        hours = value / 3600
        return f"{hours:.2f} slot-h" if abs(hours) < 10 else f"{hours:.1f} slot-h"
    return f"{value:,.0f}" if abs(value) >= 100 or value == round(value) else f"{value:,.1f}"


def spread(kpi: str, half_width: float) -> str:
    """A ci95 half-width in the KPI's unit, without a sign: ``0.4 pp``, ``0.6 s``."""
    if kpi in RATES:
        return f"{half_width * 100:.1f} pp"
    return magnitude(kpi, half_width)


def with_ci(kpi: str, mean: float | None, ci: float | None) -> str:
    """``94.1% ± 0.4 pp``; ``–`` when the KPI is undefined."""
    if not _finite(mean):
        return "–"
    assert mean is not None
    text = magnitude(kpi, mean)
    if _finite(ci) and ci is not None:
        text += f" ± {spread(kpi, ci)}"
    return text


def difference(kpi: str, diff: float) -> str:
    """A signed difference in the KPI's unit (rates in percentage points)."""
    if diff == 0:
        return "0"
    sign = "+" if diff > 0 else "−"
    return sign + spread(kpi, abs(diff))
