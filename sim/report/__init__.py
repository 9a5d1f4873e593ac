"""HTML reports of results: one self-contained page of figures and KPI cards.

``build_report`` turns one or more :class:`~sim.results.Results` (a prediction, a measurement,
or both) into the text of an HTML page whose images are embedded PNG data URIs, so the file
opens offline and can be mailed or archived as it is. ``write_report`` reads results files
and the ``conversations.jsonl`` next to each, and writes the page.

Sections (each with a stable ``id`` and ``data-figure``): ``headline`` KPI cards against the
scenario's targets, ``validity`` of a replay, ``comparison`` of predicted vs measured,
``arrivals``, ``staffing`` (agents logged in vs an Erlang C estimate), ``service`` (service
level, missed rate, first response per interval), ``frt-cdf`` (first-response distribution per
channel), ``utilisation`` (occupancy, slot utilisation), ``wasted`` (capacity held by customers
who left silently), ``channels`` (table) and ``inputs``.

A planner's page (``chatsim staff --report``) is :mod:`sim.report.plan`: there the requirement
is the planner's, and an Erlang C estimate is only ever drawn as the estimate it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.report import capacity, distribution, figures, tables
from sim.report.comparison import comparison, differences
from sim.report.conversations import conversations_path, read_conversations
from sim.report.html import Section, esc, figure, page
from sim.report.runs import Context, make_context, model_and_replay
from sim.results import Results, read_results
from sim.scenario import Scenario

__all__ = ["FIGURES", "build_report", "write_report"]

#: Names of the sections every report has (``comparison`` and ``validity`` come on top when
#: the inputs have a prediction and a measurement, or a replay).
FIGURES = (
    "headline",
    "arrivals",
    "staffing",
    "service",
    "frt-cdf",
    "utilisation",
    "wasted",
    "channels",
    "inputs",
)


def build_report(
    results: list[Results],
    *,
    conversations: dict[int, list[dict[str, Any]]] | None = None,
    scenario: Scenario | None = None,
    extra: Sequence[Section] = (),
) -> str:
    """The HTML text of a report on ``results``; ``extra`` sections come after the headline.

    ``conversations[i]`` are the per-conversation records of ``results[i]`` (for the
    first-response distribution and slot holding times); ``scenario`` supplies targets and
    shifts (agents logged in).
    """
    context = make_context(results, conversations, scenario)
    sections = [
        Section(
            "headline",
            "Headline KPIs",
            tables.scenario_warnings(context)
            + tables.cards(context)
            + tables.interval_note(context),
        ),
        *extra,
    ]
    for run in context.runs:
        if run.results.source == "replay" and "validity" in run.results.extra:
            sections.append(Section("validity", "Replay validity", tables.validity(run)))
            break
    pair = model_and_replay(context.runs)
    if pair is not None:
        predicted, measured = pair
        body = tables.differences_table(
            differences(predicted, measured), predicted, measured
        ) + figure(
            comparison(predicted, measured, context.colours),
            "predicted vs measured by channel",
            "Bars: total over the horizon per channel; error bars: 95% confidence interval "
            "(over replications) where there is one. Plots below overlay both runs.",
        )
        sections.append(Section("comparison", "Predicted vs measured", body))
    sections += _figure_sections(context)
    sections.append(Section("channels", "By channel", tables.channel_table(context)))
    sections.append(Section("inputs", "Inputs", tables.inputs(context)))
    names = sorted({r.scenario for r in results})
    return page(f"chatsim report: {', '.join(names)}", _subtitle(context), sections)


def _figure_sections(context: Context) -> list[Section]:
    interval = f"{context.primary.results.interval / 60:g}-minute intervals"
    ci = "Bands: 95% confidence interval over replications (none for a single run)."
    return [
        Section(
            "arrivals",
            "Arrivals",
            figure(
                figures.arrivals(context),
                "arrivals per interval by channel",
                f"Conversations arriving in each of the {esc(interval)}, by channel: "
                "those offered to agents plus those a bot contained (mean over replications).",
            ),
        ),
        Section(
            "staffing",
            "Agents logged in vs an Erlang C estimate",
            figure(
                capacity.staffing(context),
                "agents logged in versus an Erlang C estimate",
                "Logged-in agents come from the scenario's shifts (results do not record them). "
                "The dashed line is an Erlang C estimate of the agents needed, an analytic "
                "approximation (its assumptions are stated in the figure), not a requirement: "
                "<code>chatsim staff</code> finds the requirement with the model. "
                "Without a scenario the figure shows the agents seen holding chats, "
                "with occupancy and slot utilisation.",
            ),
        ),
        Section(
            "service",
            "Service per interval",
            figure(
                figures.service(context),
                "service level, missed rate and first response per interval",
                f"All channels, by the interval in which conversations entered the queue. {ci} "
                "Dashed red: the scenario's target.",
            ),
        ),
        Section(
            "frt-cdf",
            "First-response distribution",
            figure(
                distribution.frt_cdf(context),
                "first-response distribution per channel",
                "From conversations.jsonl (first replication): answered conversations only; missed "
                "customers are not in these curves, see the missed rate.",
            ),
        ),
        Section(
            "utilisation",
            "Occupancy and slot utilisation",
            figure(
                figures.utilisation(context),
                "occupancy and slot utilisation per interval",
                f"All agents, by the interval in which the time passed. {ci}",
            ),
        ),
        Section(
            "wasted",
            "Wasted capacity",
            figure(
                figures.wasted(context),
                "slot time wasted on silently abandoned conversations",
                "A messenger customer who gives up does not tell the gateway: "
                "the conversation is still assigned, answered and closed, "
                "holding a chat slot for nobody. Slot-hours: one slot held for one hour.",
            ),
        ),
    ]


def _subtitle(context: Context) -> list[str]:
    lines = []
    for run in context.runs:
        r = run.results
        parts = [
            run.label,
            f"scenario {r.scenario}",
            f"{r.replications} replication{'s' if r.replications != 1 else ''}",
        ]
        if r.seed is not None:
            parts.append(f"seed {r.seed}")
        if r.trace_sha256:
            parts.append(f"trace {r.trace_sha256[:12]}")
        lines.append(" · ".join(parts))
    return lines


def write_report(paths: Sequence[Path], out: Path, scenario: Scenario | None = None) -> Path:
    """Read results files (or their directories) and their ``conversations.jsonl``, write the
    report to ``out`` and return its path.

    Raises:
        sim.errors.InputError: a path is missing or not a chatsim results file.
    """
    results = [read_results(path) for path in paths]
    records: dict[int, list[dict[str, Any]]] = {}
    for i, path in enumerate(paths):
        found = read_conversations(conversations_path(Path(path)))
        if found is not None:
            records[i] = found
    text = build_report(results, conversations=records, scenario=scenario)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
