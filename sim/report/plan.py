"""The planner's page: what ``chatsim staff --report F.html`` writes, one self-contained HTML page
built from a :class:`sim.planner.Plan` (figures from :mod:`sim.report.plan_figures`).

A simulate report answers "how does this day go?"; this page answers "what must be rostered,
and does it hold?". Its sections (each with a stable ``id`` and ``data-figure``):

* ``headline``: agent-hours and cost on shift, how many intervals miss a target, each target
  over the day as verified, and the targets staffing cannot reach;
* ``requirement``: per interval and planned group, the planner's requirement against the agents
  the shifts schedule, with the over/under (figure and table). "Required" on this page is always
  the planner's requirement, found with the model; an Erlang C estimate, where drawn, is labelled
  as the approximation it is;
* ``shifts``: every shift (template, start and end, head count) as a bar across the day, its
  breaks marked, and the same as a table;
* ``hours``: agent-hours and cost per group and in total, against the scenario's own schedule;
* ``kpis``: the verified KPIs per interval against what each interval is held to (the targets
  with ``--scope interval``, the floors with ``--scope day``); an interval is **missed** where
  the verification shows a limit missed at one-sided 95% (the test the planner itself uses),
  and marked so in the figure and the table;
* ``tradeoff``: each target over the day against the agent-hours of every staffing tried, when
  the planner tried any (:mod:`sim.report.tradeoff`).

Building the page does no I/O; :func:`write_plan_report` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim.catalogue import HIGHER
from sim.catalogue import kpi as kpi_of
from sim.evidence import Estimate
from sim.kpi import ALL
from sim.report import capacity, plan_figures
from sim.report.html import Section, esc, figure, page, table
from sim.report.plan_figures import (
    ALL_PLANNED,
    Block,
    Line,
    breaks_of,
    clock_at,
    estimate_panel,
    panels,
    rostered_series,
    series,
    template_of,
)
from sim.report.runs import make_context
from sim.report.staffing import ErlangEstimate
from sim.report.style import render
from sim.report.tradeoff import tradeoff_section
from sim.shifts import scheduled_agents

if TYPE_CHECKING:
    from sim.planner import Plan

__all__ = [
    "PLAN_SECTIONS",
    "Check",
    "build_plan_report",
    "interval_checks",
    "kpi_lines",
    "missed_intervals",
    "write_plan_report",
]

#: The sections of every plan page, in order (``tradeoff`` only when the planner tried
#: staffings and the plan has targets over the day).
PLAN_SECTIONS = ("headline", "requirement", "shifts", "hours", "kpis", "tradeoff")


@dataclass(frozen=True, slots=True)
class Check:
    """One limit every interval is held to: a KPI of a scope (``all``, the planned channels
    pooled, or a channel with targets of its own) and its value."""

    scope: str
    kpi: str
    limit: float

    @property
    def name(self) -> str:
        return self.kpi if self.scope == ALL else f"{self.scope} {self.kpi}"


def interval_checks(plan: Plan) -> list[Check]:
    """What each interval is held to: every target with ``--scope interval``; with ``--scope
    day`` the per-interval floors only (the targets bind the day's totals)."""
    if plan.scope == "interval":
        return [Check(s, k, v) for s, kpis in plan.goals.items() for k, v in kpis.items()]
    return [Check(ALL, k, v) for k, v in plan.floors.items()]


def kpi_lines(plan: Plan) -> list[Line]:
    """Each verified KPI shown per interval: every target and floor, by scope, with the
    intervals the verification shows missing its per-interval limit and those below it within
    noise."""
    limits = {(c.scope, c.kpi): c.limit for c in interval_checks(plan)}
    shown = [(s, k) for s, kpis in plan.goals.items() for k in kpis]
    shown += [key for key in limits if key not in shown]
    lines = []
    for scope, key in shown:
        found = [plan.verified.at(scope, j).get(key) for j in range(len(plan.labels))]
        estimates = [e if e is not None else Estimate(key, None, 0.0, 0.0) for e in found]
        limit = limits.get((scope, key))
        target = plan.goals.get(scope, {}).get(key)
        missed = [] if limit is None else [j for j, e in enumerate(estimates) if e.short(limit)]
        noise = (
            []
            if limit is None
            else [j for j, e in enumerate(estimates) if j not in missed and e.z(limit) < 0]
        )
        lines.append(
            Line(
                scope=scope,
                kpi=key,
                label="planned channels" if scope == ALL else scope,
                values=[e.value for e in estimates],
                se=[e.se for e in estimates],
                limit=limit,
                day_target=target if plan.scope == "day" else None,
                missed=missed,
                noise=noise,
            )
        )
    return lines


def missed_intervals(plan: Plan) -> list[int]:
    """The intervals the verification shows missing a limit they are held to (one-sided 95%),
    out of staffing's reach or not."""
    return sorted({j for line in kpi_lines(plan) for j in line.missed})


def build_plan_report(plan: Plan) -> str:
    """The HTML text of the planner's page on ``plan`` (see the module docstring)."""
    lines = kpi_lines(plan)
    misses = sorted({j for line in lines for j in line.missed})
    estimate = erlang_estimate(plan)
    sections = [
        Section("headline", "Plan at a glance", _cards(plan, misses) + _notes(plan)),
        Section(
            "requirement",
            "Required vs scheduled",
            figure(
                render(plan_figures.requirement(plan, misses, estimate)),
                "required versus scheduled agents per interval, with the over/under",
                _requirement_caption(plan, estimate),
            )
            + interval_table(plan),
        ),
        Section(
            "shifts",
            "Shifts",
            figure(
                render(plan_figures.timeline(plan)),
                "shift timeline with head counts and breaks",
                "Each bar is one shift of the plan: its group, template (when the planner names "
                "one), start and end, and the agents who work it. Breaks are hatched on the bar: "
                "<code>////</code> paid, <code>xxxx</code> unpaid.",
            )
            + shift_table(plan),
        ),
        Section("hours", "Agent-hours and cost", hours_table(plan)),
        Section(
            "kpis",
            "Verified KPIs per interval",
            figure(
                render(plan_figures.kpis(plan, lines, misses)),
                "verified KPIs per interval against their targets",
                _kpi_caption(plan),
            )
            + kpi_table(plan, lines),
        ),
    ]
    if plan.tradeoff and plan.targets:
        points = [(p.agent_hours, {k: e.value for k, e in p.day.items()}) for p in plan.tradeoff]
        reach = {k: e.value for k, e in plan.reach.day.items()}
        sections.append(tradeoff_section(points, plan.targets, reach))
    return page(f"chatsim plan: {plan.scenario.name}", _subtitle(plan), sections)


def write_plan_report(plan: Plan, out: Path) -> Path:
    """Write the planner's page on ``plan`` to ``out`` (its directory made) and return the
    path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_plan_report(plan), encoding="utf-8")
    return out


def erlang_estimate(plan: Plan) -> ErlangEstimate | None:
    """An Erlang C estimate of the agents the verified traffic needs, for comparison only, where
    every group of the scenario is planned (it counts every agent); None otherwise or when the
    verification kept no conversations."""
    if estimate_panel(plan) is None or not plan.records:
        return None
    records = {0: [record.to_dict() for record in plan.records]}
    context = make_context([plan.results], records, plan.scenario)
    return capacity.erlang_estimate(context, plan.scenario)


# -- headline ------------------------------------------------------------------------------


def _card(what: str, big: str, lines: list[str], verdict: str = "") -> str:
    rest = "".join(f'<div class="ci">{esc(line)}</div>' for line in lines)
    return (
        f'<div class="card {verdict}"><div class="what">{esc(what)}</div>'
        f'<div class="big">{esc(big)}</div>{rest}</div>'
    )


def _cards(plan: Plan, misses: list[int]) -> str:
    hours = plan.scenario.interval / 3600.0
    on_shift = sum(plan.agent_hours(g) for g in plan.groups)
    required = sum(sum(plan.required[g]) for g in plan.groups) * hours
    own = sum(_own_hours(plan, g) for g in plan.groups)
    out = [
        _card(
            "Agent-hours on shift",
            f"{on_shift:,.1f}",
            [f"required {required:,.1f}", f"the scenario's own shifts: {own:,.1f}"],
        ),
        _card("Cost on shift", f"{plan.cost():,.1f}", ["agent-hours × each group's cost"]),
    ]
    checks = interval_checks(plan)
    if checks:
        n = len(plan.labels)
        out.append(
            _card(
                "Intervals missing a target",
                f"{len(misses)} of {n}",
                [
                    "shown missed at one-sided 95%",
                    "limits: " + ", ".join(_limit(c) for c in checks),
                ],
                "fail" if misses else "pass",
            )
        )
    for scope, kpis in plan.goals.items():
        for key, target in kpis.items():
            entry = kpi_of(key)
            found = plan.verified.at(scope)[key]
            name = entry.heading if scope == ALL else f"{scope}: {entry.heading}"
            out.append(
                _card(
                    f"{name}, over the day",
                    entry.text(found.value),
                    [f"target {'≥' if entry.better == HIGHER else '≤'} {entry.text(target)}"],
                    "pass" if entry.meets(found.value, target) else "fail",
                )
            )
    return f'<div class="cards">{"".join(out)}</div>'


def _limit(check: Check) -> str:
    entry = kpi_of(check.kpi)
    name = entry.label if check.scope == ALL else f"{check.scope} {entry.label}"
    return f"{name} {'≥' if entry.better == HIGHER else '≤'} {entry.text(check.limit)}"


def _notes(plan: Plan) -> str:
    notes = []
    places: dict[tuple[str, str, float], list[str]] = {}
    reasons: dict[tuple[str, str, float], str] = {}
    for u in plan.unreachable:
        places.setdefault((u.name, u.kpi, u.target), []).append(u.where)
        reasons.setdefault((u.name, u.kpi, u.target), u.reason)
    for (name, key, target), where in places.items():
        shown = ", ".join(where[:8]) + (f" and {len(where) - 8} more" if len(where) > 8 else "")
        notes.append(
            f"Out of staffing's reach: {name} {kpi_of(key).text(target)} ({shown}); "
            f"{reasons[(name, key, target)]}. No agent was added for it."
        )
    notes += [f"Near its reach: {note}" for note in plan.near]
    short = [f"{kpi} ({where})" for where, kpi in plan.short]
    if short:
        notes.append(
            "Still short with these shifts: "
            + ", ".join(short[:12])
            + (" …" if len(short) > 12 else "")
        )
    return "".join(f'<p class="warn">{esc(n)}</p>' for n in notes)


def _subtitle(plan: Plan) -> list[str]:
    results = plan.results
    seed = f" · seed {results.seed}" if results.seed is not None else ""
    return [
        f"plan of {', '.join(plan.groups)} for scenario {plan.scenario.name} · scope {plan.scope}",
        f"verified on {plan.replications} traces{seed} · {plan.evaluations} model evaluations",
    ]


# -- requirement ---------------------------------------------------------------------------


def _signed(value: int) -> str:
    if value > 0:
        return f'<td class="over" data-over-under="{value}">+{value}</td>'
    if value < 0:
        return f'<td class="fail" data-over-under="{value}">−{-value}</td>'
    return '<td data-over-under="0">0</td>'


def interval_table(plan: Plan) -> str:
    """Per interval: conversations offered, fluid load, and per panel (each group, then all
    planned) required, scheduled and over/under."""
    names = panels(plan)
    header = ["interval", "offered", "fluid load"]
    columns = {name: series(plan, name) for name in names}
    gross = {name: rostered_series(plan, name) for name in names}
    for name in names:
        whats = ["required", "rostered", "scheduled", "over/under"]
        if gross[name] is None:
            whats.remove("rostered")
        header += [f"{esc(name)}<br>{what}" for what in whats]
    rows = []
    for j, label in enumerate(plan.labels):
        load = columns[names[-1]][2][j] if names[-1] == ALL_PLANNED else columns[names[0]][2][j]
        cells = [esc(label), f"{plan.verified.offered[j]:.1f}", f"{load:.1f}"]
        for name in names:
            required, scheduled, _ = columns[name]
            rostered = gross[name]
            cells.append(str(required[j]))
            if rostered is not None:
                cells.append(str(rostered[j]))
            needed = rostered[j] if rostered is not None else required[j]
            cells += [str(scheduled[j]), _signed(scheduled[j] - needed)]
        rows.append(cells)
    note = (
        '<p class="note">Required: the planner\'s requirement, the fewest agents per interval '
        "whose simulated KPIs meet the targets. Rostered (with shrinkage or absence): the "
        "agents the shifts must have on for the required ones to be at work. Scheduled: agents "
        "on the planned shifts, not on a break. Over/under: scheduled minus rostered (or "
        "required) (a shift covers whole blocks, so it runs over "
        "where the requirement dips). Fluid load: agents the traffic needs with no safety margin. "
        "Offered: conversations of the planned channels per interval (mean over traces).</p>"
    )
    return table(header, rows, cls="plan-intervals") + note


def _requirement_caption(plan: Plan, estimate: ErlangEstimate | None) -> str:
    parts = [
        "Bars: agents the planned shifts schedule; solid line: the planner's requirement (found "
        "with the model); dotted: the fluid load, with no safety margin. Below each panel, "
        "scheduled minus required: green over, red under."
    ]
    if estimate is not None:
        parts.append(
            "Dash-dotted red, for comparison only: " + esc(capacity.estimate_note(estimate))
        )
    if missed_intervals(plan):
        parts.append("Shaded: intervals the verification shows missing a target.")
    return " ".join(parts)


# -- shifts --------------------------------------------------------------------------------


def shift_table(plan: Plan) -> str:
    """Every shift: group, template, start, end, agents, agent-hours and breaks."""
    hours = plan.scenario.interval / 3600.0
    rows = []
    for group in plan.groups:
        for block in sorted(plan.shifts[group], key=lambda b: (b.first, b.length)):
            rows.append(
                [
                    esc(group),
                    esc(template_of(block) or "–"),
                    clock_at(plan, block.first),
                    clock_at(plan, block.first + block.length),
                    str(block.count),
                    f"{block.count * block.length * hours:,.1f}",
                    esc(_breaks_text(plan, block)),
                ]
            )
    if not rows:
        return '<p class="note">No shifts: the planned groups have no load to cover.</p>'
    header = ["group", "template", "start", "end", "agents", "agent-hours", "breaks"]
    return table(header, rows, cls="plan-shifts")


def _breaks_text(plan: Plan, block: Block) -> str:
    parts = []
    for pause in breaks_of(block):
        start, end = clock_at(plan, pause.first), clock_at(plan, pause.first + pause.length)
        parts.append(f"{start}–{end} {'paid' if pause.paid else 'unpaid'}")
    return ", ".join(parts) or "–"


# -- hours ---------------------------------------------------------------------------------


def _own_hours(plan: Plan, group: str) -> float:
    """Agent-hours the input scenario itself schedules for ``group``."""
    scenario = plan.original
    return float(scheduled_agents(scenario).groups[group].sum()) * scenario.interval / 3600.0


def hours_table(plan: Plan) -> str:
    """Agent-hours required and on shift, and their cost, per planned group and in total."""
    costs = {g.group: g.cost for g in plan.scenario.agents}
    hours = plan.scenario.interval / 3600.0
    header = [
        "group",
        "cost per agent-hour",
        "required agent-hours",
        "on shift",
        "over the requirement",
        "the scenario's own shifts",
        "cost on shift",
    ]
    rows = []
    totals = [0.0, 0.0, 0.0, 0.0]
    for group in plan.groups:
        required = sum(plan.required[group]) * hours
        on_shift = plan.agent_hours(group)
        own = _own_hours(plan, group)
        cost = on_shift * costs[group]
        for i, amount in enumerate((required, on_shift, own, cost)):
            totals[i] += amount
        rows.append(
            [esc(group), f"{costs[group]:g}", f"{required:,.1f}", f"{on_shift:,.1f}",
             _share(on_shift, required), f"{own:,.1f}", f"{cost:,.1f}"]
        )  # fmt: skip
    rows.append(
        ["<b>total</b>", "", f"{totals[0]:,.1f}", f"{totals[1]:,.1f}",
         _share(totals[1], totals[0]), f"{totals[2]:,.1f}", f"{plan.cost():,.1f}"]
    )  # fmt: skip
    note = (
        '<p class="note">Agent-hours on shift count every interval an agent of a planned shift '
        "works; the cost weighs them with each group's <code>cost</code> per agent-hour.</p>"
    )
    return table(header, rows, cls="plan-hours") + note


def _share(on_shift: float, required: float) -> str:
    if required <= 0:
        return "–"
    return f"{(on_shift - required) / required:+.1%}"


# -- KPIs ----------------------------------------------------------------------------------


def kpi_table(plan: Plan, lines: list[Line]) -> str:
    """Per interval: each verified KPI, marked where it misses its per-interval limit, and the
    interval's verdict."""
    out_of_reach = {(u.where, u.scope, u.kpi) for u in plan.unreachable}
    header = ["interval", "offered"]
    for line in lines:
        entry = kpi_of(line.kpi)
        name = entry.short if line.scope == ALL else f"{line.scope} {entry.short}"
        sign = "≥" if entry.better == HIGHER else "≤"
        if line.limit is not None:
            bound = f"{sign} {entry.text(line.limit)}"
        elif line.day_target is not None:
            bound = f"day {sign} {entry.text(line.day_target)}"
        else:
            bound = ""
        header.append(f"{esc(name)}<br>{esc(bound)}")
    header.append("verdict")
    held = any(line.limit is not None for line in lines)
    rows = []
    for j, label in enumerate(plan.labels):
        cells = [esc(label), f"{plan.verified.offered[j]:.1f}"]
        missed = []
        for line in lines:
            text = kpi_of(line.kpi).text(line.values[j])
            name = line.kpi if line.scope == ALL else f"{line.scope} {line.kpi}"
            if j in line.missed:
                far = (label, line.scope, line.kpi) in out_of_reach
                missed.append(name + (" (out of reach)" if far else ""))
                cells.append(f'<td class="fail">✗ {esc(text)}</td>')
            elif j in line.noise:
                cells.append(f'<td class="near">≈ {esc(text)}</td>')
            else:
                cells.append(esc(text))
        if missed:
            cells.append(f'<td class="fail" data-miss="1">misses {esc(", ".join(missed))}</td>')
        elif held:
            cells.append('<td class="pass" data-miss="0">meets</td>')
        else:
            cells.append('<td data-miss="0">no per-interval limit</td>')
        rows.append(cells)
    return table(header, rows, cls="plan-kpis")


def _kpi_caption(plan: Plan) -> str:
    if plan.scope == "interval":
        held = "every interval is held to the targets"
    elif plan.floors:
        held = "the targets bind the day's totals (dotted) and every interval is held to the floors"
    else:
        held = "the targets bind the day's totals (dotted); no interval floor was set"
    return (
        f"The verification run of the planned shifts, estimated over {plan.replications} traces "
        f"(band: 95%); {held}. ✗ and a cross: the interval is shown missing its limit at "
        "one-sided 95%, the planner's own test; ≈ and a ring: below it within noise. Planned "
        "channels: those held to the scenario's targets, pooled; a channel with targets of its "
        "own is shown on its own."
    )
