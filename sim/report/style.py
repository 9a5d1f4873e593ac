"""Look of the report's figures: colours, line styles, the clock axis, rendering to PNG.

Figures are :class:`matplotlib.figure.Figure` objects drawn on the Agg canvas, never pyplot
state (the global backend is left alone), so building a report needs no display, is safe in
threads and leaves no open figures behind.
Every figure is embedded as a base64 PNG data URI: the page needs nothing from the network.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from sim.durations import WEEKDAYS

#: Colours of the channels chatsim knows, close to each brand; other channels get ``_SPARE``.
CHANNEL_COLOURS: dict[str, str] = {
    "whatsapp": "#25a244",
    "viber": "#7d50c8",
    "telegram": "#2aa1da",
    "webchat": "#f08c00",
    "app": "#d6336c",
    "retail": "#8c6d46",
}
_SPARE = ("#495057", "#1c7ed6", "#e8590c", "#0ca678", "#ae3ec9", "#f59f00", "#5c940d", "#c92a2a")

#: One colour per results file (predicted, measured, ...) in plots over all channels.
RUN_COLOURS = ("#1f4e79", "#d9480f", "#2b8a3e", "#862e9c", "#495057")
#: One line style per results file where the colour already means a channel.
RUN_STYLES = ("-", "--", ":", "-.")

#: Pass and fail colours of targets, also used by the HTML.
GOOD = "#2b8a3e"
BAD = "#c92a2a"

DPI = 100
WIDTH = 11.0  # inches; the page shows figures at up to 1100 px


#: Where a legend may go.
Loc = Literal["best", "upper left", "upper right", "lower left", "lower right", "center right"]

#: Where a legend over a whole figure may go.
FigureLoc = Literal["outside upper left", "outside upper right"]


def channel_colours(names: Iterable[str]) -> dict[str, str]:
    """A fixed colour per channel name, the same in every figure of a report."""
    colours: dict[str, str] = {}
    spare = iter(_SPARE * 4)
    for name in names:
        if name not in colours:
            colours[name] = CHANNEL_COLOURS.get(name) or next(spare)
    return colours


def run_colour(index: int) -> str:
    return RUN_COLOURS[index % len(RUN_COLOURS)]


def run_style(index: int) -> str:
    return RUN_STYLES[index % len(RUN_STYLES)]


def new_figure(height: float, width: float = WIDTH) -> Figure:
    """An empty figure on the Agg canvas with the report's defaults."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def style_axes(ax: Axes) -> None:
    """Light grid behind the data, no top and right frame."""
    ax.grid(True, color="#dee2e6", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _clock(hours: float, _position: Any = None) -> str:
    minutes = round(hours * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _weekday(hours: float, _position: Any = None) -> str:
    return WEEKDAYS[int(round(hours) // 24) % 7]


def clock_axis(ax: Axes, first: float, last: float) -> None:
    """Label an x axis in hours as clock times ``HH:MM`` (wrapping past midnight); a horizon of
    days (hours counted from Monday 00:00, as multi-day scenarios count them) is labelled by
    day, with a minor tick every 6 hours."""
    span = max(last - first, 1e-9)
    if span > 48:
        ax.xaxis.set_major_locator(MultipleLocator(24.0))
        ax.xaxis.set_minor_locator(MultipleLocator(6.0))
        ax.xaxis.set_major_formatter(FuncFormatter(_weekday))
        ax.set_xlim(first, last)
        return
    step = 0.5 if span <= 4 else 1.0 if span <= 9 else 2.0 if span <= 30 else 6.0
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.set_xlim(first, last)


def shade_misses(ax: Axes, spans: Sequence[tuple[float, float]]) -> None:
    """Shade the intervals that miss a target (light red, behind the data), labelled once."""
    for i, (start, width) in enumerate(spans):
        ax.axvspan(start, start + width, color=BAD, alpha=0.10, linewidth=0, zorder=0,
                   label="interval misses a target" if i == 0 else None)  # fmt: skip


def percent_axis(ax: Axes, decimals: int = 0) -> None:
    """Label a y axis holding shares (0..1) as percentages."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v * 100:.{decimals}f}%"))


def steps(x: np.ndarray, width: float, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges and values for a ``where="post"`` step plot of per-interval values."""
    if x.size == 0:
        return x, y
    return np.append(x, x[-1] + width), np.append(y, y[-1])


def step_band(
    ax: Axes,
    x: np.ndarray,
    width: float,
    mean: np.ndarray,
    ci: np.ndarray | None,
    *,
    colour: str,
    label: str,
    linestyle: str = "-",
) -> None:
    """Per-interval means as steps, with the 95% confidence band where there is one."""
    xs, ys = steps(x, width, mean)
    ax.step(xs, ys, where="post", color=colour, linestyle=linestyle, linewidth=1.6, label=label)
    if ci is not None and np.isfinite(ci).any():
        half = np.nan_to_num(ci, nan=0.0)
        _, low = steps(x, width, mean - half)
        _, high = steps(x, width, mean + half)
        ax.fill_between(xs, low, high, step="post", color=colour, alpha=0.18, linewidth=0)


def target_line(ax: Axes, value: float, label: str) -> None:
    """A horizontal dashed line at a target."""
    ax.axhline(value, color=BAD, linestyle=(0, (4, 3)), linewidth=1.2, label=label)


def message(ax: Axes, text: str) -> None:
    """Write a note in the middle of empty axes (no data to draw)."""
    ax.text(
        0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#495057", wrap=True
    )
    ax.set_xticks([])
    ax.set_yticks([])


def legend(ax: Axes, *, ncol: int = 1, loc: Loc = "best", frame: bool = False) -> None:
    """A compact legend, only if something is labelled; ``frame`` puts it on a white box."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles,
            labels,
            ncol=ncol,
            loc=loc,
            fontsize=8.5,
            frameon=frame,
            framealpha=0.85,
            edgecolor="none",
        )


def figure_legend(figure: Figure, *axes: Axes, loc: FigureLoc = "outside upper left") -> None:
    """One legend above all panels, from the labelled artists of ``axes`` (duplicates once)."""
    seen: dict[str, Any] = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels, strict=True):
            seen.setdefault(label, handle)
    if seen:
        figure.legend(list(seen.values()), list(seen), loc=loc, ncol=4, fontsize=9, frameon=False)


def render(figure: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI; the figure is cleared afterwards."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    figure.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grid(figure: Figure, count: int, columns: int) -> Sequence[Axes]:
    """``count`` axes in rows of ``columns`` (spare cells hidden), sharing the x axis."""
    rows = max(1, -(-count // columns))
    axes = figure.subplots(rows, columns, sharex=True, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return list(axes[:count])
