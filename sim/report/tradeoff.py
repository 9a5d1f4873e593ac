"""The planner's trade-off: each target KPI over the day against the agent-hours of every
staffing the planner tried, with the target and the reach of unlimited staff, so that a planner
sees what the last points of a target cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sim.catalogue import Unit
from sim.catalogue import kpi as kpi_of
from sim.report import style
from sim.report.html import Section, figure
from sim.report.style import new_figure, render


def tradeoff_section(
    points: Sequence[tuple[float, Mapping[str, float | None]]],
    targets: Mapping[str, float],
    reach: Mapping[str, float | None],
) -> Section:
    """A figure with one panel per target: the day's value against agent-hours tried.

    ``points`` are ``(agent_hours, {kpi: value})``; ``reach`` what unlimited staff attains.
    """
    keys = list(targets)
    plot = new_figure(3.2 * max(1, (len(keys) + 1) // 2))
    axes = np.atleast_1d(
        plot.subplots((len(keys) + 1) // 2, min(2, len(keys)), squeeze=False)
    ).ravel()
    ordered = sorted(points, key=lambda p: p[0])
    for ax, key in zip(axes, keys, strict=False):
        entry = kpi_of(key)
        style.style_axes(ax)
        x = np.array([hours for hours, _ in ordered])
        y = np.array(
            [np.nan if values.get(key) is None else values[key] for _, values in ordered],
            dtype=float,
        )
        ax.plot(x, y, marker="o", color=style.RUN_COLOURS[0], linewidth=1.2, label="staffing tried")
        style.target_line(ax, targets[key], "target")
        limit = reach.get(key)
        if limit is not None:
            ax.axhline(
                limit,
                color=style.GOOD,
                linestyle=":",
                linewidth=1.2,
                label="reach (unlimited staff)",
            )
        ax.set_title(f"{entry.heading} over the day", loc="left", fontsize=10.5)
        ax.set_xlabel("agent-hours")
        if entry.unit is Unit.RATE:
            style.percent_axis(ax)
        else:
            ax.set_ylabel("seconds")
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    style.figure_legend(plot, axes[0])
    body = figure(
        render(plot),
        "target KPIs against agent-hours",
        "Every staffing the planner simulated: each target KPI over the day against its "
        "agent-hours. Dashed red: the target; dotted green: what unlimited staff reaches. Where "
        "the curve flattens near the target, the last points cost the most.",
    )
    return Section("tradeoff", "Trade-off: KPIs against agent-hours", body)
