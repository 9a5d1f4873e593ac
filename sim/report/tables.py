"""The report's HTML fragments that are not figures: KPI cards against targets, the inputs,
a replay's validity, the per-channel table and the table of differences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sim.catalogue import CHANNEL_TABLE, HEADLINE, HIGHER
from sim.catalogue import kpi as kpi_of
from sim.report.comparison import Difference
from sim.report.html import esc, table
from sim.report.runs import Context, Run, value
from sim.scenario import Scenario


def target_of(kpi: str, scenario: Scenario | None, channel: str | None = None) -> float | None:
    """The target for a KPI, if one is set: a channel's own, or else the scenario's."""
    if scenario is None:
        return None
    own = scenario.channels[channel].targets if channel in scenario.channels else None
    return dict((own or scenario.targets).items()).get(kpi)


def verdict(kpi: str, mean: float, scenario: Scenario | None, channel: str | None = None) -> str:
    """``"pass"``, ``"fail"`` or ``""`` (no target or no value)."""
    target = target_of(kpi, scenario, channel)
    if target is None or not math.isfinite(mean):
        return ""
    return "pass" if kpi_of(kpi).meets(mean, target) else "fail"


def _target_text(kpi: str, scenario: Scenario | None) -> str:
    target = target_of(kpi, scenario)
    if target is None:
        return "no target" if scenario is not None else "no scenario given: no target"
    entry = kpi_of(kpi)
    return f"target {'≥' if entry.better == HIGHER else '≤'} {entry.text(target)}"


def scenario_warnings(context: Context) -> str:
    """Warnings when the given scenario is not the one the results were made from."""
    notes = []
    scenario = context.scenario
    if scenario is not None:
        for run in context.runs:
            if run.results.scenario != scenario.name or (
                run.results.scenario_sha256 and run.results.scenario_sha256 != scenario.sha256
            ):
                notes.append(
                    f"{run.label} was made from scenario {run.results.scenario!r} "
                    f"({run.results.scenario_sha256[:12] or 'no hash'}), not from the given "
                    f"{scenario.name!r} ({scenario.sha256[:12]}): its targets and shifts may not "
                    "apply to these results."
                )
    return "".join(f'<p class="warn">{esc(n)}</p>' for n in notes)


def interval_note(context: Context) -> str:
    """How many intervals miss a target, and which (day totals can hide them)."""
    if context.scenario is None:
        return ""
    busy = {
        row.get("index")
        for row in context.primary.results.intervals
        if (row.get("offered") or {}).get("mean")
    }
    missed = sorted({(m.index, m.label) for m in context.misses})
    if not missed:
        return (
            f'<p class="note">Every one of the {len(busy)} intervals with conversations meets '
            "its targets.</p>"
        )
    kpis = sorted({m.kpi if m.scope == "all" else f"{m.scope} {m.kpi}" for m in context.misses})
    labels = ", ".join(label for _, label in missed[:12]) + (" …" if len(missed) > 12 else "")
    return (
        f'<p class="warn">{len(missed)} of {len(busy)} intervals miss a target '
        f"({esc(', '.join(kpis))}): {esc(labels)}. They are shaded in the plots below.</p>"
    )


def cards(context: Context) -> str:
    """One card per headline KPI: each run's value ± ci95, green or red against the target."""
    out = []
    for kpi in HEADLINE:
        entry = kpi_of(kpi)
        first, *others = context.runs
        mean, ci = _stat(first, kpi)
        cls = verdict(kpi, mean, context.scenario)
        lines = [
            f'<div class="what">{esc(entry.heading)}</div>',
            f'<div class="big">{esc(entry.text(mean))}</div>',
            f'<div class="ci">{esc(_ci_text(kpi, ci))}{esc(first.label)}</div>',
        ]
        for run in others:
            other, other_ci = _stat(run, kpi)
            mark = verdict(kpi, other, context.scenario)
            cls_attr = f' class="{mark}-text"' if mark else ""
            lines.append(
                f'<div class="other"><span{cls_attr}>'
                f"{esc(entry.with_ci(other, other_ci))}</span> "
                f'<span class="ci">{esc(run.label)}</span></div>'
            )
        lines.append(
            f'<div class="target">{esc(entry.description)}; '
            f"{esc(_target_text(kpi, context.scenario))}</div>"
        )
        out.append(f'<div class="card {cls}">{"".join(lines)}</div>')
    return f'<div class="cards">{"".join(out)}</div>'


def _stat(run: Run, kpi: str) -> tuple[float, float]:
    stat = run.results.total.get(kpi)
    return value(stat), value(stat, "ci95")


def _ci_text(kpi: str, ci: float) -> str:
    return f"± {kpi_of(kpi).spread(ci)} (95% CI) · " if math.isfinite(ci) else ""


def inputs(context: Context) -> str:
    """What the report was made from: one row per results file."""
    rows = []
    for run in context.runs:
        r = run.results
        rows.append(
            [
                esc(run.label),
                esc(r.scenario),
                esc(r.source),
                esc(r.replications),
                esc("–" if r.seed is None else r.seed),
                esc((r.trace_sha256 or "–")[:12]),
                esc(
                    f"{r.start} + {len({row.get('index') for row in r.intervals})} × "
                    f"{r.interval / 60:g} min"
                ),
                esc(
                    f"×{r.extra['speedup']:g}"
                    if isinstance(r.extra.get("speedup"), int | float)
                    else "–"
                ),
            ]
        )
    return table(
        [
            "results",
            "scenario",
            "source",
            "replications",
            "seed",
            "trace sha256",
            "intervals",
            "speedup",
        ],
        rows,
    )


def validity(run: Run) -> str:
    """A replay's validity block: verdict, dispatch lateness, acknowledgement and reply delivery
    latency (per channel too), losses."""
    block: dict[str, Any] = run.results.extra.get("validity") or {}
    valid = bool(block.get("valid"))
    reasons = [str(r) for r in block.get("reasons") or []]
    badge = (
        f'<span class="badge {"pass" if valid else "fail"}">'
        f"{'valid' if valid else 'INVALID'}</span> "
        f"{esc(run.label)}"
    )
    if reasons:
        badge += "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>"

    def ms(key: str, within: dict[str, Any] = block) -> str:
        number = within.get(key)
        return f"{number:.1f} ms" if isinstance(number, int | float) else "–"

    def spread(name: str, within: dict[str, Any] = block) -> str:
        return " / ".join(ms(f"{name}_{stat}_ms", within) for stat in ("p50", "p99", "max"))

    rows = [
        ["dispatch lateness (p50 / p99 / max)", spread("lateness")],
        ["webhook acknowledgement (p50 / p99 / max)", spread("ack")],
        ["reply delivery (p50 / p99 / max)", spread("delivery")],
    ]
    channels: dict[str, Any] = block.get("channels") or {}
    rows += [
        [f"reply delivery, {esc(name)}", spread("delivery", within)]
        for name, within in channels.items()
        if isinstance(within, dict)
    ]
    rows += [
        ["lost inbound messages", esc(block.get("lost_inbound", "–"))],
        ["lost replies", esc(block.get("lost_replies", "–"))],
    ]
    known = {
        "valid",
        "reasons",
        *(
            f"{name}_{stat}_ms"
            for name in ("lateness", "ack", "delivery")
            for stat in ("p50", "p99", "max")
        ),
        "channels",
        "lost_inbound",
        "lost_replies",
        "problems",
    }
    rows += [[esc(k.replace("_", " ")), esc(v)] for k, v in block.items() if k not in known]
    problems = [str(p) for p in block.get("problems") or []]
    extra = ""
    if problems:
        shown = "".join(f"<li>{esc(p)}</li>" for p in problems[:20])
        more = f"<li>… and {len(problems) - 20} more</li>" if len(problems) > 20 else ""
        extra = f"<p>Problems:</p><ul>{shown}{more}</ul>"
    return f"<p>{badge}</p>" + table(["measure", "value"], rows) + extra


def channel_table(context: Context) -> str:
    """Per channel and run: the main KPIs, coloured against the targets."""
    header = ["channel", "results", *[esc(kpi_of(k).label) for k in CHANNEL_TABLE]]
    rows = []
    for name in [*context.channels, "total"]:
        for run in context.runs:
            stats = run.results.total if name == "total" else run.results.channels.get(name)
            if stats is None:
                continue
            colour = context.colours.get(name, "#212529")
            cells = [
                f'<span class="swatch" style="background:{colour}"></span>{esc(name)}',
                esc(run.label),
            ]
            for kpi in CHANNEL_TABLE:
                mean, ci = value(stats.get(kpi)), value(stats.get(kpi), "ci95")
                mark = verdict(kpi, mean, context.scenario, None if name == "total" else name)
                attr = f' class="{mark}"' if mark else ""
                cells.append(f"<td{attr}>{esc(kpi_of(kpi).with_ci(mean, ci))}</td>")
            rows.append(cells)
    note = ""
    if context.scenario is not None:
        targets = ", ".join(
            f"{n} {c.first_response_target:g} s" for n, c in context.scenario.channels.items()
        )
        note = f'<p class="note">First-response targets of the service level: {esc(targets)}.</p>'
    return table(header, rows) + note


def differences_table(rows: Sequence[Difference], predicted: Run, measured: Run) -> str:
    """Predicted, measured and their difference for each KPI of the total."""
    body = []
    for d in rows:
        agree = d.consistent
        if agree is None:
            cell = "<td>–</td>"
        else:
            cell = f'<td class="{"pass" if agree else "fail"}">{"yes" if agree else "no"}</td>'
        relative = (
            f"{d.relative * 100:+.1f}%".replace("-", "−") if math.isfinite(d.relative) else "–"
        )
        body.append(
            [
                esc(kpi_of(d.kpi).label),
                esc(kpi_of(d.kpi).with_ci(d.predicted, d.predicted_ci)),
                esc(kpi_of(d.kpi).with_ci(d.measured, d.measured_ci)),
                esc(kpi_of(d.kpi).delta(d.diff)),
                esc(relative),
                cell,
            ]
        )
    return table(
        [
            "KPI (all channels)",
            esc(predicted.label),
            esc(measured.label),
            "measured − predicted",
            "relative",
            "within 95% CI",
        ],
        body,
    )
