"""A forecast written as a scenario: next week's traffic on a base scenario's desk.

:func:`forecast_scenario` takes a base scenario (its validated form and the data it was read
from) and a :class:`~sim.forecast.Forecast`, and returns the base with

- ``start`` at 00:00 of the first forecast day, with its weekday, and ``duration`` the forecast
  days (``7d`` for a week; a forecast of fewer days is a shorter horizon, and one starting on a
  Thursday starts on ``"Thu 00:00"``: the horizon is exactly the days forecast);
- per channel, ``day_weights`` the expected conversations of each forecast day, ``volume`` their
  sum, and ``profile`` a weekday mapping of each covered weekday's intraday shape (percent of
  the day per interval);
- the **roster carried onto the horizon**. A base of at most 24 hours is a typical day: its
  shifts and per-interval staffing are repeated on every day of the horizon. A longer base is a
  weekly pattern: its shifts come back on their weekdays. A shift that crosses an end of the
  horizon is cut there (a night shift that began the evening before the horizon starts the
  horizon, as in ``scenarios/week.yaml``), keeping the breaks that still fit.

Everything else (channel parameters, agent groups, targets) is the base's, as its file wrote it.
The result is validated with :func:`~sim.scenario.parse_scenario` before it is returned;
:func:`render` writes it as YAML text with comments giving each channel's forecast per day
with its 80% and 95% prediction intervals, the model chosen and the backtest against the
seasonal-naive forecast. Nothing here reads or writes files.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from sim.durations import DAY, WEEK, WEEKDAYS, WeekTime, format_day_clock, format_duration
from sim.errors import InputError
from sim.forecast import MIN_DAYS, ChannelForecast, Forecast, ForecastError, date_of, day_label
from sim.scenario import AgentGroup, Break, Scenario, Shift, parse_scenario


def horizon_start(forecast: Forecast) -> str:
    """The scenario's ``start``: 00:00 of the first forecast day, with its weekday."""
    return f"{WEEKDAYS[forecast.start_weekday]} 00:00"


def channel_keys(forecast: Forecast, name: str) -> dict[str, Any]:
    """The keys a channel takes from the forecast: ``volume`` (``{mean, cv}``: the horizon's
    expected conversations and the forecast's uncertainty of them), ``profile`` (the covered
    weekdays' shapes in percent of the day, in the horizon's order) and ``day_weights`` (each
    weekday's expected conversations)."""
    channel = forecast.channels[name]
    weekdays = [
        d % 7 for d in range(forecast.start_weekday, forecast.start_weekday + forecast.days)
    ]
    profile = {
        WEEKDAYS[w]: [round(float(share) * 100.0, 3) for share in channel.profiles[w]]
        for w in weekdays
    }
    day_weights = {
        WEEKDAYS[w]: round(day.mean, 1)
        for w, day in zip(weekdays, channel.series.days, strict=True)
    }
    total = round(sum(day_weights.values()), 1)
    # The forecast's uncertainty travels with the volume: each replication of the scenario
    # draws its own level, so simulate shows the spread and staff can plan at a quantile.
    volume = {"mean": total, "cv": round(channel.cv, 4)} if channel.cv > 0 else total
    return {
        "volume": volume,
        "profile": profile,
        "day_weights": day_weights,
    }


def fragment(forecast: Forecast) -> dict[str, Any]:
    """The forecast alone, as the keys of a scenario (no agents): to paste into one."""
    return {
        "start": horizon_start(forecast),
        "duration": f"{forecast.days}d",
        "interval": format_duration(forecast.interval),
        "channels": {name: channel_keys(forecast, name) for name in forecast.channels},
    }


def forecast_scenario(
    forecast: Forecast, base: Scenario, raw: Mapping[str, Any], *, file: str | Path
) -> tuple[dict[str, Any], Scenario]:
    """The base scenario (validated as ``base``, read as ``raw`` from ``file``) on the forecast
    horizon with the forecast traffic: the data to write and the scenario it validates to.

    Every channel of the base needs a forecast (:class:`ForecastError` naming it otherwise);
    channels forecast but not in the base are left out (:func:`left_out` lists them). The
    forecast's interval must be the base's.
    """
    if abs(forecast.interval - base.interval) > 1e-9:
        raise ForecastError(
            f"the forecast's interval ({format_duration(forecast.interval)}) is not the "
            f"scenario's ({format_duration(base.interval)})",
            parameter="interval",
        )
    missing = [name for name in base.channels if name not in forecast.channels]
    if missing:
        raise ForecastError(
            f"the logs have no conversations of channel {missing[0]!r} of the scenario "
            f"(the logs' channels: {', '.join(forecast.channels)})",
            channel=missing[0],
        )
    start = forecast.start_weekday * DAY
    length = forecast.days * DAY
    data: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("start", "duration"):
            continue
        data[key] = value
        if key == "name":
            data["name"] = f"{base.name}-forecast"
            data["start"] = horizon_start(forecast)
            data["duration"] = f"{forecast.days}d"
    data.setdefault("start", horizon_start(forecast))
    data.setdefault("duration", f"{forecast.days}d")
    data["channels"] = {
        name: {**dict(raw["channels"][name]), **channel_keys(forecast, name)}
        for name in raw["channels"]
    }
    data["agents"] = [
        _carry_group(base, group, dict(raw_group), start, length)
        for group, raw_group in zip(base.agents, raw["agents"], strict=True)
    ]
    try:
        scenario = parse_scenario(data, file=file)
    except InputError as error:
        raise InputError(
            f"the forecast scenario would not be valid: {error.key}: {error.problem}",
            file=file,
        ) from None
    return data, scenario


def left_out(forecast: Forecast, base: Scenario) -> list[str]:
    """Channels of the logs that the base scenario does not have."""
    return [name for name in forecast.channels if name not in base.channels]


# -- the roster on the horizon -------------------------------------------------------------------


def _period(base: Scenario) -> float:
    """A base of at most a day is a typical day; a longer one a week."""
    return DAY if base.duration <= DAY + 1e-9 else WEEK


def _carry_group(
    base: Scenario, group: AgentGroup, raw: dict[str, Any], start: float, length: float
) -> dict[str, Any]:
    """One agent group with its shifts or staffing carried onto ``[start, start + length)``
    (seconds after Monday 00:00)."""
    period = _period(base)
    origin = float(base.start) % period
    if group.staffing is not None:
        per = base.interval
        staffing = []
        for j in range(round(length / per)):
            index = math.floor(((start + j * per - origin) % period) / per + 1e-9)
            staffing.append(group.staffing[index] if index < base.n_intervals else 0)
        raw["staffing"] = staffing
    if group.shifts is not None:
        raw["shifts"] = [
            piece
            for shift, raw_shift in zip(group.shifts, raw["shifts"], strict=True)
            for piece in _shift_pieces(base, shift, dict(raw_shift), start, length)
        ]
    return raw


def _shift_pieces(
    base: Scenario, shift: Shift, raw: dict[str, Any], start: float, length: float
) -> list[dict[str, Any]]:
    """Every occurrence of a shift of the base's daily or weekly pattern inside the horizon,
    cut at its ends, as raw shifts with day clocks."""
    period = _period(base)
    login, logout = base.shift_window(shift)
    span = logout - login
    begin = (float(base.start) % period + login) % period
    pieces = []
    first = math.floor((start - begin - span) / period)
    last = math.ceil((start + length - begin) / period)
    for k in range(first, last + 1):
        opens = begin + k * period
        lo, hi = max(opens, start), min(opens + span, start + length)
        if hi - lo <= 1e-9:
            continue
        piece = {**raw, "start": _clock(lo), "end": _clock(hi, end=True)}
        if lo > opens + 1e-9 or hi < opens + span - 1e-9:
            kept = _breaks_that_fit(shift, raw.get("breaks") or [], lo - opens, lo, hi - lo)
            if kept:
                piece["breaks"] = kept
            else:
                piece.pop("breaks", None)
        pieces.append(piece)
    return pieces


def _breaks_that_fit(
    shift: Shift, raw_breaks: Sequence[Any], cut: float, opens: float, span: float
) -> list[Any]:
    """The breaks of a shift cut short (``cut`` seconds off its start, ``span`` left from
    ``opens``) that still fit inside it; an ``after`` counts from the new start."""
    kept = []
    # Only its start matters to where its breaks fall; it is not validated (a clock is read
    # from text), so it is built as is.
    piece = Shift.model_construct(start=WeekTime(opens % WEEK), end=WeekTime(opens), count=0)
    for pause, raw_pause in zip(shift.breaks, raw_breaks, strict=True):
        if pause.after is not None:
            after = pause.after - cut
            if after <= 0:
                continue
            raw_pause = {**dict(raw_pause), "after": format_duration(after)}
            pause = Break.model_construct(length=pause.length, after=after, paid=pause.paid)
        earliest, latest = piece.break_starts(pause)
        if earliest > 0 and latest >= earliest and latest + pause.length <= span + 1e-9:
            kept.append(raw_pause)
    return kept


def _clock(position: float, *, end: bool = False) -> str:
    """``"Tue 07:00"`` of a position in seconds after a Monday 00:00 (less than two weeks on);
    an end at a week's end is ``"Sun 24:00"``."""
    if end and position > WEEK:
        position -= WEEK
    return format_day_clock(position if end else position % WEEK)


# -- the file ------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Writes YAML aliases out (a base's ``*weekday`` profile was shared; the copy is plain)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(
    data: Mapping[str, Any], forecast: Forecast, header: Sequence[str], *, base: bool = True
) -> str:
    """YAML text of ``data`` (a scenario or a fragment) with ``header`` lines as the opening
    comment and each channel's forecast as a comment above it."""
    text = yaml.dump(
        dict(data),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=None,
        width=100,
        allow_unicode=True,
    )
    lines = text.splitlines()
    out = [f"# {line}".rstrip() for line in header]
    in_channels = False
    for line in lines:
        if line == "channels:":
            in_channels = True
        elif line and not line.startswith(" "):
            in_channels = False
        name = line.strip().removesuffix(":")
        if in_channels and line == f"  {name}:" and name in forecast.channels:
            out.extend(f"  # {row}".rstrip() for row in channel_comment(forecast, name))
        out.append(line)
    return "\n".join(out) + "\n"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _interval(low: float, high: float) -> str:
    return f"{_count(low):>7} – {_count(high):<7}"


def channel_comment(forecast: Forecast, name: str) -> list[str]:
    """What a channel's forecast is: the model, each day with its 80% and 95% intervals, the
    horizon's total and cv, and the backtest against the seasonal-naive forecast."""
    channel = forecast.channels[name]
    series = channel.series
    first = forecast.window.last - channel.history_days + 1
    rows = [
        f"{name}: {series.model} on log(1 + daily count), fitted to {channel.history_days} days "
        f"({date_of(first).isoformat()} to {date_of(forecast.window.last).isoformat()})",
        f"  {'day':<15} {'mean':>7}   {'80% interval':^17}   {'95% interval':^17}",
    ]
    for day, spread in zip(forecast.forecast_days, series.days, strict=True):
        rows.append(
            f"  {day_label(day):<15} {_count(spread.mean):>7}   "
            f"{_interval(spread.lo80, spread.hi80)}   {_interval(spread.lo95, spread.hi95)}"
        )
    total = series.total
    rows.append(
        f"  {'total':<15} {_count(total.mean):>7}   {_interval(total.lo80, total.hi80)}   "
        f"{_interval(total.lo95, total.hi95)}   cv {channel.cv:.3f}"
    )
    if forecast.origins > 0:
        rows.extend(f"  {row}" for row in backtest_lines(channel, forecast.days))
    return rows


def backtest_lines(channel: ChannelForecast, days: int) -> list[str]:
    """The backtest in two lines (or why there is none)."""
    test = channel.backtest
    if test is None:
        return [
            f"backtest: none (it needs {MIN_DAYS + days} days of history: {MIN_DAYS} to fit, "
            f"{days} to forecast)"
        ]
    origins = len(test.origins)
    return [
        f"backtest, {origins} origin{'s' if origins > 1 else ''} a week apart, {test.horizon} "
        "days ahead each, against the seasonal-naive forecast:",
        f"  MAPE {test.mape:.1f}% (naive {test.naive_mape:.1f}%), MASE {test.mase:.2f} "
        f"(naive {test.naive_mase:.2f})",
        "  MASE by day ahead: " + " ".join(f"{h.mase:.2f}" for h in test.per_horizon),
        "             (naive) " + " ".join(f"{h.naive_mase:.2f}" for h in test.per_horizon),
        f"  the 80% and 95% intervals held {test.coverage80:.0%} and {test.coverage95:.0%} of "
        f"the days (models chosen: {', '.join(sorted(set(test.models)))})",
    ]


def header_lines(
    forecast: Forecast,
    *,
    command: str,
    base: str | None,
    notes: Sequence[str] = (),
) -> list[str]:
    """The opening comment: what the file is, from what, and how it was made (wrapped at 96
    columns; the command line on a line of its own)."""
    window = forecast.window
    last = forecast.forecast_days[-1]
    what = (
        f"the scenario {base} on the forecast horizon"
        if base is not None
        else "a fragment of a scenario (start, duration, interval and the channels' traffic): "
        "put it into a scenario with the channels' other keys and agents"
    )
    paragraphs = [
        f"Forecast of {forecast.days} day{'s' if forecast.days > 1 else ''}, "
        f"{day_label(forecast.first_day)} to {day_label(last)}, from conversation logs of "
        f"{window.days} whole days ({date_of(window.first).isoformat()} to "
        f"{date_of(window.last).isoformat()}, local time). This is {what}.",
        "Per channel: volume is the expected conversations over the horizon, the sum of "
        "day_weights, each day's expected conversations; profile is each weekday's intraday "
        "shape, percent of the day per interval, recency-weighted over the history (half-life "
        f"{forecast.half_life:g} days). start and duration are the forecast days from 00:00 of "
        "the first (a horizon may start on any weekday and be shorter than a week).",
    ]
    if base is not None:
        paragraphs.append(
            "Agents: the base's roster carried onto the horizon, as a typical day repeated (a "
            "base of at most 24 hours) or as a weekly pattern (a longer one); shifts crossing an "
            "end of the horizon are cut there, keeping the breaks that still fit."
        )
    paragraphs.append(
        "Model of daily counts, per channel: ETS (statsmodels' ETSModel) on log(1 + count), "
        "additive errors and weekly seasonality, the trend (none A,N,A; additive A,A,A; damped "
        "A,Ad,A) chosen by AICc; intervals and means from simulated paths. Backtest: the same "
        "method forecast from origins a week apart in the last weeks, each from the days before "
        "it, against the seasonal-naive forecast (the same weekday a week earlier)."
    )
    for day, missing in window.dropped:
        paragraphs.append(
            f"Note: {day_label(day)} is left out of the history: the logs cover it only in part "
            f"(about {missing:.0%} of a day's conversations missing)."
        )
    paragraphs += [f"Note: {note}" for note in notes]
    lines = [*textwrap.wrap(paragraphs[0], 96), "Written by:", f"  {command}"]
    for paragraph in paragraphs[1:]:
        lines += textwrap.wrap(paragraph, 96)
    return lines
