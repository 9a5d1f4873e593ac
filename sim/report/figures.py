"""The report's figures over the day: one function per plot, each returning a PNG data URI.

Channel colours are the same in every figure; when a report holds several results files
(prediction and measurement), plots over all channels draw one series per file, and plots by
channel draw the first file stacked with the others' totals as lines.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from sim.catalogue import Unit
from sim.catalogue import kpi as kpi_of
from sim.report import style
from sim.report.runs import Context, Run, Series, interval_series
from sim.report.style import new_figure, render

_MINUTES = "min"


def _per_interval(run: Run) -> str:
    minutes = run.results.interval / 60.0
    return f"per {minutes:g} {_MINUTES}" if minutes < 60 else f"per {minutes / 60:g} h"


def _stacked_by_channel(
    ax: Axes, context: Context, kpis: tuple[str, ...], scale: float = 1.0
) -> np.ndarray | None:
    """Stack the primary run's per-channel sum of ``kpis`` as bars; returns the stack's top."""
    run = context.primary
    bottom: np.ndarray | None = None
    for name in context.channels:
        parts = [interval_series(run, kpi, context.origin, name) for kpi in kpis]
        if parts[0].x.size == 0:
            continue
        height = np.nansum([p.mean for p in parts], axis=0) * scale
        if not height.any():
            continue
        base = np.zeros_like(height) if bottom is None else bottom
        ax.bar(
            parts[0].x,
            height,
            width=parts[0].width,
            bottom=base,
            align="edge",
            color=context.colours[name],
            label=name,
            linewidth=0,
        )
        bottom = base + height
    return bottom


def _other_totals(ax: Axes, context: Context, kpis: tuple[str, ...], scale: float = 1.0) -> None:
    """Totals over all channels of the runs after the first, as black step lines."""
    for run in context.runs[1:]:
        parts = [interval_series(run, kpi, context.origin) for kpi in kpis]
        if parts[0].x.size == 0:
            continue
        total = np.nansum([p.mean for p in parts], axis=0) * scale
        xs, ys = style.steps(parts[0].x, parts[0].width, total)
        ax.step(
            xs,
            ys,
            where="post",
            color="#212529",
            linestyle=style.run_style(run.index),
            linewidth=1.4,
            label=f"{run.label}: all channels",
        )


def arrivals(context: Context) -> str:
    """Conversations arriving per interval (offered to agents + contained by a bot), stacked
    by channel."""
    figure = new_figure(4.2)
    ax = figure.subplots()
    style.style_axes(ax)
    run = context.primary
    top = _stacked_by_channel(ax, context, ("offered", "bot_contained"))
    if top is None:
        style.message(ax, "no per-interval rows in the results")
        return render(figure)
    bot = interval_series(run, "bot_contained", context.origin)
    if np.nansum(bot.mean) > 0:
        xs, ys = style.steps(bot.x, bot.width, bot.mean)
        ax.step(
            xs,
            ys,
            where="post",
            color="#212529",
            linestyle=":",
            linewidth=1.4,
            label="of which contained by a bot (all channels)",
        )
    _other_totals(ax, context, ("offered", "bot_contained"))
    style.shade_misses(ax, context.missed_spans())
    style.clock_axis(ax, *context.span)
    ax.set_xlabel("interval start (clock time)")
    ax.set_ylabel(f"conversations {_per_interval(run)}")
    ax.set_title(
        f"Arrivals by channel: offered to agents + contained by a bot · {run.label}", loc="left"
    )
    style.legend(ax, ncol=4, loc="upper left")
    ax.set_ylim(0, float(np.nanmax(top)) * 1.25 or 1.0)
    return render(figure)


def _bands(ax: Axes, context: Context, kpi: str) -> list[Series]:
    """Each run's per-interval ``kpi`` (all channels) as a step line with its 95% band."""
    drawn = []
    for run in context.runs:
        s = interval_series(run, kpi, context.origin)
        style.step_band(
            ax, s.x, s.width, s.mean, s.ci, colour=style.run_colour(run.index),
            label=run.label + (" (band: 95% CI)" if s.has_ci else ""),
        )  # fmt: skip
        drawn.append(s)
    return drawn


def service(context: Context) -> str:
    """Service level, missed rate and mean first response per interval, all channels, with
    95% confidence bands; the scenario's targets as dashed lines."""
    figure = new_figure(8.4)
    axes = figure.subplots(3, 1, sharex=True)
    targets = dict(context.scenario.targets.items()) if context.scenario else {}
    for ax, kpi in zip(axes, ("service_level", "missed_rate", "frt_mean"), strict=True):
        entry = kpi_of(kpi)
        title = f"{entry.heading}: {entry.description}"
        ylabel = entry.label + (" (s)" if entry.unit is Unit.SECONDS else "")
        target = targets.get(kpi)
        style.style_axes(ax)
        lowest = 1.0 if target is None else target
        for s in _bands(ax, context, kpi):
            if np.isfinite(s.mean).any():
                lowest = min(lowest, float(np.nanmin(s.mean - np.nan_to_num(s.ci))))
        if target is not None:
            style.target_line(ax, target, "target")
        ax.set_title(title, loc="left")
        ax.set_ylabel(ylabel)
        if kpi == "service_level":  # service levels live near the top: zoom in, say so
            ax.set_ylim(max(0.0, np.floor(lowest * 10 - 0.5) / 10), 1.01)
        else:
            ax.set_ylim(bottom=0)
        if entry.unit is Unit.RATE:
            style.percent_axis(ax)
    style.figure_legend(figure, axes[0], axes[-1])
    for ax in axes:
        style.shade_misses(ax, context.missed_spans())
    style.clock_axis(axes[-1], *context.span)
    axes[-1].set_xlabel("interval of queue entry (clock time)")
    return render(figure)


def utilisation(context: Context) -> str:
    """Occupancy and slot utilisation of the agents per interval, with confidence bands."""
    figure = new_figure(5.8)
    axes = figure.subplots(2, 1, sharex=True)
    for ax, kpi in zip(axes, ("occupancy", "slot_utilisation"), strict=True):
        entry = kpi_of(kpi)
        title = f"{entry.heading}: {entry.description}"
        style.style_axes(ax)
        _bands(ax, context, kpi)
        ax.set_title(title, loc="left")
        ax.set_ylabel(entry.label)
        style.percent_axis(ax)
        ax.set_ylim(0, 1.05)
    style.figure_legend(figure, axes[0])
    for ax in axes:
        style.shade_misses(ax, context.missed_spans())
    style.clock_axis(axes[-1], *context.span)
    axes[-1].set_xlabel("interval (clock time)")
    return render(figure)


def wasted(context: Context) -> str:
    """Slot time held by silently abandoned conversations, per interval and per channel, in
    slot-hours."""
    figure = new_figure(4.4)
    left, right = figure.subplots(1, 2, width_ratios=[3, 1])
    for ax in (left, right):
        style.style_axes(ax)
    hours = 1 / 3600.0
    run = context.primary
    top = _stacked_by_channel(left, context, ("wasted_slot_seconds",), hours)
    _other_totals(left, context, ("wasted_slot_seconds",), hours)
    style.shade_misses(left, context.missed_spans())
    style.clock_axis(left, *context.span)
    left.set_xlabel("interval of queue entry (clock time)")
    left.set_ylabel(f"slot-hours {_per_interval(run)}")
    total = (run.results.total.get("wasted_slot_seconds") or {}).get("mean") or 0.0
    left.set_title(
        f"Capacity wasted on customers who silently left: {total * hours:.1f} slot-hours "
        f"in total · {run.label}",
        loc="left",
    )
    style.legend(left, ncol=3, loc="upper left")
    if top is not None and np.nanmax(top) > 0:
        left.set_ylim(0, float(np.nanmax(top)) * 1.3)
    _wasted_by_channel(right, context)
    return render(figure)


def _wasted_by_channel(ax: Axes, context: Context) -> None:
    names = context.channels
    count = len(context.runs)
    height = 0.8 / count
    y = np.arange(len(names))
    for run in context.runs:
        stats = [run.results.channels.get(n, {}).get("wasted_slot_seconds") or {} for n in names]
        means = np.array([s.get("mean") or 0.0 for s in stats], dtype=float) / 3600.0
        cis = np.array([s.get("ci95") or 0.0 for s in stats], dtype=float) / 3600.0
        offset = (run.index - (count - 1) / 2) * height
        ax.barh(
            y + offset,
            means,
            height=height * 0.9,
            xerr=cis if cis.any() else None,
            color=[context.colours[n] for n in names],
            alpha=1.0 if run.index == 0 else 0.55,
            hatch=None if run.index == 0 else "//",
            edgecolor="white",
            label=run.label,
            error_kw={"elinewidth": 1, "ecolor": "#343a40"},
        )
        for position, amount, spread in zip(y + offset, means, cis, strict=True):
            ax.text(
                amount + spread,
                position,
                f"  {amount:.1f}",
                va="center",
                fontsize=8.5,
                color="#343a40",
            )
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("slot-hours (whole horizon)")
    ax.set_xlim(0, ax.get_xlim()[1] * 1.15)
    ax.set_title("By channel", loc="left")
    if count > 1:
        style.legend(ax, loc="lower right")
