"""Evidence: how sure the model's replications are that a scope meets a target.

A target KPI of a scope (a day, an interval, a channel) is a ratio over conversations: service
level is on-time over offered, missed rate missed over offered, a mean response time the sum of
responses over their count. Over ``R`` replications (each drawn from its own streams) the
estimate is the ratio of sums, and its standard error comes from how the replications scatter
around it (the delta method for a ratio estimator)::

    p = sum(x_r) / sum(y_r)        se^2 = sum((x_r - p y_r)^2) / (R (R - 1) mean(y)^2)

This is robust to conversations within a replication being correlated (they share agents and
queues), which a binomial error over conversations would ignore. ``z`` is the margin in standard
errors, positive on the good side of the target: a decision "short" or "over" is backed when
``|z|`` clears the one-sided 95% quantile, 1.645; between those the replications cannot tell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.catalogue import BY_KEY, HIGHER
from sim.kpi import KpiValues

Z_95 = 1.6448536269514722
"""One-sided 95% quantile of the standard normal: the evidence a planning decision asks for."""

#: Each target KPI as numerator and denominator, both recoverable from measured KPI values.
_PARTS = {
    "service_level": ("service_level", "offered"),
    "missed_rate": ("missed_rate", "offered"),
    "frt_mean": ("frt_mean", "answered"),
    "insession_mean": ("insession_mean", "insession_replies"),
}


def parts(kpi: str, values: KpiValues) -> tuple[float, float]:
    """``(numerator, denominator)`` of a target KPI in one measured scope (0, 0 when empty)."""
    rate_key, count_key = _PARTS[kpi]
    count = values.get(count_key) or 0.0
    rate = values.get(rate_key)
    return (0.0, 0.0) if not count or rate is None else (rate * count, count)


@dataclass(frozen=True, slots=True)
class Estimate:
    """A target KPI over replications: ratio estimate, its standard error and how much data."""

    kpi: str
    value: float | None
    se: float
    count: float
    """Conversations (or replies) behind it, over all replications."""

    def z(self, target: float) -> float:
        """Margin to ``target`` in standard errors, positive when the estimate meets it (the
        estimate meets its target exactly: ``+0``; no data: ``+inf``, nothing to serve; data from
        a single replication: ``0``, no evidence either way)."""
        if self.value is None:
            return math.inf
        margin = (self.value - target) * (1 if BY_KEY[self.kpi].better == HIGHER else -1)
        if math.isinf(self.se):
            return 0.0  # no evidence either way: neither short nor over
        if self.se > 0:
            return margin / self.se
        return math.inf if margin >= 0 else -math.inf

    def meets(self, target: float) -> bool:
        return self.z(target) >= 0

    def short(self, target: float, z: float = Z_95) -> bool:
        """Whether the replications show, at one-sided 95%, that the target is missed."""
        return self.z(target) < -z


def estimate(kpi: str, scopes: Sequence[KpiValues]) -> Estimate:
    """The ratio estimate of ``kpi`` over the same scope measured in each replication."""
    pairs = np.array([parts(kpi, values) for values in scopes], dtype=float).reshape(-1, 2)
    x, y = pairs[:, 0], pairs[:, 1]
    total = float(y.sum())
    if total <= 0:
        return Estimate(kpi, None, 0.0, 0.0)
    value = float(x.sum()) / total
    r = len(scopes)
    if r < 2 or int((y > 0).sum()) < 2:  # one replication's data says nothing of the spread
        return Estimate(kpi, value, math.inf, total)
    mean_y = total / r
    se = math.sqrt(float(((x - value * y) ** 2).sum()) / (r * (r - 1))) / mean_y
    return Estimate(kpi, value, se, total)
