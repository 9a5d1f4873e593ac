"""Fitting a duration law to censored observations, by maximum likelihood.

A patience is seldom seen whole. A customer who gave up before the first response shows it
(an *exact* observation); one who was answered after waiting ``w`` only says it was longer
than ``w`` (*right-censored*); one whose unanswered chat was closed at ``c`` left at some time
before ``c`` (*left-censored*). Averaging the abandonments alone would keep only the impatient
and estimate far too short a patience; the likelihood uses every conversation for what it
tells: ``f(t)`` for an exact one, ``S(w)`` for a right-censored one, ``F(c)`` for a
left-censored one.

Messengers add a fourth kind. A customer who leaves silently is still answered once, late,
and never writes again, which looks just like a customer with one question who was answered
and had nothing to add. Such *ambiguous* conversations are a mixture: with ``q`` the share of
customers who stay that write only once, a one-message conversation answered after ``w`` has
probability ``q S(w) + F(w) = 1 - (1 - q) S(w)``, and one where the customer wrote again has
``(1 - q) S(w)``. ``q`` is estimated jointly with the law; it is identified because at short
waits (``S ≈ 1``) nearly all one-message conversations are genuine.

The candidates are exponential, lognormal and gamma, parameterised by mean and cv as scenarios
are; each is first fitted by :meth:`scipy.stats.rv_continuous.fit` on
:class:`scipy.stats.CensoredData` (the ambiguous ones counted as right-censored), then, when
there are ambiguous conversations, by the mixture likelihood above from there
(:func:`scipy.optimize.minimize`). The candidate of least AIC is chosen. Confidence intervals
of the mean come from the observed information (the Hessian of the log-likelihood in log mean,
log cv and logit q, by :func:`statsmodels.tools.numdiff.approx_hess3`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special, stats
from statsmodels.tools.numdiff import approx_hess3

FAMILIES = ("exponential", "lognormal", "gamma")
Z95 = 1.959963984540054
_FLOOR = 1e-3
"""Durations are clipped to a millisecond: a patience of 0 has no density under the
candidates, and no log records finer times."""
_CONSTANT_CV = 0.01
"""Observations that vary by less than this cv are written as a constant."""


@dataclass(frozen=True, slots=True)
class Sample:
    """Observations of one duration, by what each tells (seconds; see the module docstring).

    ``stayed`` are waits of conversations whose customer wrote again after the first response:
    right-censored, and (with ``ambiguous`` ones present) evidence about ``q``.
    """

    exact: np.ndarray = field(default_factory=lambda: np.empty(0))
    right: np.ndarray = field(default_factory=lambda: np.empty(0))
    left: np.ndarray = field(default_factory=lambda: np.empty(0))
    stayed: np.ndarray = field(default_factory=lambda: np.empty(0))
    ambiguous: np.ndarray = field(default_factory=lambda: np.empty(0))

    @classmethod
    def of(cls, exact: Sequence[float] = (), **others: Sequence[float]) -> Sample:
        arrays = {name: np.asarray(values, dtype=float) for name, values in others.items()}
        return cls(exact=np.asarray(exact, dtype=float), **arrays)

    @property
    def size(self) -> int:
        return sum(len(a) for a in (self.exact, self.right, self.left, self.stayed, self.ambiguous))

    @property
    def censored(self) -> bool:
        return bool(len(self.right) or len(self.left) or len(self.stayed) or len(self.ambiguous))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One family fitted: its mean and cv, log-likelihood and AIC (lower is better)."""

    dist: str
    mean: float
    cv: float
    loglik: float
    aic: float

    def law(self) -> Any:
        """The frozen scipy distribution."""
        return frozen(self.dist, self.mean, self.cv)


@dataclass(frozen=True, slots=True)
class LawFit:
    """The chosen law, the candidates it was chosen from, and how well it is known.

    ``mean_ci`` is the 95% confidence interval of the mean (``None`` where the information
    matrix is singular). ``q`` and ``q_ci``: the share of customers who stay that write once,
    when ambiguous conversations were fitted. ``ks`` is the Kolmogorov–Smirnov distance of the
    chosen law to the data (to the Kaplan–Meier curve when censored; ``None`` where neither
    applies, with ambiguous conversations).
    """

    chosen: Candidate
    candidates: tuple[Candidate, ...]
    mean_ci: tuple[float, float] | None
    sample: Sample
    q: float | None = None
    q_ci: tuple[float, float] | None = None
    ks: float | None = None
    constant: bool = False

    @property
    def mean(self) -> float:
        return self.chosen.mean

    def scenario(self) -> dict[str, Any]:
        """The law as a scenario writes it: ``{dist, mean, cv}`` (``{dist: constant, value}``)."""
        c = self.chosen
        if self.constant:
            return {"dist": "constant", "value": c.mean}
        if c.dist == "exponential":
            return {"dist": "exponential", "mean": c.mean}
        return {"dist": c.dist, "mean": c.mean, "cv": c.cv}


def frozen(dist: str, mean: float, cv: float) -> Any:
    """scipy's distribution of a family by mean and cv (the conversions of
    :mod:`sim.distributions`)."""
    if dist == "exponential":
        return stats.expon(scale=mean)
    if dist == "lognormal":
        sigma2 = math.log1p(cv * cv)
        return stats.lognorm(s=math.sqrt(sigma2), scale=math.exp(math.log(mean) - sigma2 / 2))
    if dist == "gamma":
        return stats.gamma(a=1.0 / (cv * cv), scale=mean * cv * cv)
    raise ValueError(f"unknown family {dist!r}")


def _mean_cv(dist: str, params: tuple[float, ...]) -> tuple[float, float]:
    """Mean and cv of scipy's ``fit`` result (location fixed at 0)."""
    if dist == "exponential":
        return float(params[1]), 1.0
    if dist == "lognormal":
        sigma, scale = float(params[0]), float(params[2])
        return scale * math.exp(sigma * sigma / 2), math.sqrt(math.expm1(sigma * sigma))
    shape, scale = float(params[0]), float(params[2])
    return shape * scale, 1.0 / math.sqrt(shape)


_SCIPY = {"exponential": stats.expon, "lognormal": stats.lognorm, "gamma": stats.gamma}


def _log_terms(
    dist: str, mean: float, cv: float
) -> tuple[
    Callable[[np.ndarray], np.ndarray],
    Callable[[np.ndarray], np.ndarray],
    Callable[[np.ndarray], np.ndarray],
]:
    """log density, log survival and log distribution function of a family by mean and cv,
    written with :mod:`scipy.special` (freezing a scipy distribution per evaluation costs more
    than the evaluation itself)."""
    if dist == "exponential":
        return (
            lambda x: -math.log(mean) - x / mean,
            lambda x: -x / mean,
            lambda x: np.log(-np.expm1(-x / mean)),
        )
    if dist == "lognormal":
        sigma = math.sqrt(math.log1p(cv * cv))
        mu = math.log(mean) - sigma * sigma / 2
        constant = math.log(sigma) + 0.5 * math.log(2 * math.pi)

        def z(x: np.ndarray) -> np.ndarray:
            return np.asarray((np.log(x) - mu) / sigma)

        return (
            lambda x: -np.log(x) - constant - z(x) ** 2 / 2,
            lambda x: special.log_ndtr(-z(np.maximum(x, 1e-300))),
            lambda x: special.log_ndtr(z(x)),
        )
    shape = 1.0 / (cv * cv)
    scale = mean * cv * cv
    constant = special.gammaln(shape) + shape * math.log(scale)
    return (
        lambda x: (shape - 1) * np.log(x) - x / scale - constant,
        lambda x: np.log(np.maximum(special.gammaincc(shape, x / scale), 1e-300)),
        lambda x: np.log(np.maximum(special.gammainc(shape, x / scale), 1e-300)),
    )


def _loglik(
    dist: str, sample: Sample, with_q: bool, fixed_q: float | None = None
) -> Callable[[np.ndarray], float]:
    """The log-likelihood as a function of ``[log mean, (log cv), (logit q)]`` (no ``logit q``
    when ``fixed_q`` is given)."""
    exact = np.maximum(sample.exact, _FLOOR)
    right = np.maximum(np.concatenate([sample.right, sample.stayed]), 0.0)
    stayed = len(sample.stayed)
    left = np.maximum(sample.left, _FLOOR)
    ambiguous = np.maximum(sample.ambiguous, 0.0)
    has_cv = dist != "exponential"

    def value(theta: np.ndarray) -> float:
        if theta[0] > 30.0 or (has_cv and not (-7.0 < theta[1] < 3.9)):
            return -math.inf
        mean = math.exp(theta[0])
        cv = math.exp(theta[1]) if has_cv else 1.0
        logpdf, logsf, logcdf = _log_terms(dist, mean, cv)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            total = float(np.sum(logpdf(exact))) + float(np.sum(logsf(right)))
            if len(left):
                total += float(np.sum(logcdf(left)))
            if with_q:
                q = fixed_q if fixed_q is not None else _expit(theta[-1])
                total += stayed * math.log1p(-q) if q < 1 else -math.inf
                survive = np.exp(logsf(ambiguous))
                total += float(np.sum(np.log(np.maximum(1.0 - (1.0 - q) * survive, 1e-300))))
        return total if math.isfinite(total) else -math.inf

    return value


def _candidate(
    dist: str, sample: Sample, fixed_q: float | None = None
) -> tuple[Candidate, np.ndarray, Callable[..., float]]:
    """One family fitted to the sample: scipy's censored fit, then the mixture if needed."""
    with_q = len(sample.ambiguous) > 0
    data: Any
    if sample.censored:
        data = stats.CensoredData(
            uncensored=np.maximum(sample.exact, _FLOOR),
            right=np.concatenate([sample.right, sample.stayed, sample.ambiguous]),
            left=np.maximum(sample.left, _FLOOR),
        )
    else:
        data = np.maximum(sample.exact, _FLOOR)
    if with_q:
        mean, cv = _moments(sample)  # the mixture starts from a grid (_mixture_start)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                mean, cv = _mean_cv(dist, _SCIPY[dist].fit(data, floc=0))
            except (ValueError, RuntimeError, FloatingPointError):
                mean, cv = _moments(sample)
    if not (math.isfinite(mean) and mean > 0):
        mean, cv = _moments(sample)
    cv = min(max(cv if math.isfinite(cv) else 1.0, 0.02), 20.0)
    theta = [math.log(mean)] + ([math.log(cv)] if dist != "exponential" else [])
    loglik = _loglik(dist, sample, with_q, fixed_q)
    x = np.array(theta, dtype=float)
    if with_q:
        x = _mixture_start(x, sample, loglik, fixed_q is None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = optimize.minimize(
                lambda t: -loglik(t),
                x,
                method="Nelder-Mead",
                options={"xatol": 1e-6, "fatol": 1e-7, "maxiter": 4000},
            )
        if np.isfinite(result.fun):
            x = np.asarray(result.x, dtype=float)
    best = loglik(x)
    mean = math.exp(x[0])
    cv = math.exp(x[1]) if dist != "exponential" else 1.0
    k = len(x)
    return Candidate(dist, mean, cv, best, 2 * k - 2 * best), x, loglik


def _mixture_start(
    x: np.ndarray, sample: Sample, loglik: Callable[[np.ndarray], float], free_q: bool
) -> np.ndarray:
    """A starting point for the mixture likelihood: ``q`` from the one-message share among the
    fastest-answered fifth (where hardly anyone has left yet), and the best of scipy's censored
    fit and a grid of means (cv as fitted) for it."""
    waits = np.concatenate([sample.stayed, sample.ambiguous])
    single = np.concatenate([np.zeros(len(sample.stayed)), np.ones(len(sample.ambiguous))])
    fastest = np.argsort(waits, kind="stable")[: max(len(waits) // 5, 1)]
    share = min(max(float(single[fastest].mean()), 0.02), 0.98)
    logit = math.log(share / (1 - share))
    positive = waits[waits > 0]
    low, high = (float(positive.min()), float(positive.max())) if len(positive) else (1.0, 1e4)
    spreads = [[]] if len(x) == 1 else [[x[1]], *([math.log(cv)] for cv in (0.5, 1.0, 2.0))]
    starts = [x] + [
        np.array([math.log(mean), *spread])
        for mean in np.geomspace(low, 20 * high, 30)
        for spread in spreads
    ]
    tail = [logit] if free_q else []
    best = max((np.append(start, tail) for start in starts), key=loglik)
    return np.asarray(best, dtype=float)


def _moments(sample: Sample) -> tuple[float, float]:
    values = np.concatenate([sample.exact, sample.right, sample.stayed, sample.ambiguous])
    values = values[values > 0]
    if not len(values):
        return 1.0, 1.0
    mean = float(values.mean())
    return mean, float(values.std() / mean) if mean > 0 and len(values) > 1 else 1.0


def _information(x: np.ndarray, loglik: Callable[[np.ndarray], float]) -> np.ndarray | None:
    """Covariance of the parameters at the optimum (inverse observed information)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            hessian = approx_hess3(x, lambda t: -loglik(t))
            if not np.all(np.isfinite(hessian)):
                return None
            covariance = np.linalg.inv(hessian)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return None
    if not np.all(np.isfinite(covariance)) or np.any(np.diag(covariance) <= 0):
        return None
    return np.asarray(covariance)


def fit_law(
    sample: Sample, families: Sequence[str] = FAMILIES, q: float | None = None
) -> LawFit | None:
    """The law of least AIC among ``families`` for ``sample`` (``None`` without any event:
    with nothing but right-censored waits the mean has no finite estimate; see
    :func:`lower_bound`). With ambiguous observations, ``q`` fixes the one-message share of
    those who stay (estimated elsewhere, from how often customers who wrote twice wrote a third
    time: :func:`truncated_turns`); without it ``q`` is fitted jointly."""
    informative = len(sample.exact) + len(sample.left) + len(sample.ambiguous)
    if informative == 0:
        return None
    if not sample.censored and len(sample.exact) >= 1:
        values = sample.exact
        mean = float(values.mean())
        spread = float(values.std()) / mean if mean > 0 else 0.0
        if len(values) == 1 or spread < _CONSTANT_CV:
            only = Candidate("constant", float(np.median(values)), 0.0, 0.0, 0.0)
            return LawFit(only, (only,), (mean, mean), sample, constant=True, ks=0.0)
    fitted = [_candidate(dist, sample, q) for dist in families]
    order = sorted(range(len(fitted)), key=lambda i: fitted[i][0].aic)
    chosen, x, loglik = fitted[order[0]]
    covariance = _information(x, loglik)
    mean_ci = q_ci = None
    if covariance is not None:
        se = math.sqrt(covariance[0, 0])
        mean_ci = (chosen.mean * math.exp(-Z95 * se), chosen.mean * math.exp(Z95 * se))
    if len(sample.ambiguous) and q is None:
        q = _expit(x[-1])
        if covariance is not None:
            se = math.sqrt(covariance[-1, -1])
            q_ci = (_expit(x[-1] - Z95 * se), _expit(x[-1] + Z95 * se))
    return LawFit(
        chosen,
        tuple(fitted[i][0] for i in order),
        mean_ci,
        sample,
        q=q,
        q_ci=q_ci,
        ks=_ks(chosen, sample),
    )


def _expit(x: float) -> float:
    return float(special.expit(x))


def lower_bound(sample: Sample) -> float:
    """A one-sided 95% lower bound of the mean when nobody was seen to give up: with ``W`` the
    total of the censored waits and an exponential law, no event in ``W`` has probability
    ``exp(-W / mean)``, at least 5% only for ``mean >= W / ln 20``."""
    total = float(np.sum(np.concatenate([sample.right, sample.stayed])))
    return total / math.log(20.0)


@dataclass(frozen=True, slots=True)
class KaplanMeier:
    """The Kaplan–Meier estimate of a survival curve (statsmodels' ``SurvfuncRight``)."""

    times: np.ndarray
    survival: np.ndarray
    at_risk: np.ndarray
    median: float | None


def kaplan_meier(sample: Sample) -> KaplanMeier | None:
    """Kaplan–Meier of exact and right-censored observations; ``None`` when the sample has
    left-censored or ambiguous ones (the curve assumes neither) or no event."""
    from statsmodels.duration.survfunc import SurvfuncRight

    if len(sample.left) or len(sample.ambiguous) or not len(sample.exact):
        return None
    right = np.concatenate([sample.right, sample.stayed])
    times = np.concatenate([sample.exact, right])
    status = np.concatenate([np.ones(len(sample.exact)), np.zeros(len(right))])
    curve = SurvfuncRight(times, status)
    survival = np.asarray(curve.surv_prob, dtype=float)
    at = np.asarray(curve.surv_times, dtype=float)
    below = np.nonzero(survival <= 0.5)[0]
    at_risk = np.asarray(curve.n_risk, dtype=float)
    return KaplanMeier(at, survival, at_risk, float(at[below[0]]) if len(below) else None)


KS_AT_RISK = 20
"""Kaplan–Meier is compared with a fitted law only where at least this many are still at
risk: beyond, its steps are too coarse to say anything."""


def _ks(chosen: Candidate, sample: Sample) -> float | None:
    """Largest distance between the fitted distribution and the data's: the empirical one, or
    Kaplan–Meier's under right censoring (before and after each of its steps, where at least
    :data:`KS_AT_RISK` are at risk)."""
    law = chosen.law()
    if not sample.censored:
        return float(stats.kstest(np.maximum(sample.exact, _FLOOR), law.cdf).statistic)
    curve = kaplan_meier(sample)
    if curve is None:
        return None
    reliable = curve.at_risk >= KS_AT_RISK
    if not np.any(reliable):
        return None
    fitted = law.sf(curve.times[reliable])
    after = curve.survival[reliable]
    before = np.concatenate([[1.0], curve.survival[:-1]])[reliable]
    return float(max(np.max(np.abs(fitted - after)), np.max(np.abs(fitted - before))))


def proportion_ci(successes: float, trials: float) -> tuple[float, float]:
    """Exact (Clopper–Pearson) 95% interval of a proportion (``scipy.stats.binomtest``)."""
    k, n = round(successes), round(trials)
    if n <= 0:
        return (0.0, 1.0)
    interval = stats.binomtest(min(max(k, 0), n), n).proportion_ci(0.95)
    return float(interval.low), float(interval.high)


def mean_ci(values: np.ndarray) -> tuple[float, float] | None:
    """Student-t 95% interval of a mean (``None`` with fewer than two values)."""
    if len(values) < 2:
        return None
    mean = float(np.mean(values))
    half = (
        float(stats.t.ppf(0.975, len(values) - 1))
        * float(np.std(values, ddof=1))
        / math.sqrt(len(values))
    )
    return mean - half, mean + half


@dataclass(frozen=True, slots=True)
class TurnsFit:
    """A count law of customer messages (``geometric`` or ``poisson``, 1 + Poisson(mean − 1)),
    its mean, log-likelihood and the share ``q`` of one-message conversations it implies."""

    dist: str
    mean: float
    loglik: float
    q: float
    n: int

    @property
    def aic(self) -> float:
        return 2.0 - 2.0 * self.loglik


def truncated_turns(counts: Sequence[int]) -> list[TurnsFit]:
    """Both count laws fitted to conversations whose customer wrote at least twice, each
    truncated at 2 (those are the customers certainly there after the first response; a
    one-message conversation on a messenger may be a silent leaver). Best AIC first.

    Geometric: ``P(k | k ≥ 2) = p (1 − p)^(k − 2)``, so ``p = 1 / mean(k − 1)`` and ``q = p``.
    Poisson: ``k − 1`` is zero-truncated Poisson(λ), ``mean(k − 1) = λ / (1 − e^−λ)``, and
    ``q = e^−λ``.
    """
    k = np.asarray([c for c in counts if c >= 2], dtype=float)
    if not len(k):
        return []
    excess = float(np.mean(k - 1))
    p = min(1.0 / excess, 1.0 - 1e-9)
    geometric = float(np.sum(np.log(p) + (k - 2) * np.log1p(-p)))
    fits = [TurnsFit("geometric", 1.0 / p, geometric, p, len(k))]
    if excess > 1.0 + 1e-9:
        lam = float(
            optimize.brentq(lambda x: x / -math.expm1(-x) - excess, 1e-9, max(10 * excess, 10.0))
        )
        poisson = float(
            np.sum(stats.poisson.logpmf(k - 1, lam)) - len(k) * math.log(-math.expm1(-lam))
        )
        fits.append(TurnsFit("poisson", 1.0 + lam, poisson, math.exp(-lam), len(k)))
    return sorted(fits, key=lambda f: f.aic)
