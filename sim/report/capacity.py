"""The capacity figure: agents logged in per interval against an Erlang C estimate of the agents
needed.

With a scenario, agents logged in come from its shifts or staffing (:mod:`sim.report.staffing`),
hands busy from the results' occupancy, and an Erlang C estimate of the agents needed when the
conversations tell how long a chat holds a slot. The estimate is an analytic approximation and is
labelled as one, never as "required": the requirement is what the planner (``chatsim staff``)
finds with the model, and its page (:mod:`sim.report.plan`) draws that. Without a scenario, the
figure falls back to the agents seen holding chats in the conversations (a lower bound of those
logged in) with occupancy and slot utilisation on a second axis.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.report import style
from sim.report.conversations import agents_seen, mean_slot_holding
from sim.report.runs import Context, interval_series
from sim.report.staffing import (
    DEFAULT_SERVICE_LEVEL,
    ErlangEstimate,
    estimated_agents,
    weighted_target,
    work_per_conversation,
)
from sim.report.style import new_figure, render
from sim.scenario import Scenario
from sim.shifts import Schedule, scheduled_agents

GROUP_COLOURS = ("#a5d8ff", "#d0bfff", "#b2f2bb", "#ffd8a8", "#ced4da", "#99e9f2")

ESTIMATE_LABEL = "Erlang C estimate (an approximation, not a plan)"
"""How the analytic line is called in every legend: an estimate, never "required"."""


def staffing(context: Context) -> str:
    """Agents logged in versus an Erlang C estimate (with ``--scenario``), else agents seen at
    work; a PNG data URI."""
    return render(staffing_figure(context))


def staffing_figure(context: Context) -> Figure:
    """The figure of :func:`staffing`, not yet rendered."""
    figure = new_figure(5.0)
    ax = figure.subplots()
    style.style_axes(ax)
    if context.scenario is not None:
        _scheduled(ax, context, context.scenario)
    elif context.primary.conversations:
        _seen(ax, context)
    else:
        style.message(
            ax,
            "Agents logged in need the scenario (--scenario F) or conversations.jsonl "
            "next to the results file.",
        )
        ax.set_title("Agents logged in: not available", loc="left")
        return figure
    style.shade_misses(ax, context.missed_spans())
    style.clock_axis(ax, *context.span)
    ax.set_xlabel("interval (clock time)")
    ax.set_ylim(bottom=0)
    if ax.get_legend() is None:
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: not labels[i].startswith("logged in"))
        ax.legend(
            [handles[i] for i in order],
            [labels[i] for i in order],
            ncol=2,
            loc="upper left",
            fontsize=8.5,
            frameon=False,
        )
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)
    return figure


def _scheduled(ax: Axes, context: Context, scenario: Scenario) -> None:
    schedule = scheduled_agents(scenario)
    width = scenario.interval / 3600.0
    begin = context.origin + (scenario.start / 3600.0 - context.origin) % 24.0
    x = begin + np.arange(scenario.n_intervals) * width
    bottom = np.zeros(x.size)
    for i, (group, agents) in enumerate(schedule.groups.items()):
        ax.bar(
            x,
            agents,
            width=width,
            bottom=bottom,
            align="edge",
            linewidth=0,
            color=GROUP_COLOURS[i % len(GROUP_COLOURS)],
            label=f"logged in: {group} (scheduled)",
        )
        bottom = bottom + agents
    for run in context.runs:
        occupancy = interval_series(run, "occupancy", context.origin)
        if occupancy.x.size == 0:
            continue
        positions = np.clip(np.round((occupancy.x - begin) / width).astype(int), 0, x.size - 1)
        busy = occupancy.mean * schedule.agents[positions]
        xs, ys = style.steps(occupancy.x, occupancy.width, busy)
        ax.step(
            xs,
            ys,
            where="post",
            color=style.run_colour(run.index),
            linewidth=1.5,
            label=f"hands busy = occupancy × logged in, {run.label}",
        )
    estimate = erlang_estimate(context, scenario, schedule)
    lines = [
        "logged in: scheduled from the scenario's shifts (agents finishing chats after their shift "
        "are not shown)"
    ]
    if estimate is not None:
        xs, ys = style.steps(x, width, estimate.agents[: x.size])
        ax.step(
            xs,
            ys,
            where="post",
            color=style.BAD,
            linestyle="--",
            linewidth=1.6,
            label=ESTIMATE_LABEL,
        )
        lines.append(estimate_note(estimate))
    ax.set_ylabel("agents")
    ax.figure.suptitle(
        f"Agents logged in vs an Erlang C estimate ({scenario.name})",
        x=0.01,
        ha="left",
        fontsize=12,
    )
    wrapped = [part for line in lines for part in textwrap.wrap(line, 150)]
    ax.set_title("\n".join(wrapped), loc="left", fontsize=9, color="#495057")


def estimate_note(estimate: ErlangEstimate) -> str:
    """What the Erlang C estimate assumes, in one sentence (for captions and subtitles)."""
    hands = (
        f"hands: {estimate.work:.0f} s of typing per chat, 1 server per agent; "
        if estimate.work
        else ""
    )
    return (
        f"Erlang C estimate: agents for {estimate.service_level:.0%} of chats waiting ≤ "
        f"{estimate.target:.0f} s, the larger of {hands}slots: "
        f"held {estimate.holding / 60:.1f} min per chat, "
        f"{estimate.slots_per_agent:.1f} slots per agent. An approximation, not a requirement."
    )


def erlang_estimate(
    context: Context, scenario: Scenario, schedule: Schedule | None = None
) -> ErlangEstimate | None:
    """The Erlang C estimate of the agents needed per interval for the primary run (None when
    its conversations do not tell how long a chat holds a slot).

    The hands' work per conversation comes from the run's occupancy times the agents the
    scenario logs in (``schedule``, default its own), over the conversations offered.
    """
    schedule = schedule or scheduled_agents(scenario)
    run = context.primary
    width = scenario.interval / 3600.0
    begin = context.origin + (scenario.start / 3600.0 - context.origin) % 24.0
    occupancy = interval_series(run, "occupancy", context.origin)
    work: float | None = None
    if occupancy.x.size:
        size = schedule.agents.size
        positions = np.clip(np.round((occupancy.x - begin) / width).astype(int), 0, size - 1)
        offered = interval_series(run, "offered", context.origin).mean
        work = work_per_conversation(
            occupancy.mean, schedule.agents[positions], offered, run.results.interval
        )
    return _estimate(context, scenario, schedule.slots_per_agent, work)


def _estimate(
    context: Context, scenario: Scenario, slots_per_agent: float, work: float | None
) -> ErlangEstimate | None:
    run = context.primary
    holding = mean_slot_holding(run.conversations) if run.conversations else None
    if holding is None or holding <= 0:
        return None
    offered = interval_series(run, "offered", context.origin)
    by_channel = {
        n: float((run.results.channels.get(n, {}).get("offered") or {}).get("mean") or 0.0)
        for n in scenario.channels
    }
    target = weighted_target(scenario, by_channel)
    level = min(scenario.targets.service_level or DEFAULT_SERVICE_LEVEL, 0.999)
    try:
        return estimated_agents(
            offered.mean,
            run.results.interval,
            holding=holding,
            work=work,
            target=target,
            service_level=level,
            slots_per_agent=slots_per_agent,
        )
    except ValueError:
        return None


def _seen(ax: Axes, context: Context) -> None:
    run = context.primary
    occupancy = interval_series(run, "occupancy", context.origin)
    seen = agents_seen(run.conversations or [], run.results.interval, occupancy.x.size)
    ax.bar(
        occupancy.x,
        seen,
        width=occupancy.width,
        align="edge",
        linewidth=0,
        color=GROUP_COLOURS[0],
        label="agents seen holding chats (first replication): at least this many logged in",
    )
    ax.set_ylabel("agents")
    ax.set_title(
        "Agents at work (no scenario given, so shifts are unknown) and how busy they were",
        loc="left",
    )
    right = ax.twinx()
    for kpi, dash in (("occupancy", "-"), ("slot_utilisation", "--")):
        for other in context.runs:
            s = interval_series(other, kpi, context.origin)
            xs, ys = style.steps(s.x, s.width, s.mean)
            right.step(
                xs,
                ys,
                where="post",
                color=style.run_colour(other.index),
                linestyle=dash,
                linewidth=1.5,
                label=f"{kpi.replace('_', ' ')} (right axis), {other.label}",
            )
    right.set_ylim(0, 1.2)
    right.set_ylabel("occupancy, slot utilisation")
    style.percent_axis(right)
    right.spines["top"].set_visible(False)
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = right.get_legend_handles_labels()
    ax.legend(
        handles + more, labels + more_labels, ncol=2, loc="upper left", fontsize=8.5, frameon=False
    )
