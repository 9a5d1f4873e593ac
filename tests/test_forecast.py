"""The forecast (sim/forecast.py, sim/forecast_scenario.py): backtest against the seasonal-naive
forecast, prediction intervals, intraday profiles, whole days of a history, and the scenario it
writes on a base's desk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.durations import DAY, WEEK, WEEKDAYS, WeekTime
from sim.errors import InputError
from sim.forecast import (
    Candidate,
    ForecastError,
    Window,
    backtest,
    backtest_origins,
    daily_counts,
    forecast_counts,
    forecast_history,
    intraday_profiles,
    local_seconds,
    observed_window,
    seasonal_naive,
    stream,
    weekday_of,
)
from sim.forecast_scenario import forecast_scenario, fragment, render
from sim.scenario import load_scenario, parse_scenario

WEEKLY = np.array([1.15, 1.10, 1.05, 1.0, 0.95, 0.60, 0.45])
"""Weekday factors of the synthetic histories, Monday first."""

GROWTH = 10.0 ** (1.0 / 730.0)
"""Daily growth factor of tenfold in two years, as the operator saw."""

MONDAY = 19723  # 2024-01-01, a Monday, as a local day number
WEEK_YAML = Path(__file__).resolve().parents[1] / "scenarios" / "week.yaml"


def daily_history(rng: np.random.Generator, weeks: int, level: float) -> np.ndarray:
    """Poisson daily counts from a Monday: a level growing tenfold in two years times the
    weekday factors; one more week than ``weeks`` follows (the future to forecast)."""
    t = np.arange((weeks + 1) * 7)
    return rng.poisson(level * GROWTH**t * WEEKLY[t % 7]).astype(float)


def hourly_shapes() -> np.ndarray:
    """A weekday and a weekend intraday shape per hour (Monday first), each summing to 1."""
    hours = np.arange(24)
    weekday = np.exp(-(((hours - 13.0) / 4.5) ** 2)) + 0.03
    weekend = np.exp(-(((hours - 16.0) / 5.0) ** 2)) + 0.05
    shapes = np.array([weekday] * 5 + [weekend] * 2)
    return shapes / shapes.sum(axis=1, keepdims=True)


def arrivals(
    rng: np.random.Generator, days: int, level: float, first: int = MONDAY, shapes=None
) -> np.ndarray:
    """Local arrival times (seconds) over ``days`` days from local day ``first``: Poisson per
    day as in :func:`daily_history`, placed by the hourly ``shapes``."""
    shapes = hourly_shapes() if shapes is None else shapes
    times = []
    for d in range(days):
        weekday = weekday_of(first + d)
        n = rng.poisson(level * GROWTH**d * WEEKLY[weekday])
        hours = rng.choice(24, size=n, p=shapes[weekday])
        times.append((first + d) * DAY + (hours + rng.uniform(size=n)) * 3600.0)
    return np.sort(np.concatenate(times))


# -- the model ----------------------------------------------------------------------------------


def test_backtest_beats_seasonal_naive():
    """On 20 weeks of daily Poisson counts (about 2,000 a day, growing tenfold in two years,
    weekly pattern), the backtest's MASE (4 origins x 7 days) is well below the seasonal-naive
    forecast's: pooled over three histories, under 0.8 of it.

    Why: the naive forecast carries the noise of last week's day on top of the day forecast
    (error variance 2 sigma^2) and lags the growth by a week (2% at this growth, as large as the
    noise of a day of 2,000), while the model averages the noise out and follows the trend; its
    expected ratio is about 0.6. In a scratch study of 200 histories (seeds 0-199, this generator
    and method) the ratio of one history had mean 0.61 and a maximum of 0.95, and of three
    pooled (66 groups) a maximum of 0.72: 0.8 leaves room, and each history on its own must
    still beat the naive forecast.
    """
    ratios = []
    model = naive = 0.0
    for seed in (11, 12, 13):
        y = daily_history(np.random.default_rng(seed), 20, 2000.0)[: 20 * 7]
        result = backtest(y, horizon=7, origins=4, seed=seed)
        assert result.origins == (112, 119, 126, 133)
        assert len(result.per_horizon) == 7 and [h.ahead for h in result.per_horizon] == list(
            range(1, 8)
        )
        ratios.append(result.mase / result.naive_mase)
        model += result.mase
        naive += result.naive_mase
        assert result.mape < result.naive_mape
    assert max(ratios) < 1.0, ratios
    assert model / naive < 0.8, ratios


def test_backtest_per_horizon_errors_are_those_of_the_forecasts():
    """The per-horizon figures are the mean over origins of each day ahead's errors, and the
    seasonal-naive errors are last week's same weekday minus the actual."""
    y = daily_history(np.random.default_rng(5), 5, 300.0)[: 5 * 7]
    result = backtest(y, horizon=7, origins=4, seed=1)
    assert result.origins == (21, 28)  # the two that leave three weeks to fit on
    for k, origin in enumerate(result.origins):
        np.testing.assert_allclose(result.actuals[k], y[origin : origin + 7])
        np.testing.assert_allclose(result.naive_errors[k], y[origin - 7 : origin] - y[origin:][:7])
        scale = np.mean(np.abs(y[7:origin] - y[: origin - 7]))
        assert result.scales[k] == pytest.approx(scale)
    third = result.per_horizon[2]
    expected = np.mean(np.abs(result.errors[:, 2]) / result.actuals[:, 2]) * 100
    assert third.mape == pytest.approx(expected)
    assert third.naive_mase == pytest.approx(
        np.mean(np.abs(result.naive_errors[:, 2]) / result.scales)
    )
    assert backtest_origins(35, 7) == [21, 28]
    assert backtest_origins(35, 3, origins=2) == [25, 32]
    with pytest.raises(ForecastError, match="at least 28 days"):
        backtest(y[:27], horizon=7)


def test_prediction_intervals_cover_at_their_nominal_rate():
    """Over 60 synthetic histories (12 weeks of about 2,000 a day, Poisson, growing tenfold in
    two years; ETS(A,A,A)), the 80% and 95% intervals of the next 7 days hold the actual count
    at their rate: 80% of the 420 days within [0.75, 0.88] and 95% within [0.91, 0.99]; the
    week's total, 60 weeks, 80% within [0.62, 0.98] and 95% within [0.82, 1.0].

    In a scratch study of 600 such histories (seeds 1000-1599) the days held 81.6% and 95.0%,
    the weeks 81.7% and 95.2%; over groups of 30 histories the spread (sd) was 2.4 and 1.5
    points for days, 7.3 and 4.3 for weeks, so for 60 about 1.7, 1.0, 5.2 and 3.0. The bands are
    about 4 of those either side for days and 3 for weeks, (0.99 and 1.0 above: a little
    conservative is fine), and would catch intervals a third too narrow or too wide. The days of
    one history share its level error, which that spread includes. (The intervals leave out the
    uncertainty of the fitted parameters; with 12 weeks of data it does not show.)
    """
    hits: dict[float, list[bool]] = {0.80: [], 0.95: []}
    week: dict[float, list[bool]] = {0.80: [], 0.95: []}
    for seed in range(60):
        y = daily_history(np.random.default_rng(1000 + seed), 12, 2000.0)
        history, future = y[: 12 * 7], y[12 * 7 :]
        result = forecast_counts(history, 7, stream(seed, 0, 0), candidates=[Candidate(True)])
        for level in hits:
            hits[level] += [
                day.covers(a, level) for day, a in zip(result.days, future, strict=True)
            ]
            week[level].append(result.total.covers(future.sum(), level))
    assert 0.75 <= np.mean(hits[0.80]) <= 0.88
    assert 0.91 <= np.mean(hits[0.95]) <= 0.99
    assert 0.62 <= np.mean(week[0.80]) <= 0.98
    assert 0.82 <= np.mean(week[0.95]) <= 1.0


def test_forecast_follows_trend_and_weekdays():
    """The forecast of a noiseless growing weekly series is that series continued (within 1%)
    and its cv is small; the seasonal-naive forecast repeats last week."""
    t = np.arange(10 * 7 + 7)
    truth = 1000.0 * GROWTH ** (3 * t) * WEEKLY[t % 7]
    y = np.round(truth[:70])
    result = forecast_counts(y, 7, stream(1, 0, 0))
    np.testing.assert_allclose(result.means, truth[70:], rtol=0.01)
    assert result.cv < 0.02
    assert result.total.lo95 <= truth[70:].sum() <= result.total.hi95
    np.testing.assert_allclose(seasonal_naive(y, 9), np.concatenate([y[-7:], y[-7:-5]]))
    with pytest.raises(ForecastError, match="at least 21 days"):
        forecast_counts(y[:20], 7, stream(1, 0, 0))


# -- days and profiles ---------------------------------------------------------------------------


def test_days_are_local_days():
    """A conversation at 23:30 UTC in Moscow (UTC+3) is on the next local day."""
    created = np.array([MONDAY * DAY + 23.5 * 3600, MONDAY * DAY + 12 * 3600])
    local = local_seconds(created, 3 * 3600)
    counts = daily_counts(local, Window(MONDAY, MONDAY + 1))
    assert counts.tolist() == [1, 1]
    assert weekday_of(MONDAY) == 0 and WEEKDAYS[weekday_of(MONDAY + 3)] == "Thu"


def test_edge_days_cut_short_are_dropped():
    """An export that starts at 10:00 on its first day and ends at 15:00 on its last (about 20%
    and 45% of those days missing) covers the days in between; whole edge days are kept."""
    rng = np.random.default_rng(3)
    times = arrivals(rng, 28, 400.0)
    whole = observed_window({"a": times[::2], "b": times[1::2]})
    assert (whole.first, whole.last, whole.dropped) == (MONDAY, MONDAY + 27, ())
    cut = times[(times >= MONDAY * DAY + 10 * 3600) & (times < (MONDAY + 27) * DAY + 15 * 3600)]
    window = observed_window({"a": cut})
    assert (window.first, window.last) == (MONDAY + 1, MONDAY + 26)
    (first, missing_first), (last, missing_last) = window.dropped
    assert first == MONDAY and 0.1 < missing_first < 0.3
    assert last == MONDAY + 27 and 0.3 < missing_last < 0.6


def test_intraday_profiles_are_recovered():
    """Six weeks of about 1,500 conversations a day: each weekday's hourly shares are the
    shapes they were drawn from, within 5 standard errors of a share estimated from the weekday's
    weighted arrivals (sqrt(p (1 - p) / n), n = the weighted count) plus the pull of the prior
    (24 pseudo-arrivals towards the pooled shape: at most 24 / n of the difference)."""
    rng = np.random.default_rng(8)
    shapes = hourly_shapes()
    times = arrivals(rng, 42, 1500.0, shapes=shapes)
    window = Window(MONDAY, MONDAY + 41)
    profiles = intraday_profiles(times, window, 3600.0)
    assert profiles.shape == (7, 24)
    np.testing.assert_allclose(profiles.sum(axis=1), 1.0)
    days = np.floor(times / DAY).astype(int)
    weights = 0.5 ** ((window.last - days) / 28.0)
    for w in range(7):
        n = weights[(days + 3) % 7 == w].sum()
        pooled = shapes.mean(axis=0)
        tolerance = 5 * np.sqrt(shapes[w] * (1 - shapes[w]) / n) + 24 / n * abs(shapes[w] - pooled)
        assert np.all(np.abs(profiles[w] - shapes[w]) <= tolerance), WEEKDAYS[w]
    assert profiles[0].argmax() == 13 and profiles[6].argmax() == 16
    quarter = intraday_profiles(times, window, 900.0)
    np.testing.assert_allclose(quarter.reshape(7, 24, 4).sum(axis=2), profiles, atol=0.002)
    with pytest.raises(ForecastError, match="must divide a day"):
        intraday_profiles(times, window, 7 * 60.0)


def test_forecast_history_per_channel():
    """Each channel is forecast from its own first day; a channel opened later has no zeros
    before it, and one with less than three weeks is an error naming it."""
    rng = np.random.default_rng(4)
    old = arrivals(rng, 35, 300.0)
    new = arrivals(rng, 23, 100.0, first=MONDAY + 12)
    result = forecast_history({"old": old, "new": new}, days=3, interval=3600.0, origins=1)
    assert result.first_day == MONDAY + 35 and result.start_weekday == 0
    assert result.channels["old"].history_days == 35
    assert result.channels["new"].history_days == 23
    assert result.channels["new"].backtest is None  # one origin needs 21 + 3 days
    assert result.channels["old"].backtest is not None
    assert len(result.channels["old"].series.days) == 3
    young = arrivals(rng, 15, 100.0, first=MONDAY + 20)
    with pytest.raises(ForecastError, match="at least 21 whole days") as error:
        forecast_history({"old": old, "young": young}, days=7, origins=0)
    assert error.value.channel == "young"


# -- the scenario --------------------------------------------------------------------------------

BASE_DAY = """
name: desk
start: "06:00"
duration: 18h
interval: 1h
channels:
  chat:
    protocol: webchat
    volume: 100
    patience: {dist: exponential, mean: 3m}
    reply: {dist: exponential, mean: 30s}
agents:
  - group: day
    skills: [chat]
    shifts:
      - {start: "06:00", end: "15:00", count: 2, breaks: [{length: 30m, after: 4h}]}
      - {start: "14:00", end: "24:00", count: 1}
  - group: hourly
    skills: [chat]
    staffing: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]
"""


def _forecast(days: int, first: int, channels=("chat",)) -> object:
    rng = np.random.default_rng(6)
    history = {name: arrivals(rng, 28, 80.0, first=first - 28) for name in channels}
    return forecast_history(history, days=days, interval=3600.0, origins=0, paths=500)


def _agent_hours(scenario) -> float:
    total = 0.0
    for group in scenario.agents:
        for shift in group.shifts or ():
            begin, end = scenario.shift_window(shift)
            total += (end - begin) / 3600 * shift.count
        total += sum(group.staffing or ()) * scenario.interval / 3600
    return total


def test_scenario_on_a_day_base_repeats_its_day():
    """A base of at most a day is a typical day: on a forecast of 7 days from a Thursday its
    shifts and per-interval staffing come back every day, with their breaks; the channel's
    volume is the sum of the forecast days and its weights follow them day by day."""
    import yaml

    raw = yaml.safe_load(BASE_DAY)
    base = parse_scenario(raw)
    result = _forecast(7, MONDAY + 3)
    data, scenario = forecast_scenario(result, base, raw, file="base.yaml")
    assert scenario.start == WeekTime(3 * DAY) and scenario.duration == WEEK
    assert data["start"] == "Thu 00:00" and data["name"] == "desk-forecast"
    channel = scenario.channels["chat"]
    means = [day.mean for day in result.channels["chat"].series.days]
    assert channel.mean_volume == pytest.approx(sum(means), abs=0.5)
    assert list(channel.day_weights) == ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    per_day = np.asarray(scenario.weights("chat")).reshape(7, 24).sum(axis=1)
    np.testing.assert_allclose(per_day, np.array(means) / sum(means), rtol=1e-3)
    day_shifts = scenario.agents[0].shifts
    assert len(day_shifts) == 14
    assert [s.start for s in day_shifts[:7]] == [  # each shift of the base on each day
        WeekTime((d % 7) * DAY + 6 * 3600) for d in range(3, 10)
    ]
    assert all(len(s.breaks) == 1 for s in day_shifts if s.count == 2)
    staffing = scenario.agents[1].staffing
    assert staffing is not None and len(staffing) == 7 * 24
    assert staffing[:24] == [0] * 6 + [1] * 17 + [2]
    assert _agent_hours(scenario) == pytest.approx(7 * _agent_hours(base))


def test_scenario_on_a_week_base_wraps_the_week():
    """A week base on a horizon from Thursday: the night shift Wed 22:00-Thu 08:00 is cut in two
    (Thu 00:00-08:00 opening the horizon, Wed 22:00-24:00 closing it), so every agent-hour of
    the week is still there; on 3 days only the shifts of those days remain, cut at the end."""
    base = load_scenario(WEEK_YAML)
    import yaml

    raw = yaml.safe_load(WEEK_YAML.read_text(encoding="utf-8"))
    result = _forecast(7, MONDAY + 3, channels=("whatsapp", "webchat"))
    data, scenario = forecast_scenario(result, base, raw, file="week.yaml")
    assert _agent_hours(scenario) == pytest.approx(_agent_hours(base))
    starts = [scenario.shift_window(s)[0] for s in scenario.agents[0].shifts]
    assert 0.0 in starts
    ends = [scenario.shift_window(s)[1] for s in scenario.agents[0].shifts]
    assert max(ends) == pytest.approx(WEEK)
    assert scenario.agents[0].shrinkage == 0.1
    three = _forecast(3, MONDAY + 3, channels=("whatsapp", "webchat"))
    _, short = forecast_scenario(three, base, raw, file="week.yaml")
    assert short.duration == 3 * DAY and list(short.channels["whatsapp"].profile) == [
        "Thu",
        "Fri",
        "Sat",
    ]
    hours = _agent_hours(short)
    assert 0 < hours < _agent_hours(base) * 3 / 7 + 1e-9
    text = render(data, result, ["header line"])
    assert text.startswith("# header line\n")
    again = parse_scenario(__import__("yaml").safe_load(text))
    assert again.sha256 == scenario.sha256


def test_scenario_needs_a_forecast_for_every_channel():
    import yaml

    raw = yaml.safe_load(BASE_DAY)
    base = parse_scenario(raw)
    result = _forecast(7, MONDAY, channels=("other",))
    with pytest.raises(ForecastError, match="no conversations of channel 'chat'") as error:
        forecast_scenario(result, base, raw, file="base.yaml")
    assert error.value.channel == "chat"
    keys = fragment(result)
    assert keys["start"] == "Mon 00:00" and keys["duration"] == "7d" and keys["interval"] == "1h"
    assert set(keys["channels"]["other"]) == {"volume", "profile", "day_weights"}
    assert InputError  # the CLI turns ForecastError into InputError (tests/test_cli_forecast.py)
