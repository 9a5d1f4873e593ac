"""The distribution of first response per channel, as empirical CDFs from conversations.jsonl."""

from __future__ import annotations

import numpy as np

from sim.report import style
from sim.report.conversations import first_responses
from sim.report.runs import Context
from sim.report.style import new_figure, render

COLUMNS = 3


def frt_cdf(context: Context) -> str:
    """One panel per channel: share of answered conversations whose first response came
    within x seconds, one line per results file, the channel's target as a dashed line."""
    found = {
        run.index: first_responses(run.conversations) for run in context.runs if run.conversations
    }
    names = [n for n in context.channels if any(n in by_channel for by_channel in found.values())]
    rows = max(1, -(-len(names) // COLUMNS))
    figure = new_figure(1.0 + 2.6 * rows)
    if not names:
        ax = figure.subplots()
        style.message(
            ax, "No conversations.jsonl next to the results: no first-response distribution."
        )
        return render(figure)
    pooled = np.concatenate(
        [values for by_channel in found.values() for values in by_channel.values()]
    )
    right = float(np.percentile(pooled, 99.5)) if pooled.size else 60.0
    if context.scenario is not None:
        right = max(
            [right, *(c.first_response_target * 1.1 for c in context.scenario.channels.values())]
        )
    axes = style.grid(figure, len(names), min(COLUMNS, len(names)))
    for ax, name in zip(axes, names, strict=True):
        style.style_axes(ax)
        target = None
        if context.scenario is not None and name in context.scenario.channels:
            target = context.scenario.channels[name].first_response_target
            ax.axvline(
                target, color=style.BAD, linestyle=(0, (4, 3)), linewidth=1.2, label="target"
            )
        for run in context.runs:
            values = found.get(run.index, {}).get(name)
            if values is None or values.size == 0:
                continue
            share = np.arange(1, values.size + 1) / values.size
            label = f"{run.label}: n={values.size}"
            if target is not None:
                label += (
                    f", {np.searchsorted(values, target, side='right') / values.size:.0%} "
                    f"≤ {target:g} s"
                )
            ax.step(
                np.concatenate(([0.0], values)),
                np.concatenate(([0.0], share)),
                where="post",
                color=context.colours[name],
                linestyle=style.run_style(run.index),
                linewidth=1.6,
                label=label,
            )
        ax.set_title(name, loc="left", color=context.colours[name], fontweight="bold")
        ax.set_xlim(0, right)
        ax.set_ylim(0, 1.02)
        style.percent_axis(ax)
        style.legend(ax, loc="lower right", frame=True)
    for ax in axes[-min(COLUMNS, len(names)) :]:
        ax.set_xlabel("first response (s)")
        ax.tick_params(labelbottom=True)
    for ax in axes[::COLUMNS]:
        ax.set_ylabel("answered within x")
    figure.suptitle(
        "First response by channel: share of answered conversations (first replication) "
        "answered within x seconds",
        x=0.01,
        ha="left",
        fontsize=12,
    )
    return render(figure)
