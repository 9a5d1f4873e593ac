"""Evidence over replications: the ratio estimate and its standard error, and z against targets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.evidence import Z_95, estimate


def scope(offered: float, on_time: float) -> dict[str, float | None]:
    return {"offered": offered, "service_level": on_time / offered if offered else None}


def test_the_ratio_of_sums_and_its_error_over_replications():
    scopes = [scope(100, 90), scope(50, 40), scope(150, 140)]
    found = estimate("service_level", scopes)
    assert found.value == pytest.approx(270 / 300) and found.count == 300
    x, y = np.array([90, 40, 140.0]), np.array([100, 50, 150.0])
    expected = math.sqrt(((x - 0.9 * y) ** 2).sum() / (3 * 2)) / 100.0
    assert found.se == pytest.approx(expected)


def test_the_error_matches_a_binomial_when_replications_are_independent_draws():
    """Replications of independent Bernoulli(0.9) conversations: the delta-method error agrees
    with the binomial one, sqrt(p(1-p)/N), within 15% (400 replications of 50 conversations:
    the error of an error estimate is about 1/sqrt(2 x 400) = 3.5%, so 15% is four of those)."""
    rng = np.random.default_rng(7)
    scopes = [scope(50, float(rng.binomial(50, 0.9))) for _ in range(400)]
    found = estimate("service_level", scopes)
    binomial = math.sqrt(0.9 * 0.1 / (50 * 400))
    assert found.se == pytest.approx(binomial, rel=0.15)


def test_z_is_positive_on_the_good_side():
    good = estimate("service_level", [scope(100, 95), scope(100, 93)])
    assert good.z(0.8) > Z_95 and good.meets(0.8) and not good.short(0.8)
    missed = estimate(
        "missed_rate",
        [{"offered": 100, "missed_rate": 0.10}, {"offered": 100, "missed_rate": 0.12}],
    )
    assert missed.z(0.05) < 0 and missed.short(0.05)
    assert estimate("frt_mean", [{"answered": 0, "frt_mean": None}]).z(30) == math.inf  # no data
    exact = estimate("service_level", [scope(10, 10), scope(20, 20)])
    assert exact.se == 0 and exact.z(0.9) == math.inf and exact.z(1.0) >= 0


def test_one_replication_with_data_is_no_evidence():
    """A scope that only one replication ever saw (one late chat at night) cannot show a miss
    or a surplus: its spread is unknown."""
    lonely = estimate("service_level", [scope(1, 0), {"offered": 0, "service_level": None}])
    assert lonely.value == 0.0 and math.isinf(lonely.se)
    assert lonely.z(0.8) == 0 and not lonely.short(0.8) and lonely.meets(0.8)
