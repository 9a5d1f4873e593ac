"""Duration and count distributions (sim.distributions): moments, support and validation.

Statistical tests draw n = 200,000 samples from ``np.random.default_rng(seed)`` with fixed
seeds, so they are deterministic; the tolerances are chosen so that a correct implementation
passes for (almost) any seed, while a wrong parameterisation fails by a wide margin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from sim.distributions import Count, Duration

N = 200_000
DURATION = TypeAdapter(Duration)
COUNT = TypeAdapter(Count)


def duration(**spec: Any) -> Any:
    return DURATION.validate_python(spec)


def count(**spec: Any) -> Any:
    return COUNT.validate_python(spec)


def assert_mean_within_4_se(sample: np.ndarray, mean: float, sd: float) -> None:
    # 4 standard errors: a correct sampler fails with probability ~6e-5 per test.
    se = sd / math.sqrt(len(sample))
    assert abs(sample.mean() - mean) <= 4 * se, (sample.mean(), mean, se)


# (spec, theoretical mean, theoretical standard deviation)
DURATION_CASES: list[tuple[dict[str, Any], float, float]] = [
    ({"dist": "exponential", "mean": "3m"}, 180.0, 180.0),
    ({"dist": "exponential", "mean": 7.5}, 7.5, 7.5),
    ({"dist": "uniform", "low": "30s", "high": "90s"}, 60.0, 60.0 / math.sqrt(12)),
    ({"dist": "uniform", "low": 0, "high": 10}, 5.0, 10.0 / math.sqrt(12)),
    ({"dist": "lognormal", "mean": "40s", "cv": 1.0}, 40.0, 40.0),
    ({"dist": "lognormal", "mean": 25, "cv": 0.5}, 25.0, 12.5),
    ({"dist": "gamma", "mean": "25s", "cv": 0.8}, 25.0, 20.0),
    ({"dist": "gamma", "mean": 60, "cv": 2.0}, 60.0, 120.0),
    (
        {"dist": "empirical", "values": ["10s", "1m", 90, "2m"]},
        (10 + 60 + 90 + 120) / 4,
        float(np.std([10, 60, 90, 120])),
    ),
]


@pytest.mark.parametrize(("spec", "mean", "sd"), DURATION_CASES, ids=lambda v: str(v))
def test_duration_sample_mean(spec: dict[str, Any], mean: float, sd: float) -> None:
    dist = duration(**spec)
    assert dist.mean_value == pytest.approx(mean)
    sample = dist.sample(np.random.default_rng(20240501), N)
    assert sample.shape == (N,)
    assert (sample >= 0).all()
    assert_mean_within_4_se(sample, mean, sd)


def test_constant_is_exact() -> None:
    dist = duration(dist="constant", value="2m")
    sample = dist.sample(np.random.default_rng(1), N)
    assert dist.mean_value == 120.0
    assert (sample == 120.0).all()


def test_uniform_support() -> None:
    sample = duration(dist="uniform", low="30s", high="90s").sample(np.random.default_rng(2), N)
    assert sample.min() >= 30.0
    assert sample.max() <= 90.0


def test_empirical_only_resamples_given_values() -> None:
    sample = duration(dist="empirical", values=["10s", "1m", 90]).sample(
        np.random.default_rng(3), N
    )
    assert set(np.unique(sample).tolist()) == {10.0, 60.0, 90.0}


@pytest.mark.parametrize(
    ("dist", "mean", "cv"),
    [
        ("lognormal", 40.0, 1.0),
        ("lognormal", 25.0, 0.5),
        ("gamma", 25.0, 0.8),
        ("gamma", 60.0, 2.0),
    ],
)
def test_sample_cv_matches_requested_cv(dist: str, mean: float, cv: float) -> None:
    sample = duration(dist=dist, mean=mean, cv=cv).sample(np.random.default_rng(77), N)
    sample_cv = sample.std(ddof=1) / sample.mean()
    # Bound 3% relative: over 40 seeds the sample cv at n=200k had a relative standard
    # deviation of at most 0.5% (lognormal cv=1, the heaviest tail here), so 3% is ~6 sd; a
    # wrong conversion (e.g. sigma = cv for the lognormal, or scale = mean for the gamma)
    # is off by 30% or more.
    assert abs(sample_cv / cv - 1) <= 0.03, sample_cv


def test_lognormal_is_skewed_not_normal() -> None:
    # The median of a lognormal with cv=1 is mean / sqrt(2); a normal's would be the mean.
    sample = duration(dist="lognormal", mean=40.0, cv=1.0).sample(np.random.default_rng(5), N)
    assert (sample > 0).all()
    # Median SE ~ 0.1 s here; 1.0 s is a generous bound that still rejects 40.
    assert abs(np.median(sample) - 40.0 / math.sqrt(2)) < 1.0


# (spec, theoretical mean, theoretical standard deviation)
COUNT_CASES: list[tuple[dict[str, Any], float, float]] = [
    ({"dist": "geometric", "mean": 2.5}, 2.5, math.sqrt(1 - 1 / 2.5) * 2.5),
    ({"dist": "geometric", "mean": 5}, 5.0, math.sqrt(1 - 1 / 5) * 5),
    ({"dist": "poisson", "mean": 2}, 2.0, 1.0),
    ({"dist": "poisson", "mean": 3.5}, 3.5, math.sqrt(2.5)),
    ({"dist": "empirical", "values": [1, 2, 2, 7]}, 3.0, float(np.std([1, 2, 2, 7]))),
]


@pytest.mark.parametrize(("spec", "mean", "sd"), COUNT_CASES, ids=lambda v: str(v))
def test_count_sample_mean_and_support(spec: dict[str, Any], mean: float, sd: float) -> None:
    dist = count(**spec)
    assert dist.mean_value == pytest.approx(mean)
    sample = dist.sample(np.random.default_rng(99), N)
    assert sample.shape == (N,)
    assert sample.dtype.kind in "iu"
    assert sample.min() >= 1
    assert_mean_within_4_se(sample, mean, sd)


def test_constant_count() -> None:
    sample = count(dist="constant", value=3).sample(np.random.default_rng(1), 1000)
    assert sample.dtype.kind in "iu"
    assert (sample == 3).all()


@pytest.mark.parametrize("mean", [1.5, 3.5, 6.0])
def test_poisson_is_shifted_to_min_one_with_mean_m(mean: float) -> None:
    sample = count(dist="poisson", mean=mean).sample(np.random.default_rng(11), N)
    lam = mean - 1
    # 1 is the minimum and it is reached (P(X=1) = exp(-lam) >= 0.7% here, ~1,300 of 200k).
    assert sample.min() == 1
    assert_mean_within_4_se(sample, mean, math.sqrt(lam))
    # The variance is that of Poisson(mean - 1), not Poisson(mean). Var of the sample variance
    # is (mu4 - sigma^4)/n with mu4 = lam(1 + 3 lam); allow 4 of its standard errors.
    se_var = math.sqrt((lam * (1 + 3 * lam) - lam**2) / N)
    assert abs(sample.var(ddof=1) - lam) <= 4 * se_var


def test_poisson_mean_one_is_always_one() -> None:
    assert (count(dist="poisson", mean=1).sample(np.random.default_rng(0), 1000) == 1).all()


def test_geometric_mean_one_is_always_one() -> None:
    assert (count(dist="geometric", mean=1).sample(np.random.default_rng(0), 1000) == 1).all()


def test_samples_use_only_the_given_generator() -> None:
    dist = duration(dist="lognormal", mean=40, cv=1)
    a = dist.sample(np.random.default_rng(8), 100)
    np.random.seed(12345)  # global state must not matter
    b = dist.sample(np.random.default_rng(8), 100)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, dist.sample(np.random.default_rng(9), 100))


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "exponential", "mean": -1},
        {"dist": "exponential", "mean": "-3m"},
        {"dist": "exponential", "mean": 0},
        {"dist": "lognormal", "mean": -5, "cv": 1},
        {"dist": "gamma", "mean": "-1s", "cv": 1},
        {"dist": "lognormal", "mean": 5, "cv": 0},
        {"dist": "lognormal", "mean": 5, "cv": -0.5},
        {"dist": "gamma", "mean": 5, "cv": 10.01},
        {"dist": "gamma", "mean": 5, "cv": 0},
        {"dist": "lognormal", "mean": 5, "cv": 11},
        {"dist": "uniform", "low": "2m", "high": "1m"},
        {"dist": "uniform", "low": -1, "high": 1},
        {"dist": "constant", "value": -1},
        {"dist": "empirical", "values": []},
        {"dist": "empirical", "values": [1, -2]},
        {"dist": "weibull", "mean": 5},
        {"mean": 5},
        {"dist": "exponential", "mean": 5, "cv": 1},  # unknown key
        {"dist": "exponential"},  # missing mean
    ],
    ids=str,
)
def test_invalid_duration_distributions(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        duration(**spec)


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "geometric", "mean": 0.5},
        {"dist": "geometric", "mean": 0},
        {"dist": "poisson", "mean": 0.9},
        {"dist": "constant", "value": 0},
        {"dist": "empirical", "values": []},
        {"dist": "empirical", "values": [1, 0]},
        {"dist": "lognormal", "mean": 3, "cv": 1},  # not a count distribution
    ],
    ids=str,
)
def test_invalid_count_distributions(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        count(**spec)


def test_cv_limits_are_inclusive_at_ten() -> None:
    assert duration(dist="gamma", mean=5, cv=10).cv == 10
    assert duration(dist="lognormal", mean=5, cv=0.01).cv == 0.01
