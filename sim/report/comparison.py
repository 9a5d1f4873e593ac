"""Predicted versus measured: per-channel bars and a table of differences per KPI.

Used when a report holds both a model results file and a replay results file (for the same
trace, normally). The difference is measured − predicted; it is called consistent when it is
within the combined 95% confidence half-width of the two (when either has one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.catalogue import CHANNEL_BARS, DIFFERENCES, Unit
from sim.catalogue import kpi as kpi_of
from sim.report import style
from sim.report.runs import Run, value
from sim.report.style import new_figure, render


@dataclass(frozen=True, slots=True)
class Difference:
    """One KPI of the total: both values, their ci95, and whether they agree."""

    kpi: str
    predicted: float
    predicted_ci: float
    measured: float
    measured_ci: float

    @property
    def diff(self) -> float:
        return self.measured - self.predicted

    @property
    def relative(self) -> float:
        """Difference relative to the prediction (NaN when the prediction is zero)."""
        return self.diff / self.predicted if self.predicted else math.nan

    @property
    def consistent(self) -> bool | None:
        """Whether the difference is within the combined ci95; None without any ci95."""
        spreads = [c for c in (self.predicted_ci, self.measured_ci) if math.isfinite(c)]
        if not spreads or not math.isfinite(self.diff):
            return None
        return abs(self.diff) <= math.sqrt(sum(c * c for c in spreads)) + 1e-12


def differences(predicted: Run, measured: Run) -> list[Difference]:
    """The total KPIs of both runs side by side."""
    rows = []
    for kpi in DIFFERENCES:
        p, m = predicted.results.total.get(kpi), measured.results.total.get(kpi)
        rows.append(Difference(kpi, value(p), value(p, "ci95"), value(m), value(m, "ci95")))
    return rows


def comparison(predicted: Run, measured: Run, colours: dict[str, str]) -> str:
    """Per channel (and in total): predicted and measured side by side with 95% CIs."""
    names = [n for n in predicted.results.channels if n in measured.results.channels]
    groups = [*names, "total"]
    figure = new_figure(4.2)
    axes = figure.subplots(1, len(CHANNEL_BARS))
    x = np.arange(len(groups))
    for ax, kpi in zip(axes, CHANNEL_BARS, strict=True):
        entry = kpi_of(kpi)
        title = entry.heading + (" (s)" if entry.unit is Unit.SECONDS else "")
        style.style_axes(ax)
        for shift, run in ((-0.2, predicted), (0.2, measured)):
            tables = [run.results.channels[n] for n in names] + [run.results.total]
            means = np.array([value(t.get(kpi)) for t in tables])
            cis = np.array([value(t.get(kpi), "ci95") for t in tables])
            ax.bar(
                x + shift,
                np.nan_to_num(means),
                width=0.4,
                color=style.run_colour(run.index),
                yerr=np.nan_to_num(cis) if np.isfinite(cis).any() else None,
                label=run.label,
                error_kw={"elinewidth": 1, "ecolor": "#343a40", "capsize": 2},
            )
        ax.set_xticks(x, groups, rotation=45, ha="right")
        for tick, name in zip(ax.get_xticklabels(), groups, strict=True):
            tick.set_color(colours.get(name, "#212529"))
        ax.set_title(title, loc="left", fontsize=10.5)
        if entry.unit is Unit.RATE:
            style.percent_axis(ax)
    axes[0].set_ylabel("value (error bars: 95% CI)")
    figure.suptitle("Predicted vs measured by channel and in total", x=0.01, ha="left", fontsize=12)
    style.figure_legend(figure, axes[0], loc="outside upper right")
    return render(figure)
