"""The figures of the planner's page (:mod:`sim.report.plan`), each a matplotlib figure not yet
rendered, so that tests can read what was drawn (artists carry a ``gid`` naming what they are).

Time runs along x in hours after midnight of the scenario's first day (interval ``j`` starts at
``start + j * interval``), labelled as clock times. The page draws:

* :func:`requirement`: per planned group (and all of them together when there are several), the
  agents scheduled by the shifts as bars against the planner's requirement as a step line, the
  fluid load (no safety margin) dotted, and below it the over/under per interval (scheduled
  minus required: green above, red below). Where every group of the scenario is planned, an
  Erlang C estimate may be drawn as well, labelled as the approximation it is.
* :func:`timeline`: every shift as a horizontal bar across the day with its head count, breaks
  hatched on it (paid and unpaid apart).
* :func:`kpis`: each target KPI per interval as the verification estimated it, with its 95%
  band, the limit it is held to, and a cross on every interval the verification shows missing
  it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sim.catalogue import Unit
from sim.catalogue import kpi as kpi_of
from sim.durations import format_clock
from sim.report import style
from sim.report.capacity import ESTIMATE_LABEL, GROUP_COLOURS
from sim.report.staffing import ErlangEstimate
from sim.report.style import new_figure

if TYPE_CHECKING:
    from sim.planner import Plan

REQUIRED_COLOUR = "#1f4e79"
LOAD_COLOUR = "#495057"
SHIFT_EDGE = "#1f4e79"
NOISE_COLOUR = "#f08c00"

#: Two-sided 95% of a normal estimate: the half-width of the KPI bands is this many standard
#: errors.
Z_BAND = 1.96


class Break(Protocol):
    """A break within a shift: ``length`` intervals from interval ``first`` (absolute index)."""

    @property
    def first(self) -> int: ...

    @property
    def length(self) -> int: ...

    @property
    def paid(self) -> bool: ...


class Block(Protocol):
    """A shift of ``count`` agents over intervals ``[first, first + length)``
    (:class:`sim.shifts.ShiftBlock`); it may carry ``breaks`` and a ``template`` name."""

    @property
    def first(self) -> int: ...

    @property
    def length(self) -> int: ...

    @property
    def count(self) -> int: ...


def breaks_of(block: Block) -> list[Break]:
    """The block's breaks, if shifts carry any (older plans have none)."""
    return list(getattr(block, "breaks", ()) or ())


def template_of(block: Block) -> str | None:
    """The name of the shift template the block follows, if the planner names one."""
    name = getattr(block, "template", None)
    return None if name is None else str(name)


@dataclass(frozen=True, slots=True)
class Axis:
    """The page's time axis: where interval ``j`` starts, in hours, and how wide it is."""

    origin: float
    width: float
    count: int

    @classmethod
    def of(cls, plan: Plan) -> Axis:
        scenario = plan.scenario
        return cls(scenario.start / 3600.0, scenario.interval / 3600.0, scenario.n_intervals)

    def x(self, j: int | float) -> float:
        return self.origin + j * self.width

    @property
    def starts(self) -> np.ndarray:
        return self.origin + np.arange(self.count) * self.width

    @property
    def span(self) -> tuple[float, float]:
        return self.origin, self.x(self.count)

    def spans(self, intervals: Sequence[int]) -> list[tuple[float, float]]:
        """``(start, width)`` of each interval, for :func:`sim.report.style.shade_misses`."""
        return [(self.x(j), self.width) for j in intervals]


def _group_colour(plan: Plan, group: str) -> str:
    names = [g.group for g in plan.scenario.agents]
    index = names.index(group) if group in names else len(names)
    return GROUP_COLOURS[index % len(GROUP_COLOURS)]


ALL_PLANNED = "all planned groups"


def panels(plan: Plan) -> list[str]:
    """The requirement figure's panels: each planned group, then all of them when several."""
    return list(plan.groups) + ([ALL_PLANNED] if len(plan.groups) > 1 else [])


def series(plan: Plan, panel: str) -> tuple[list[int], list[int], list[float]]:
    """Required, scheduled and fluid load per interval of a panel (a group, or all planned)."""
    groups = plan.groups if panel == ALL_PLANNED else [panel]
    n = plan.scenario.n_intervals
    required = [sum(plan.required[g][j] for g in groups) for j in range(n)]
    scheduled = [sum(plan.on_shift[g][j] for g in groups) for j in range(n)]
    load = [sum(plan.load[g][j] for g in groups) for j in range(n)]
    return required, scheduled, load


def rostered_series(plan: Plan, panel: str) -> list[int] | None:
    """Agents the shifts must have on per interval for the requirement to be at work, net of
    shrinkage and absence; None where that is the requirement itself (no shrinkage, no
    absence)."""
    groups = plan.groups if panel == ALL_PLANNED else [panel]
    n = plan.scenario.n_intervals
    rostered = [sum(plan.rostered.get(g, plan.required[g])[j] for g in groups) for j in range(n)]
    required = [sum(plan.required[g][j] for g in groups) for j in range(n)]
    return None if rostered == required else rostered


def estimate_panel(plan: Plan) -> str | None:
    """The panel an Erlang C estimate belongs on: the one holding every agent of the scenario
    (none when some group keeps its own schedule, as the estimate counts every agent)."""
    if {g.group for g in plan.scenario.agents} != set(plan.groups):
        return None
    return panels(plan)[-1]


def requirement(
    plan: Plan, misses: Sequence[int] = (), estimate: ErlangEstimate | None = None
) -> Figure:
    """Scheduled against required per interval, and the over/under, per panel (:func:`panels`).

    ``misses`` are the intervals the verification shows missing a target (shaded);
    ``estimate``, when given, is drawn on :func:`estimate_panel` as an Erlang C estimate.
    """
    axis = Axis.of(plan)
    names = panels(plan)
    figure = new_figure(1.2 + 3.6 * len(names))
    axes = figure.subplots(
        2 * len(names), 1, sharex=True, height_ratios=[3.0, 1.2] * len(names), squeeze=False
    ).ravel()
    x = axis.starts
    on_estimate = estimate_panel(plan) if estimate is not None else None
    for i, name in enumerate(names):
        main, diff = axes[2 * i], axes[2 * i + 1]
        required, scheduled, load = series(plan, name)
        style.style_axes(main)
        colour = (
            _group_colour(plan, name) if name != ALL_PLANNED else GROUP_COLOURS[len(plan.groups)]
        )
        main.bar(
            x, scheduled, width=axis.width, align="edge", color=colour, linewidth=0,
            label="scheduled: agents on the planned shifts", gid=f"scheduled:{name}",
        )  # fmt: skip
        xs, ys = style.steps(x, axis.width, np.array(required, dtype=float))
        main.step(
            xs, ys, where="post", color=REQUIRED_COLOUR, linewidth=2.0,
            label="required: the planner's requirement (found with the model)",
            gid=f"required:{name}",
        )  # fmt: skip
        xs, ys = style.steps(x, axis.width, np.array(load, dtype=float))
        main.step(
            xs, ys, where="post", color=LOAD_COLOUR, linestyle=":", linewidth=1.4,
            label="fluid load: agents with no safety margin", gid=f"load:{name}",
        )  # fmt: skip
        rostered = rostered_series(plan, name)
        if rostered is not None:
            xs, ys = style.steps(x, axis.width, np.array(rostered, dtype=float))
            main.step(
                xs, ys, where="post", color=REQUIRED_COLOUR, linestyle="--", linewidth=1.4,
                label="rostered: required at work, grossed up for shrinkage and absence",
                gid=f"rostered:{name}",
            )  # fmt: skip
        if estimate is not None and name == on_estimate:
            xs, ys = style.steps(x, axis.width, estimate.agents[: x.size])
            main.step(
                xs, ys, where="post", color=style.BAD, linestyle="-.", linewidth=1.3,
                label=ESTIMATE_LABEL, gid="erlang-estimate",
            )  # fmt: skip
        hours = axis.width
        main.set_title(
            f"{name}: required {sum(required) * hours:,.1f} agent-hours, scheduled "
            f"{sum(scheduled) * hours:,.1f}",
            loc="left",
            fontsize=11,
        )
        main.set_ylabel("agents")
        top = max([*required, *scheduled, *load, *(rostered or []), 1])
        main.set_ylim(0, top * 1.3)
        main.yaxis.set_major_locator(MaxNLocator(integer=True))
        style.shade_misses(main, axis.spans(misses))
        style.legend(main, ncol=2, loc="upper left")
        # Over/under against what must be rostered: the gross-up is needed, not spare.
        _over_under(diff, axis, name, rostered or required, scheduled)
    style.clock_axis(axes[-1], *axis.span)
    axes[-1].set_xlabel("interval (clock time)")
    return figure


def _over_under(
    ax: Axes, axis: Axis, name: str, required: Sequence[int], scheduled: Sequence[int]
) -> None:
    """Scheduled minus required per interval: green bars above zero, red below."""
    style.style_axes(ax)
    difference = np.array(scheduled, dtype=float) - np.array(required, dtype=float)
    x = axis.starts
    for sign, colour, label in ((1, style.GOOD, "over"), (-1, style.BAD, "under")):
        chosen = difference * sign > 0
        if chosen.any():
            ax.bar(
                x[chosen], difference[chosen], width=axis.width, align="edge", color=colour,
                linewidth=0, label=label, gid=f"over-under:{name}",
            )  # fmt: skip
    ax.axhline(0, color="#343a40", linewidth=0.8)
    limit = max(1.0, float(np.abs(difference).max(initial=0.0)))
    ax.set_ylim(-limit * 1.25, limit * 1.25)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    ax.set_ylabel("over/under")
    style.legend(ax, ncol=2, loc="upper left")


def timeline(plan: Plan) -> Figure:
    """Every planned shift as a bar across the day with its head count; breaks hatched."""
    axis = Axis.of(plan)
    rows = [(g, block) for g in plan.groups for block in sorted(plan.shifts[g], key=_order)]
    figure = new_figure(1.4 + 0.42 * max(1, len(rows)))
    ax = figure.subplots()
    style.style_axes(ax)
    if not rows:
        style.message(ax, "No shifts: the planned groups have no load to cover.")
        return figure
    seen: set[str] = set()
    labels = []
    end = axis.span[1]
    for y, (group, block) in enumerate(rows):
        left, span = axis.x(block.first), block.length * axis.width
        end = max(end, left + span)
        ax.barh(
            y, span, left=left, height=0.62, color=_group_colour(plan, group),
            edgecolor=SHIFT_EDGE, linewidth=0.8, gid="shift",
        )  # fmt: skip
        ax.text(
            left + span / 2, y, f"{block.count} agent{'s' if block.count != 1 else ''}",
            ha="center", va="center", fontsize=8.5, color="#212529", zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.8,
                  "linewidth": 0},
        )  # fmt: skip
        for pause in breaks_of(block):
            kind = "paid" if pause.paid else "unpaid"
            label = f"{kind} break"
            ax.barh(
                y, pause.length * axis.width, left=axis.x(pause.first), height=0.62,
                color="white", edgecolor="#343a40", hatch="////" if pause.paid else "xxxx",
                linewidth=0.6, gid=f"break-{kind}", label=None if label in seen else label,
            )  # fmt: skip
            seen.add(label)
        template = template_of(block)
        start, stop = clock_at(plan, block.first), clock_at(plan, block.first + block.length)
        labels.append(f"{group}{f' · {template}' if template else ''} · {start}–{stop}")
    ax.set_yticks(range(len(rows)), labels, fontsize=9)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    style.clock_axis(ax, axis.origin, end)
    ax.set_xlabel("clock time")
    ax.set_title("Shifts and their head counts across the day", loc="left", fontsize=11)
    handles = [Patch(color=_group_colour(plan, g), label=g) for g in plan.groups]
    found, names = ax.get_legend_handles_labels()
    figure.legend(
        [*handles, *found], [*plan.groups, *names], ncol=6, loc="outside upper right",
        fontsize=8.5, frameon=False,
    )  # fmt: skip
    return figure


def _legend_once(ax: Axes) -> None:
    """A legend naming each label once (several scopes share the limit's style)."""
    unique: dict[str, Artist] = {}
    for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
        unique.setdefault(label, handle)
    if unique:
        ax.legend(
            list(unique.values()), list(unique), ncol=3, loc="best", fontsize=8.5, frameon=True,
            framealpha=0.85, edgecolor="none",
        )  # fmt: skip


def _order(block: Block) -> tuple[int, int]:
    return block.first, block.length


def clock_at(plan: Plan, index: int) -> str:
    """Clock time at which interval ``index`` starts (an interval edge; a shift or a break may
    name one past the horizon, across midnight)."""
    scenario = plan.scenario
    return format_clock(scenario.start + index * scenario.interval)


@dataclass(frozen=True, slots=True)
class Line:
    """One verified KPI of one scope per interval, what it is held to and where it misses."""

    scope: str
    kpi: str
    label: str
    values: list[float | None]
    se: list[float]
    limit: float | None
    """What each interval is held to (a target with --scope interval, a floor with day)."""
    day_target: float | None
    """The target over the day, drawn when the intervals are not held to it."""
    missed: list[int]
    noise: list[int]


def kpis(plan: Plan, lines: Sequence[Line], misses: Sequence[int] = ()) -> Figure:
    """One panel per target KPI: each scope's verified estimate per interval with its 95% band,
    the limit, crosses on the intervals shown missed, rings on those below within noise."""
    axis = Axis.of(plan)
    keys = list(dict.fromkeys(line.kpi for line in lines))
    figure = new_figure(1.0 + 2.6 * max(1, len(keys)))
    if not keys:
        ax = figure.subplots()
        style.message(ax, "The plan holds no KPI to a target per interval.")
        return figure
    axes = figure.subplots(len(keys), 1, sharex=True, squeeze=False).ravel()
    x = axis.starts
    middle = x + axis.width / 2
    for ax, key in zip(axes, keys, strict=True):
        entry = kpi_of(key)
        style.style_axes(ax)
        for i, line in enumerate(line for line in lines if line.kpi == key):
            colour = style.run_colour(i)
            mean = np.array([np.nan if v is None else v for v in line.values], dtype=float)
            spread = np.array([s if np.isfinite(s) else np.nan for s in line.se], dtype=float)
            style.step_band(
                ax, x, axis.width, mean, Z_BAND * spread, colour=colour,
                label=f"{line.label} (band: 95%)",
            )  # fmt: skip
            if line.limit is not None:
                limit_name = "target" if plan.scope == "interval" else "floor"
                ax.axhline(
                    line.limit, color=style.BAD, linestyle=(0, (4, 3)), linewidth=1.2,
                    label=f"{limit_name} per interval", gid=f"limit:{line.scope}:{key}",
                )  # fmt: skip
            if line.day_target is not None:
                ax.axhline(
                    line.day_target, color=style.BAD, linestyle=":", linewidth=1.2,
                    label="target over the day (not per interval)",
                )  # fmt: skip
            if line.missed:
                ax.scatter(
                    middle[line.missed], mean[line.missed], marker="X", s=70, color=style.BAD,
                    zorder=5, label="interval shown missing it (one-sided 95%)",
                    gid=f"misses:{line.scope}:{key}",
                )  # fmt: skip
            if line.noise:
                ax.scatter(
                    middle[line.noise], mean[line.noise], marker="o", s=50,
                    facecolors="none", edgecolors=NOISE_COLOUR, zorder=5,
                    label="below it within noise", gid=f"noise:{line.scope}:{key}",
                )  # fmt: skip
        style.shade_misses(ax, axis.spans(misses))
        ax.set_title(f"{entry.heading}: {entry.description}", loc="left", fontsize=10.5)
        ax.set_ylabel(entry.label + (" (s)" if entry.unit is Unit.SECONDS else ""))
        if entry.unit is Unit.RATE:
            style.percent_axis(ax)
            low, high = ax.get_ylim()
            ax.set_ylim(max(low, -0.01), min(high, 1.01))  # a share's band stops at 0 and 100%
        _legend_once(ax)
    style.clock_axis(axes[-1], *axis.span)
    axes[-1].set_xlabel("interval of queue entry (clock time)")
    return figure
