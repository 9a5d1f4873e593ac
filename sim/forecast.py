"""Forecasting next week's traffic from a history of arrivals.

A contact centre's volume has three things a forecast must carry: a **level with a trend** (the
operator saw online contacts grow tenfold in two years), a **weekly seasonality** (Mondays are
busy, Sundays quiet) and an **intraday shape** that differs by weekday. This module splits them
the way a scenario does:

- **Daily totals** carry the level, the trend and the weekday pattern. Per channel, the daily
  counts are modelled as an exponential-smoothing state space model (ETS, Hyndman et al.,
  statsmodels' ``ETSModel``) on ``log(1 + count)``: additive errors, additive weekly
  seasonality and a trend that is absent, additive or damped additive, chosen by AICc. On the
  log scale an additive trend is growth by a constant *factor* per day and the weekday pattern is
  a set of factors (Saturday at 0.6 of a Monday, whatever the level), which is how chat volume
  grows; the errors are multiplicative too, so a larger day is a noisier day in absolute terms.
- **Prediction intervals** come from simulating the fitted model forward (``paths`` sample paths
  driven by our own numpy generator) and mapping each path back with ``exp(x) - 1``: quantiles
  survive that monotone map, the mean of the paths is the bias-corrected expected count, and the
  week's total has its interval and coefficient of variation from the same paths (days of one
  path share the level's error, so the week is not seven independent days).
- **Intraday profiles** per weekday are the share of each interval within the day over the
  history, recency-weighted (a day ``a`` days before the end weighs ``0.5 ** (a / half_life)``)
  and shrunk a little towards the shape of all weekdays pooled (a Dirichlet prior worth one
  arrival per interval), so that a quiet interval seen empty a few times is not forced to zero.
  The scenario carries the shape; the daily totals carry level and trend.

A **backtest** holds the method to its own history: from several origins in the last weeks
(each a week after the one before, the last one ``horizon`` days before the end) the whole
method, model choice included, forecasts the following days from what came before, and the
errors per day ahead are set against the **seasonal-naive** forecast (the same weekday a week
earlier), the benchmark any weekly forecast must beat. Errors are MAPE (mean absolute error in
percent of the actual; days with no arrivals are left out of it) and MASE (mean absolute error
scaled by the in-sample error of the seasonal-naive forecast, so 1.0 is "as good as last week's
numbers were in the past").

Times are **local** seconds: epoch seconds plus the offset of local time (``local_seconds``), so
that a day is the customers' and the operator's day. A local day is numbered like an epoch day
(``floor(local / 86400)``; day 0, 1970-01-01, was a Thursday). Nothing here reads or writes
files; :mod:`sim.cli.forecast` reads the logs and writes the scenario.
"""

from __future__ import annotations

import datetime
import math
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.durations import DAY, WEEKDAYS
from sim.threads import one_thread

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_DAYS = 21
"""Days of history a channel needs: the weekly pattern seen three times. (statsmodels'
heuristic start of a weekly ETS model needs 16.)"""

SEASON = 7
"""Days in the seasonal cycle of daily counts."""

LEVELS = (0.80, 0.95)
"""Central prediction intervals reported: 80% and 95%."""

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday is 0)
_STREAM = 0xF0CA57  # spawn key of the forecast's random streams


class ForecastError(ValueError):
    """The history cannot be forecast as asked; ``channel`` names the channel at fault, or
    ``parameter`` the argument (a command line names its own flag)."""

    def __init__(
        self, problem: str, *, channel: str | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(problem)
        self.channel = channel
        self.parameter = parameter


# -- days ----------------------------------------------------------------------------------------


def local_seconds(created_at: npt.ArrayLike, utc_offset: npt.ArrayLike) -> FloatArray:
    """Local time of arrivals as seconds: epoch seconds (UTC) plus the offset of local time
    (seconds east of UTC, one per arrival or one for all)."""
    local: FloatArray = np.asarray(created_at, dtype=float) + np.asarray(utc_offset, dtype=float)
    return local


def weekday_of(day: int) -> int:
    """0 (Monday) to 6 (Sunday) of a local day number."""
    return (day + _EPOCH_WEEKDAY) % 7


def date_of(day: int) -> datetime.date:
    """The calendar date of a local day number."""
    return datetime.date(1970, 1, 1) + datetime.timedelta(days=day)


def day_label(day: int) -> str:
    """``"Thu 2024-03-07"``."""
    return f"{WEEKDAYS[weekday_of(day)]} {date_of(day).isoformat()}"


@dataclass(frozen=True)
class Window:
    """The whole local days a history covers, ``first`` to ``last`` (day numbers, inclusive), and
    the edge days left out because the logs covered only part of them."""

    first: int
    last: int
    dropped: tuple[tuple[int, float], ...] = ()
    """``(day, share missing)``: an edge day whose arrivals start late or stop early, with the
    estimated share of its volume the logs do not have."""

    @property
    def days(self) -> int:
        return self.last - self.first + 1


def observed_window(
    arrivals: Mapping[str, npt.ArrayLike], *, bins: int = 96, floor: float = 0.01
) -> Window:
    """The whole days of a history, from the day of its first arrival to the day of its last,
    less an edge day the export cut short.

    An export of "the last 30 days" usually starts and ends in the middle of a day. Whether an
    edge day is whole is judged from all channels pooled: the share of a typical day's volume
    (the pooled intraday shape of the days in between, in ``bins`` bins) that falls before the
    first arrival of the first day, or after the last arrival of the last day, is what the logs
    miss of it. In a whole day of ``N`` arrivals that share exceeds ``s`` with probability about
    ``exp(-s N)``, so an edge day is dropped when its missing share exceeds
    ``max(floor, 7 / N)`` (a whole day is dropped by mistake less than once in a thousand); a day
    cut in the last minutes stays, short by less than that share. Histories of fewer than three
    days are taken as they are.
    """
    parts = [np.asarray(a, dtype=float).ravel() for a in arrivals.values()]
    times = np.concatenate(parts) if parts else np.empty(0)
    if times.size == 0:
        raise ForecastError("the history has no arrivals")
    days = np.floor(times / DAY).astype(np.int64)
    first, last = int(days.min()), int(days.max())
    if last - first < 2:
        return Window(first, last)
    inner = (days > first) & (days < last)
    shape = np.bincount(_bin_of(times[inner], bins), minlength=bins).astype(float)
    if shape.sum() == 0:
        return Window(first, last)
    shape /= shape.sum()
    per_day = float(inner.sum()) / (last - first - 1)
    cumulative = np.concatenate([[0.0], np.cumsum(shape)])

    def before(seconds: float) -> float:
        """Share of a day's volume before a time of day (linear within a bin)."""
        position = (seconds % DAY) / DAY * bins
        whole = int(position)
        return float(cumulative[whole] + (position - whole) * shape[min(whole, bins - 1)])

    threshold = max(floor, 7.0 / per_day) if per_day > 0 else 1.0
    dropped: list[tuple[int, float]] = []
    missing_first = before(float(times[days == first].min()))
    if missing_first > threshold:
        dropped.append((first, missing_first))
        first += 1
    missing_last = 1.0 - before(float(times[days == last].max()))
    if missing_last > threshold:
        dropped.append((last, missing_last))
        last -= 1
    return Window(first, last, tuple(dropped))


def _bin_of(times: FloatArray, bins: int) -> IntArray:
    """The bin of the day each local time falls in (``bins`` equal bins from 00:00)."""
    position = np.floor((times % DAY) / DAY * bins).astype(np.int64)
    return np.minimum(position, bins - 1)


def daily_counts(arrivals: npt.ArrayLike, window: Window) -> IntArray:
    """Arrivals per local day of the window (arrivals outside it are left out)."""
    times = np.asarray(arrivals, dtype=float).ravel()
    days = np.floor(times / DAY).astype(np.int64) - window.first
    days = days[(days >= 0) & (days < window.days)]
    return np.bincount(days, minlength=window.days).astype(np.int64)


def intraday_profiles(
    arrivals: npt.ArrayLike,
    window: Window,
    interval: float,
    *,
    half_life: float = 28.0,
    prior: float | None = None,
) -> FloatArray:
    """Each weekday's intraday shape: ``(7, intervals per day)`` shares, each row summing to 1.

    The share of interval ``j`` on weekday ``w`` is the recency-weighted count of arrivals in it
    over the weighted count of that weekday's arrivals (a day ``a`` days before the window's
    last weighs ``0.5 ** (a / half_life)``), with ``prior`` pseudo-arrivals (default: one per
    interval) spread like all weekdays pooled: a Dirichlet prior centred on the pooled shape.
    With thousands of arrivals per weekday it moves a share by a fraction of a percent of
    itself; with a handful it keeps an interval seen empty from being forecast empty.
    """
    per_day = DAY / interval
    if interval <= 0 or abs(per_day - round(per_day)) > 1e-9:
        raise ForecastError(f"the interval ({interval:g}s) must divide a day", parameter="interval")
    bins = round(per_day)
    times = np.asarray(arrivals, dtype=float).ravel()
    days = np.floor(times / DAY).astype(np.int64)
    inside = (days >= window.first) & (days <= window.last)
    times, days = times[inside], days[inside]
    weights = 0.5 ** ((window.last - days) / half_life)
    weekdays = (days + _EPOCH_WEEKDAY) % 7
    flat = weekdays * bins + _bin_of(times, bins)
    counts = np.bincount(flat, weights=weights, minlength=7 * bins).reshape(7, bins)
    pooled = counts.sum(axis=0)
    pooled = pooled / pooled.sum() if pooled.sum() > 0 else np.full(bins, 1.0 / bins)
    strength = float(bins) if prior is None else prior
    shaped = counts + strength * pooled
    totals = shaped.sum(axis=1, keepdims=True)
    flat_day = np.full((1, bins), 1.0 / bins)
    result: FloatArray = np.where(totals > 0, shaped / np.where(totals > 0, totals, 1), flat_day)
    return result


# -- the model of daily counts -------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One ETS model of log daily counts: additive errors and weekly seasonality, and a trend
    that is absent, additive or additive damped."""

    trend: bool
    damped: bool = False

    @property
    def name(self) -> str:
        """Hyndman's notation: ``ETS(A,Ad,A)`` is additive error, damped additive trend,
        additive season."""
        trend = ("Ad" if self.damped else "A") if self.trend else "N"
        return f"ETS(A,{trend},A)"


CANDIDATES = (Candidate(False), Candidate(True), Candidate(True, damped=True))
"""The models the forecast chooses among, by AICc."""


@dataclass(frozen=True)
class Spread:
    """A forecast quantity: its mean (the expected value, what a scenario's volume takes), its
    median and the bounds of its central 80% and 95% prediction intervals."""

    mean: float
    median: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float

    @classmethod
    def of(cls, samples: FloatArray) -> Spread:
        """From simulated values."""
        lo95, lo80, median, hi80, hi95 = np.quantile(samples, [0.025, 0.1, 0.5, 0.9, 0.975])
        return cls(
            float(samples.mean()),
            float(median),
            float(lo80),
            float(hi80),
            float(lo95),
            float(hi95),
        )

    def covers(self, value: float, level: float) -> bool:
        """Whether ``value`` lies in the central interval of ``level`` (0.80 or 0.95)."""
        lo, hi = (self.lo80, self.hi80) if level == 0.80 else (self.lo95, self.hi95)
        return lo <= value <= hi


@dataclass(frozen=True)
class SeriesForecast:
    """The forecast of one series of daily counts: the model chosen, each day ahead, and the
    total over the horizon with its coefficient of variation."""

    model: str
    aicc: float
    days: tuple[Spread, ...]
    total: Spread
    cv: float
    """Standard deviation over mean of the horizon's total, from the simulated paths: the
    forecast's own uncertainty of the volume (``volume: {mean, cv}``)."""

    @property
    def means(self) -> FloatArray:
        return np.array([day.mean for day in self.days])


def forecast_counts(
    counts: npt.ArrayLike,
    horizon: int,
    rng: np.random.Generator,
    *,
    candidates: Sequence[Candidate] = CANDIDATES,
    paths: int = 4000,
) -> SeriesForecast:
    """Forecast the next ``horizon`` days of a series of daily counts (oldest first).

    Fits every candidate to ``log(1 + counts)`` (statsmodels' ``ETSModel``, heuristic start
    values, maximum likelihood for the smoothing parameters), keeps the one of least AICc, and
    simulates ``paths`` futures of it with normal errors of the fitted variance drawn from
    ``rng``.
    """
    y = np.asarray(counts, dtype=float).ravel()
    if horizon < 1:
        raise ForecastError(f"the horizon must be at least 1 day, got {horizon}", parameter="days")
    if y.size < MIN_DAYS:
        raise ForecastError(
            f"needs at least {MIN_DAYS} days of history (three weeks), got {y.size}"
        )
    if np.any(y < 0) or not np.all(np.isfinite(y)):
        raise ForecastError("daily counts must be finite and non-negative")
    if paths < 2:
        raise ForecastError(f"paths must be at least 2, got {paths}", parameter="paths")
    x = np.log1p(y)
    best: tuple[float, Candidate, Any] | None = None
    failures: list[str] = []
    for candidate in candidates:
        try:
            fitted = _fit(x, candidate)
        except (ValueError, np.linalg.LinAlgError) as error:
            failures.append(f"{candidate.name}: {error}")
            continue
        aicc = float(fitted.aicc)
        if not math.isfinite(float(fitted.scale)):
            continue
        if best is None or (math.isfinite(aicc) and (aicc < best[0] or not math.isfinite(best[0]))):
            best = (aicc, candidate, fitted)
    if best is None:
        raise ForecastError("no model could be fitted: " + "; ".join(failures or ["no candidate"]))
    aicc, candidate, fitted = best
    scale = math.sqrt(max(float(fitted.scale), 0.0))
    errors = rng.standard_normal((horizon, paths)) * scale
    simulated = np.asarray(
        fitted.simulate(horizon, anchor="end", repetitions=paths, random_errors=errors),
        dtype=float,
    ).reshape(horizon, paths)
    values = np.maximum(np.expm1(simulated), 0.0)
    totals = values.sum(axis=0)
    mean_total = float(totals.mean())
    return SeriesForecast(
        model=candidate.name,
        aicc=aicc,
        days=tuple(Spread.of(values[h]) for h in range(horizon)),
        total=Spread.of(totals),
        cv=float(totals.std(ddof=1) / mean_total) if mean_total > 0 else 0.0,
    )


def _fit(x: FloatArray, candidate: Candidate) -> Any:
    """One candidate fitted to log counts (warnings of the optimiser are the fit's own affair:
    a poor fit shows in its AICc)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    model = ETSModel(
        x,
        error="add",
        trend="add" if candidate.trend else None,
        damped_trend=candidate.damped,
        seasonal="add",
        seasonal_periods=SEASON,
        initialization_method="heuristic",
    )
    # The optimiser works on a handful of parameters: BLAS threads only contend (five times
    # slower on a busy two-core machine).
    with warnings.catch_warnings(), one_thread():
        warnings.simplefilter("ignore")
        return model.fit(disp=False)


def seasonal_naive(counts: npt.ArrayLike, horizon: int) -> FloatArray:
    """The benchmark: each day ahead is the same weekday in the last week of the history."""
    y = np.asarray(counts, dtype=float).ravel()
    ahead = np.arange(horizon)
    result: FloatArray = y[y.size - SEASON + ahead % SEASON]
    return result


# -- the backtest --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HorizonError:
    """Errors of the forecasts ``ahead`` days ahead over the backtest's origins, the model's and
    the seasonal-naive forecast's, and how often the model's intervals held the actual count."""

    ahead: int
    mape: float
    mase: float
    naive_mape: float
    naive_mase: float
    coverage80: float
    coverage95: float


@dataclass(frozen=True)
class Backtest:
    """A rolling-origin backtest: the method forecast ``horizon`` days from each origin (an index
    into the series: the first day forecast) using only the days before it."""

    horizon: int
    origins: tuple[int, ...]
    models: tuple[str, ...]
    """The model chosen at each origin."""
    per_horizon: tuple[HorizonError, ...]
    errors: FloatArray = field(repr=False)
    """``(origins, horizon)`` signed errors of the model (forecast mean minus actual)."""
    naive_errors: FloatArray = field(repr=False)
    actuals: FloatArray = field(repr=False)
    scales: FloatArray = field(repr=False)
    """Per origin, the in-sample mean absolute error of the seasonal-naive forecast (MASE's
    denominator)."""
    hits80: npt.NDArray[np.bool_] = field(repr=False)
    hits95: npt.NDArray[np.bool_] = field(repr=False)

    @property
    def mape(self) -> float:
        return _mape(self.errors, self.actuals)

    @property
    def naive_mape(self) -> float:
        return _mape(self.naive_errors, self.actuals)

    @property
    def mase(self) -> float:
        return _mase(self.errors, self.scales)

    @property
    def naive_mase(self) -> float:
        return _mase(self.naive_errors, self.scales)

    @property
    def coverage80(self) -> float:
        return float(self.hits80.mean())

    @property
    def coverage95(self) -> float:
        return float(self.hits95.mean())


def _mape(errors: FloatArray, actuals: FloatArray) -> float:
    """Mean absolute error in percent of the actual, over the days with arrivals."""
    seen = actuals > 0
    if not seen.any():
        return math.nan
    return float(np.mean(np.abs(errors[seen]) / actuals[seen]) * 100.0)


def _mase(errors: FloatArray, scales: FloatArray) -> float:
    """Mean absolute error scaled by each origin's in-sample seasonal-naive error."""
    scaled = np.abs(errors) / np.where(scales > 0, scales, np.nan)[:, None]
    return float(np.nanmean(scaled)) if np.isfinite(scaled).any() else math.nan


def backtest_origins(n_days: int, horizon: int, origins: int = 4, step: int = SEASON) -> list[int]:
    """The origins of a backtest over ``n_days``: the last forecasts the final ``horizon`` days,
    each earlier one ``step`` days before it, as many as ``origins`` that leave at least
    :data:`MIN_DAYS` days to fit on (oldest first)."""
    chosen = [n_days - horizon - k * step for k in range(origins)]
    return sorted(origin for origin in chosen if origin >= MIN_DAYS)


def backtest(
    counts: npt.ArrayLike,
    *,
    horizon: int = 7,
    origins: int = 4,
    step: int = SEASON,
    seed: int = 1,
    key: int = 0,
    candidates: Sequence[Candidate] = CANDIDATES,
    paths: int = 1000,
) -> Backtest:
    """Rolling-origin backtest of :func:`forecast_counts` against the seasonal-naive forecast.

    From each origin (see :func:`backtest_origins`) the method, model choice included, is run on
    the days before it and forecasts ``horizon`` days; the errors per day ahead are averaged over
    the origins. Origin ``k`` (from 0) draws its paths from stream ``(seed, key, k + 1)``. Raises
    :class:`ForecastError` when the series is too short for one origin.
    """
    y = np.asarray(counts, dtype=float).ravel()
    starts = backtest_origins(y.size, horizon, origins, step)
    if not starts:
        raise ForecastError(
            f"a backtest of {horizon} days needs at least {MIN_DAYS + horizon} days of history, "
            f"got {y.size}"
        )
    errors = np.empty((len(starts), horizon))
    naive = np.empty((len(starts), horizon))
    actuals = np.empty((len(starts), horizon))
    scales = np.empty(len(starts))
    hits = {level: np.empty((len(starts), horizon), dtype=bool) for level in LEVELS}
    models: list[str] = []
    for k, origin in enumerate(starts):
        train, actual = y[:origin], y[origin : origin + horizon]
        result = forecast_counts(
            train, horizon, stream(seed, key, k + 1), candidates=candidates, paths=paths
        )
        models.append(result.model)
        errors[k] = result.means - actual
        naive[k] = seasonal_naive(train, horizon) - actual
        actuals[k] = actual
        scales[k] = float(np.mean(np.abs(train[SEASON:] - train[:-SEASON])))
        for level in LEVELS:
            hits[level][k] = [
                day.covers(a, level) for day, a in zip(result.days, actual, strict=True)
            ]
    per_horizon = tuple(
        HorizonError(
            ahead=h + 1,
            mape=_mape(errors[:, h : h + 1], actuals[:, h : h + 1]),
            mase=_mase(errors[:, h : h + 1], scales),
            naive_mape=_mape(naive[:, h : h + 1], actuals[:, h : h + 1]),
            naive_mase=_mase(naive[:, h : h + 1], scales),
            coverage80=float(hits[0.80][:, h].mean()),
            coverage95=float(hits[0.95][:, h].mean()),
        )
        for h in range(horizon)
    )
    return Backtest(
        horizon=horizon,
        origins=tuple(starts),
        models=tuple(models),
        per_horizon=per_horizon,
        errors=errors,
        naive_errors=naive,
        actuals=actuals,
        scales=scales,
        hits80=hits[0.80],
        hits95=hits[0.95],
    )


def stream(seed: int, key: int, purpose: int) -> np.random.Generator:
    """An independent numpy generator for one purpose (0: the forecast, k: backtest origin k)
    of one channel (``key``, see :func:`channel_key`)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAM, key, purpose)))


def channel_key(name: str) -> int:
    """A stable number for a channel name (Python's ``hash`` is salted per process)."""
    return zlib.crc32(name.encode())


# -- a history forecast --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelForecast:
    """One channel's forecast: daily volumes with intervals, the week's total and cv, intraday
    shapes per weekday, and the backtest of the method on the channel's history."""

    channel: str
    history_days: int
    """Days of history modelled (from the channel's first day with arrivals)."""
    history_counts: IntArray = field(repr=False)
    series: SeriesForecast
    profiles: FloatArray = field(repr=False)
    """``(7, intervals per day)``: each weekday's shares of the day, Monday first."""
    backtest: Backtest | None
    """``None`` when the history is too short for one backtest origin."""

    @property
    def cv(self) -> float:
        """Coefficient of variation of the horizon's volume (for ``volume: {mean, cv}``)."""
        return self.series.cv


@dataclass(frozen=True)
class Forecast:
    """Forecasts of every channel of a history for the ``days`` days after it."""

    window: Window
    days: int
    interval: float
    half_life: float
    origins: int
    """Backtest origins asked for (0: no backtest)."""
    channels: dict[str, ChannelForecast]

    @property
    def first_day(self) -> int:
        """Local day number of the first day forecast: the day after the history."""
        return self.window.last + 1

    @property
    def forecast_days(self) -> list[int]:
        return [self.first_day + d for d in range(self.days)]

    @property
    def start_weekday(self) -> int:
        return weekday_of(self.first_day)


def forecast_history(
    arrivals: Mapping[str, npt.ArrayLike],
    *,
    days: int = 7,
    interval: float = 900.0,
    seed: int = 1,
    origins: int = 4,
    half_life: float = 28.0,
    window: Window | None = None,
    candidates: Sequence[Candidate] = CANDIDATES,
    paths: int = 4000,
) -> Forecast:
    """Forecast each channel of a history of arrivals (local seconds per channel) for the
    ``days`` days after it, with intraday shapes per weekday at ``interval`` and a backtest of
    ``origins`` origins (0: none).

    The history is the whole days of :func:`observed_window` (or ``window``); a channel's series
    starts at its first day with arrivals (a channel opened later has no zeros before it) and
    needs :data:`MIN_DAYS` days. Channel ``c`` draws from streams keyed by ``(seed, c)``, so a
    channel's forecast does not depend on the others.
    """
    if days < 1:
        raise ForecastError(f"days must be at least 1, got {days}", parameter="days")
    if not arrivals:
        raise ForecastError("the history has no channels")
    span = window if window is not None else observed_window(arrivals)
    channels: dict[str, ChannelForecast] = {}
    for name in sorted(arrivals):
        times = np.asarray(arrivals[name], dtype=float).ravel()
        counts = daily_counts(times, span)
        seen = np.flatnonzero(counts)
        if seen.size == 0:
            raise ForecastError("no arrivals inside the history's whole days", channel=name)
        counts = counts[seen[0] :]
        if counts.size < MIN_DAYS:
            raise ForecastError(
                f"needs at least {MIN_DAYS} whole days of history (three weeks) to see its "
                f"weekly pattern, has {counts.size} (from {day_label(span.last - counts.size + 1)}"
                f" to {day_label(span.last)})",
                channel=name,
            )
        key = channel_key(name)
        tested = None
        try:
            series = forecast_counts(
                counts, days, stream(seed, key, 0), candidates=candidates, paths=paths
            )
            if origins > 0 and counts.size >= MIN_DAYS + days:
                tested = backtest(
                    counts,
                    horizon=days,
                    origins=origins,
                    seed=seed,
                    key=key,
                    candidates=candidates,
                    paths=min(paths, 1000),
                )
        except ForecastError as error:
            if error.parameter is not None:
                raise
            raise ForecastError(str(error), channel=name) from None
        channels[name] = ChannelForecast(
            channel=name,
            history_days=int(counts.size),
            history_counts=counts,
            series=series,
            profiles=intraday_profiles(times, span, interval, half_life=half_life),
            backtest=tested,
        )
    return Forecast(
        window=span,
        days=days,
        interval=interval,
        half_life=half_life,
        origins=origins,
        channels=channels,
    )
