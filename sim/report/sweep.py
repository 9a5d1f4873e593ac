"""The sweep report: service level and missed rate over the grid (a line chart for one axis, heat
maps for two, one pair of heat maps per value of the other axes beyond), the cheapest point
meeting the targets marked and stated, and the table of every point."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from sim.catalogue import kpi as kpi_of
from sim.report import style
from sim.report.html import Section, esc, figure, page, table
from sim.report.style import new_figure, render
from sim.sweep import Point, Sweep

MAPPED = ("service_level", "missed_rate")
"""The KPIs drawn over the grid."""

MAX_FACETS = 8
"""The most combinations of the third and later axes drawn as heat maps."""

COLUMNS = ("service_level", "missed_rate", "frt_mean", "insession_mean", "occupancy")
"""The KPIs of the report's table."""


def _mean(point: Point, key: str) -> float:
    value = point.results.total.get(key, {}).get("mean")
    return math.nan if value is None else float(value)


def _ci(point: Point, key: str) -> float:
    value = point.results.total.get(key, {}).get("ci95")
    return 0.0 if value is None else float(value)


def _where(sweep: Sweep, point: Point) -> str:
    return ", ".join(
        f"{axis.name} {axis.text(v)}" for axis, v in zip(sweep.axes, point.values, strict=True)
    )


def cheapest_statement(sweep: Sweep) -> str:
    """The cheapest point meeting the targets, in a sentence (HTML)."""
    targets = "; ".join(
        f"{kpi_of(key).label} {'at least' if kpi_of(key).better > 0 else 'at most'} "
        f"{kpi_of(key).text(value)}"
        for key, value in sweep.scenario.targets.items()
    )
    if not sweep.has_targets:
        return '<p class="note">The scenario sets no targets: no point is marked.</p>'
    best = sweep.cheapest()
    if best is None:
        return (
            f'<p class="warn">No point of the grid meets the targets ({esc(targets)}) on the '
            "means: widen the grid towards more agents or less load.</p>"
        )
    return (
        f'<p><span class="badge pass">cheapest meeting the targets</span> point #{best.index}: '
        f"<b>{esc(_where(sweep, best))}</b>, cost {best.cost:,.1f} "
        f"({best.agent_hours:,.1f} scheduled agent-hours); service level "
        f"{esc(kpi_of('service_level').text(_mean(best, 'service_level')))}, missed "
        f"{esc(kpi_of('missed_rate').text(_mean(best, 'missed_rate')))}.</p>"
        f'<p class="note">Targets: {esc(targets or "per channel only")}. A point meets them when '
        "its means over the replications do (in total and each channel's own targets); the "
        "cheapest is the one of least cost (agent-hours times each group's cost).</p>"
    )


def _line(sweep: Sweep) -> str:
    axis = sweep.axes[0]
    plot = new_figure(3.4)
    panels = plot.subplots(1, len(MAPPED), squeeze=False).ravel()
    x = np.array([p.values[0] for p in sweep.points], dtype=float)
    best = sweep.cheapest()
    targets = dict(sweep.scenario.targets.items())
    for ax, key in zip(panels, MAPPED, strict=True):
        style.style_axes(ax)
        y = np.array([_mean(p, key) for p in sweep.points])
        ci = np.array([_ci(p, key) for p in sweep.points])
        ax.plot(x, y, marker="o", color=style.RUN_COLOURS[0], linewidth=1.4, label="mean")
        ax.fill_between(x, y - ci, y + ci, color=style.RUN_COLOURS[0], alpha=0.18, linewidth=0,
                        label="95% CI")  # fmt: skip
        if key in targets:
            style.target_line(ax, targets[key], "target")
        if best is not None:
            ax.plot(
                [best.values[0]],
                [_mean(best, key)],
                marker="*",
                markersize=16,
                color=style.GOOD,
                linestyle="none",
                label="cheapest meeting targets",
            )
        ax.set_title(kpi_of(key).heading, loc="left", fontsize=10.5)
        ax.set_xlabel(f"{axis.name} ({axis.unit})")
        if len(axis.values) <= 15:
            ax.set_xticks(x, [axis.text(v) for v in axis.values], fontsize=8)
        style.percent_axis(ax)
    style.figure_legend(plot, *panels)
    return figure(
        render(plot),
        "service level and missed rate along the sweep",
        f"Each point's mean over {sweep.replications} replications with its 95% confidence "
        "band; the points share their draws (common random numbers), so differences between "
        "neighbours are surer than the bands suggest. Dashed red: the target; green star: the "
        "cheapest point meeting the targets.",
    )


def _heat(ax: Axes, sweep: Sweep, points: Sequence[Point], key: str, title: str) -> None:
    rows, cols = sweep.axes[0], sweep.axes[1]
    values = np.full((len(rows.values), len(cols.values)), np.nan)
    where: dict[int, tuple[int, int]] = {}
    for point in points:
        i, j = rows.values.index(point.values[0]), cols.values.index(point.values[1])
        values[i, j] = _mean(point, key)
        where[point.index] = (i, j)
    entry = kpi_of(key)
    cmap = "RdYlGn" if entry.better > 0 else "RdYlGn_r"
    top = 1.0 if entry.better > 0 else max(0.05, float(np.nanmax(values)))
    image = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap, vmin=0.0, vmax=top)
    ax.figure.colorbar(image, ax=ax, format=lambda v, _p: f"{v * 100:.0f}%")
    if values.size <= 120:
        for (i, j), value in np.ndenumerate(values):
            if math.isfinite(value):
                ax.text(j, i, f"{value * 100:.0f}", ha="center", va="center", fontsize=7.5)
    best = sweep.cheapest()
    if best is not None and best.index in where:
        i, j = where[best.index]
        ax.plot([j], [i], marker="s", markersize=22, markerfacecolor="none",
                markeredgecolor="black", markeredgewidth=2.2, linestyle="none",
                label="cheapest meeting targets")  # fmt: skip
    ax.set_xticks(range(len(cols.values)), [cols.text(v) for v in cols.values], fontsize=8)
    ax.set_yticks(range(len(rows.values)), [rows.text(v) for v in rows.values], fontsize=8)
    ax.set_xlabel(f"{cols.name} ({cols.unit})")
    ax.set_ylabel(f"{rows.name} ({rows.unit})")
    ax.set_title(title, loc="left", fontsize=10)


def _heat_maps(sweep: Sweep) -> tuple[str, str]:
    rest = sweep.axes[2:]
    combos = list(itertools.product(*(axis.values for axis in rest)))
    shown = combos[:MAX_FACETS]
    plot = new_figure(3.6 * len(shown))
    panels = plot.subplots(len(shown), len(MAPPED), squeeze=False)
    for row, combo in zip(panels, shown, strict=True):
        points = [p for p in sweep.points if tuple(p.values[2:]) == combo]
        facet = ", ".join(f"{a.name} {a.text(v)}" for a, v in zip(rest, combo, strict=True))
        for ax, key in zip(row, MAPPED, strict=True):
            title = kpi_of(key).heading + (f" at {facet}" if facet else "")
            _heat(ax, sweep, points, key, title)
    note = ""
    if len(combos) > len(shown):
        note = (
            f"The grid has {len(combos)} combinations of its third and later axes; the first "
            f"{len(shown)} are drawn, every point is in the table and the CSV."
        )
    caption = (
        f"Means over {sweep.replications} replications, in percent; the black square marks the "
        "cheapest point meeting the targets. The points share their draws (common random "
        "numbers)."
    )
    return figure(render(plot), "service level and missed rate over the grid", caption), note


def _points_table(sweep: Sweep) -> str:
    best = sweep.cheapest()
    header = ["#", *(esc(a.name) for a in sweep.axes)]
    header += [esc(kpi_of(k).short) for k in COLUMNS] + ["agent-h", "cost", "targets"]
    rows = []
    for point in sweep.points:
        cells = [str(point.index)]
        cells += [esc(a.text(v)) for a, v in zip(sweep.axes, point.values, strict=True)]
        for key in COLUMNS:
            stat = point.results.total.get(key, {})
            cells.append(esc(kpi_of(key).with_ci(stat.get("mean"), stat.get("ci95"), compact=True)))
        cells += [f"{point.agent_hours:,.1f}", f"{point.cost:,.1f}"]
        if not sweep.has_targets:
            cells.append("–")
        elif best is not None and point.index == best.index:
            cells.append('<td class="pass">cheapest</td>')
        else:
            cells.append('<td class="pass">met</td>' if point.meets else '<td class="fail">no</td>')
        rows.append(cells)
    return table(header, rows)


def sweep_sections(sweep: Sweep) -> list[Section]:
    sections = [
        Section("cheapest", "Cheapest point meeting the targets", cheapest_statement(sweep))
    ]
    if len(sweep.axes) == 1:
        body = _line(sweep)
    else:
        body, note = _heat_maps(sweep)
        if note:
            body += f'<p class="note">{esc(note)}</p>'
    sections.append(Section("grid", "Service level and missed rate over the grid", body))
    sections.append(Section("points", "Every point (all channels)", _points_table(sweep)))
    return sections


def sweep_report(sweep: Sweep) -> str:
    """The whole HTML page of a sweep."""
    axes = "; ".join(f"{a.name}: {', '.join(a.text(v) for v in a.values)}" for a in sweep.axes)
    subtitle = [
        f"scenario {sweep.scenario.name}: {len(sweep.points)} points, {sweep.replications} "
        f"replications each, seed {sweep.seed}, common random numbers",
        axes,
    ]
    return page(f"Sweep of {sweep.scenario.name}", subtitle, sweep_sections(sweep))
