"""The calibration page: what ``chatsim calibrate --report F.html`` writes, one self-contained
HTML page built from a :class:`sim.calibrate.Calibration`.

Its sections (each with a stable ``id`` and ``data-figure``):

* ``parameters``: each varied parameter, its value in the scenario, the fitted value with its
  standard error and 95% interval, and its search range;
* ``kpis``: every observed KPI against the model, with the scenario's own values and
  calibrated (as written), the difference, the unit it is judged by and the standardised
  difference;
* ``search``: the convergence path (the objective and each parameter at every model evaluation)
  and the objective of every evaluation against each parameter, with the fit and its 95%
  interval;
* ``method``: how the search was made (common random numbers, optimiser, units, uncertainty).

Building the page does no I/O; :func:`write_calibration_report` writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes

from sim.catalogue import kpi as kpi_of
from sim.report import style
from sim.report.html import Section, esc, figure, page, table
from sim.report.style import new_figure, render

if TYPE_CHECKING:
    from sim.calibrate import Calibration

SECTIONS = ("parameters", "kpis", "search", "method")
"""The sections of every calibration page, in order."""


def parameters_table(calibration: Calibration) -> str:
    rows = []
    for i, p in enumerate(calibration.parameters):
        interval = calibration.interval(i)
        rows.append(
            [
                esc(p.name),
                esc(p.text(p.start)),
                f"<b>{esc(p.text(calibration.fitted[i]))}</b>",
                esc(p.spread(calibration.standard_errors[i])),
                esc(f"{p.text(interval[0])} – {p.text(interval[1])}") if interval else "–",
                esc(f"{p.text(p.low)} – {p.text(p.high)}"),
                '<td class="near">at the edge of its range</td>' if calibration.at_bound(i) else "",
            ]
        )
    return table(
        ["parameter", "in the scenario", "fitted", "± SE", "95% interval", "range", ""], rows
    )


def kpis_table(calibration: Calibration) -> str:
    rows = []
    for i, o in enumerate(calibration.observations):
        entry = kpi_of(o.kpi)
        simulated = calibration.written.simulated[i]
        z = calibration.written.residuals[i]
        cls = "pass" if abs(z) <= 2 else "near"
        rows.append(
            [
                esc(o.label),
                esc(entry.with_ci(o.value, o.half_width)),
                esc(entry.text(calibration.start.simulated[i])),
                f"<b>{esc(entry.with_ci(simulated, calibration.written.ci95(i)))}</b>",
                esc(entry.delta(None if simulated is None else simulated - o.value)),
                esc(entry.spread(o.unit)),
                f'<td class="{cls}">{z:+.2f}</td>',
            ]
        )
    return table(["KPI", "observed", "scenario", "calibrated", "difference", "unit", "z"], rows) + (
        f'<p class="note">Simulated on {calibration.replications} replications (seed '
        f"{calibration.seed}), the same traces for every candidate. z = difference / unit; the "
        f"objective is the sum of z²: {calibration.start.objective:.3g} with the scenario's "
        f"values, {calibration.written.objective:.3g} calibrated.</p>"
    )


def search_figure(calibration: Calibration) -> str:
    """The convergence path (left column) and the objective against each parameter (right)."""
    p = len(calibration.parameters)
    plot = new_figure(2.3 * (p + 1))
    axes = plot.subplots(p + 1, 2, squeeze=False)
    objective = np.array([e.objective for e in calibration.evaluations])
    steps = np.arange(1, len(objective) + 1)
    best = np.minimum.accumulate(objective)
    colour = style.RUN_COLOURS[0]
    ax = axes[0, 0]
    style.style_axes(ax)
    ax.plot(steps, objective, marker="o", markersize=3.5, linewidth=0.8, color=colour,
            label="evaluated")  # fmt: skip
    ax.step(steps, best, where="post", color=style.GOOD, linewidth=1.4, label="best so far")
    _objective_axis(ax)
    ax.set_title("objective (sum of z²) at each model evaluation", loc="left", fontsize=10.5)
    style.legend(ax, loc="upper right", frame=True)
    ax = axes[0, 1]
    style.style_axes(ax)
    if len(calibration.observations) <= _MOST_LINES:
        for k, observation in enumerate(calibration.observations):
            z = [e.residuals[k] for e in calibration.evaluations]
            ax.plot(steps, z, linewidth=1.0, color=_COLOURS[k], label=observation.label)
        ax.axhline(0.0, color="#495057", linewidth=0.8)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_title("standardised difference z of each KPI", loc="left", fontsize=10.5)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    else:
        style.message(
            ax,
            f"{len(calibration.observations)} observed KPIs: too many lines to tell apart "
            "(their differences at the fit are in the table above)",
        )
    for i, parameter in enumerate(calibration.parameters):
        values = np.array([e.values[i] for e in calibration.evaluations])
        fitted = calibration.fitted[i]
        interval = calibration.interval(i)
        left, right = axes[i + 1, 0], axes[i + 1, 1]
        for ax in (left, right):
            style.style_axes(ax)
        left.plot(steps, values, marker="o", markersize=3.5, linewidth=0.8, color=colour)
        left.axhline(fitted, color=style.GOOD, linewidth=1.2, label="fitted")
        right.scatter(values, objective, s=14, c=steps, cmap="viridis", zorder=3)
        right.axvline(fitted, color=style.GOOD, linewidth=1.2)
        if interval is not None:
            left.axhspan(*interval, color=style.GOOD, alpha=0.12, linewidth=0, label="95% interval")
            right.axvspan(*interval, color=style.GOOD, alpha=0.12, linewidth=0)
        _objective_axis(right)
        left.set_title(f"{parameter.name} at each evaluation", loc="left", fontsize=10.5)
        right.set_title(f"objective against {parameter.name}", loc="left", fontsize=10.5)
        unit = "seconds" if parameter.kind == "duration" else "factor"
        left.set_ylabel(unit)
        right.set_xlabel(unit)
        if i == 0:
            style.legend(left, loc="upper right", frame=True)
    axes[-1, 0].set_xlabel("model evaluation")
    return figure(
        render(plot),
        "the calibration's search",
        "Left: the objective and each parameter at every model evaluation, in order (finite "
        "differences for the Jacobian included), the fitted value in green with its 95% "
        "interval. Right: the objective of every evaluation against each parameter (colour: "
        "order, dark first); the points are slices of the objective through the others' values "
        "at the time.",
    )


_COLOURS = (*style.RUN_COLOURS, *style.CHANNEL_COLOURS.values())
"""One colour per observed KPI in the panel of standardised differences."""

_MOST_LINES = 8
"""The most observed KPIs drawn as lines of their own."""


def _objective_axis(ax: Axes) -> None:
    """A y axis for the objective (never negative): linear below 0.1, logarithmic above."""
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylim(bottom=0.0)


def correlation_table(calibration: Calibration) -> str:
    """The correlation of the fitted values (how the search traded one for another)."""
    if calibration.correlation is None or len(calibration.parameters) < 2:
        return ""
    names = [p.name for p in calibration.parameters]
    rows = [
        [esc(name), *(f"{value:+.2f}" for value in row)]
        for name, row in zip(names, calibration.correlation, strict=True)
    ]
    return "<h3>Correlation of the fitted values</h3>" + table(["", *(esc(n) for n in names)], rows)


def method_notes(calibration: Calibration) -> str:
    notes = [
        "Common random numbers: the traces of every replication are drawn once; agent "
        "parameters are read from the scenario, and reply work, patience, think time and "
        "close_after are changed by rescaling the drawn trace, which is what redrawing with the "
        "new mean and the same seed gives (every duration family is a scale family at fixed "
        "cv), so every candidate plays the same conversations.",
        "Optimiser: scipy.optimize.least_squares (trust region reflective, within the ranges) "
        f"on the standardised differences, with a forward-difference Jacobian of relative step "
        f"{calibration.step:g} (the model is deterministic on fixed traces but rough on smaller "
        f"scales). {len(calibration.evaluations)} model evaluations; {calibration.message}.",
        "Units: an observation with a 95% half-width is judged by its standard error; one "
        "without by 5% of its size (a rate by its smaller side, min(p, 1 - p)).",
        "Uncertainty: the replication noise of the simulated KPIs (their covariance over "
        "replications, over the number of replications) and the observations' own noise "
        "(correlated as the simulated KPIs are), propagated through the pseudo-inverse of the "
        "Jacobian at the optimum: a linearised standard error; the 95% interval is ±1.96 of it.",
        *calibration.notes,
    ]
    return "<ul>" + "".join(f"<li>{esc(note)}</li>" for note in notes) + "</ul>"


def build_calibration_report(calibration: Calibration, command: str = "") -> str:
    """The whole page for ``calibration``; ``command`` is the command line that made it."""
    sections = [
        Section(
            "parameters",
            "Fitted parameters",
            parameters_table(calibration) + correlation_table(calibration),
        ),
        Section("kpis", "Observed and simulated KPIs", kpis_table(calibration)),
        Section("search", "The search", search_figure(calibration)),
        Section("method", "Method", method_notes(calibration)),
    ]
    subtitle = [
        f"{calibration.original.name}: {len(calibration.parameters)} parameters fitted to "
        f"{len(calibration.observations)} observed KPIs",
    ]
    if command:
        subtitle.append(command)
    return page(f"chatsim calibrate: {calibration.original.name}", subtitle, sections)


def write_calibration_report(calibration: Calibration, out: Path, command: str = "") -> Path:
    """Write the calibration page to ``out`` (its directory made) and return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_calibration_report(calibration, command), encoding="utf-8")
    return out
