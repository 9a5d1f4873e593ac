"""Probability distributions of a scenario: durations and counts.

Each distribution is a small pydantic model tagged by ``dist`` so that scenario files can say
``{dist: lognormal, mean: 40s, cv: 1.0}``. Durations accept units (see :mod:`sim.durations`).
Sampling is vectorised: ``sample(rng, n)`` draws ``n`` values from an explicit numpy
``Generator``, never from global state.

Parameterisation by mean and coefficient of variation (cv = standard deviation / mean) is what
workforce planners measure; the conversions to numpy's native parameters live here only.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from sim.durations import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration)]
"""A duration in seconds, written as a number or a string with a unit."""

CV = Annotated[float, Field(gt=0, le=10, description="coefficient of variation, in (0, 10]")]


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @property
    def mean_value(self) -> float:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError


class Constant(_Dist):
    """Always ``value``."""

    dist: Literal["constant"]
    value: Seconds

    @property
    def mean_value(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value, dtype=float)


class Exponential(_Dist):
    """Memoryless, cv = 1: the classic patience and service law of Erlang C and A."""

    dist: Literal["exponential"]
    mean: Annotated[Seconds, Field(gt=0)]

    @property
    def mean_value(self) -> float:
        return self.mean

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean, size)


class Uniform(_Dist):
    """Uniform between ``low`` and ``high``."""

    dist: Literal["uniform"]
    low: Seconds
    high: Seconds

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high:g}s) must not be below low ({self.low:g}s)")
        return self

    @property
    def mean_value(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)


class Lognormal(_Dist):
    """Log-normal with the given mean and cv: right-skewed, typical of handle times."""

    dist: Literal["lognormal"]
    mean: Annotated[Seconds, Field(gt=0)]
    cv: CV

    @property
    def mean_value(self) -> float:
        return self.mean

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        sigma2 = math.log1p(self.cv**2)
        return rng.lognormal(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2), size)


class Gamma(_Dist):
    """Gamma with the given mean and cv (shape 1/cv², scale mean·cv²)."""

    dist: Literal["gamma"]
    mean: Annotated[Seconds, Field(gt=0)]
    cv: CV

    @property
    def mean_value(self) -> float:
        return self.mean

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.gamma(1.0 / self.cv**2, self.mean * self.cv**2, size)


class Empirical(_Dist):
    """Resamples the observed ``values`` with equal weight."""

    dist: Literal["empirical"]
    values: Annotated[list[Seconds], Field(min_length=1)]

    @property
    def mean_value(self) -> float:
        return sum(self.values) / len(self.values)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values, dtype=float), size)


Duration = Annotated[
    Constant | Exponential | Uniform | Lognormal | Gamma | Empirical,
    Field(discriminator="dist"),
]
"""Any duration distribution, chosen by its ``dist`` key."""


class ConstantCount(_Dist):
    """Always ``value`` (at least 1)."""

    dist: Literal["constant"]
    value: Annotated[int, Field(ge=1)]

    @property
    def mean_value(self) -> float:
        return float(self.value)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value, dtype=np.int64)


class Geometric(_Dist):
    """Number of trials to the first success, support 1, 2, …; ``p = 1/mean``."""

    dist: Literal["geometric"]
    mean: Annotated[float, Field(ge=1)]

    @property
    def mean_value(self) -> float:
        return self.mean

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.geometric(1.0 / self.mean, size).astype(np.int64)


class Poisson(_Dist):
    """``1 + Poisson(mean - 1)``: Poisson shifted so that the minimum is 1, mean as given."""

    dist: Literal["poisson"]
    mean: Annotated[float, Field(ge=1)]

    @property
    def mean_value(self) -> float:
        return self.mean

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return 1 + rng.poisson(self.mean - 1.0, size).astype(np.int64)


class EmpiricalCount(_Dist):
    """Resamples the observed counts (each at least 1) with equal weight."""

    dist: Literal["empirical"]
    values: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]

    @property
    def mean_value(self) -> float:
        return sum(self.values) / len(self.values)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values, dtype=np.int64), size)


Count = Annotated[
    ConstantCount | Geometric | Poisson | EmpiricalCount,
    Field(discriminator="dist"),
]
"""Any count distribution (customer messages per conversation), chosen by ``dist``."""


def _dist_names(family: Any) -> tuple[str, ...]:
    members = get_args(get_args(family)[0])  # Annotated[A | B | ..., Field] -> (A, B, ...)
    return tuple(get_args(member.model_fields["dist"].annotation)[0] for member in members)


DURATION_DISTS = _dist_names(Duration)
"""The ``dist`` names a duration may take, in the order the documentation lists them."""

COUNT_DISTS = _dist_names(Count)
"""The ``dist`` names a count may take, in the order the documentation lists them."""
