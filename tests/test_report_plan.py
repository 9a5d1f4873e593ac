"""The planner's page (``chatsim staff --report``): required against scheduled per interval with
the over/under, the shift timeline with breaks, agent-hours and cost, the verified KPIs with the
intervals that miss marked, and an Erlang C line that only ever calls itself an estimate."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import sim.cli.staff
from sim.cli import main
from sim.kpi import ALL
from sim.planner import Plan, plan_staff
from sim.report import capacity, plan_figures
from sim.report.plan import (
    PLAN_SECTIONS,
    build_plan_report,
    erlang_estimate,
    hours_table,
    interval_table,
    kpi_lines,
    kpi_table,
    missed_intervals,
    shift_table,
)
from sim.report.runs import make_context
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "scenarios" / "small.yaml"


class Tables(HTMLParser):
    """Rows of every table by its class: each cell as (attributes, text); and every tag."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[dict[str, str], str]]]] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self._table: str | None = None
        self._cell: tuple[dict[str, str], list[str]] | None = None
        self._head = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        found = {k: v or "" for k, v in attrs}
        self.tags.append((tag, found))
        if tag == "table":
            self._table = found.get("class", "")
            self.tables[self._table] = []
        elif tag == "thead":
            self._head = True
        elif tag == "tbody":
            self._head = False
        elif tag == "tr" and self._table is not None and not self._head:
            self.tables[self._table].append([])
        elif tag == "td" and self._table is not None:
            self._cell = (found, [])

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None and self._table is not None:
            attrs, text = self._cell
            self.tables[self._table][-1].append((attrs, "".join(text).strip()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1].append(data)


def x_of(plan: Plan, j: float) -> float:
    """Where interval ``j`` starts on the figures' axis: hours after midnight."""
    return plan.scenario.start / 3600.0 + j * plan.scenario.interval / 3600.0


def patches(figure, gid: str) -> list:
    return [p for ax in figure.axes for p in ax.patches if p.get_gid() == gid]


@pytest.fixture(scope="module")
def plan() -> Plan:
    """small.yaml planned on 3 h and 2 h shifts: blocks run over where the requirement dips."""
    return plan_staff(
        load_scenario(SMALL), shift_lengths=[3 * 3600, 2 * 3600], replications=4, seed=1
    )


@pytest.fixture(scope="module")
def strict(plan: Plan) -> tuple[Plan, list[int]]:
    """The same plan held to a service level that about half its intervals are shown to miss,
    with the intervals the verification's estimates miss, computed here on their own."""
    estimates = [plan.verified.intervals[j]["service_level"] for j in range(len(plan.labels))]
    edges = sorted(e.value + 1.645 * e.se for e in estimates if np.isfinite(e.se))
    limit = edges[len(edges) // 2] + 1e-6
    expected = [
        j
        for j, e in enumerate(estimates)
        if (e.value < limit if e.se == 0 else (e.value - limit) / e.se < -1.645)
    ]
    assert 0 < len(expected) < len(plan.labels)
    held = {"service_level": limit}
    return dataclasses.replace(plan, targets=held, goals={ALL: held}), expected


def test_required_and_scheduled_per_interval_with_the_over_under(plan):
    group = plan.groups[0]
    short = list(plan.on_shift[group])
    short[0] = plan.required[group][0] - 1  # one agent under the requirement at the start
    under = dataclasses.replace(plan, on_shift={group: short})
    rows = Tables(interval_table(under)).tables["plan-intervals"]
    assert len(rows) == len(plan.labels)
    signs = set()
    for j, row in enumerate(rows):
        required, scheduled = plan.required[group][j], short[j]
        assert row[0][1] == plan.labels[j]
        assert (int(row[3][1]), int(row[4][1])) == (required, scheduled)
        attrs, text = row[5]
        assert int(attrs["data-over-under"]) == scheduled - required
        assert (
            text
            == {1: f"+{scheduled - required}", 0: "0", -1: f"−{required - scheduled}"}[
                np.sign(scheduled - required)
            ]
        )
        assert (
            attrs.get("class", "") == {1: "over", 0: "", -1: "fail"}[np.sign(scheduled - required)]
        )
        signs.add(int(np.sign(scheduled - required)))
    assert signs == {-1, 0, 1}  # the small plan runs over where its requirement dips

    figure = plan_figures.requirement(under)
    bars = patches(figure, f"over-under:{group}")
    drawn = {round(b.get_x(), 6): b.get_height() for b in bars}
    wanted = {
        round(x_of(plan, j), 6): short[j] - plan.required[group][j]
        for j in range(len(plan.labels))
        if short[j] != plan.required[group][j]
    }
    assert drawn == wanted
    scheduled = [b.get_height() for b in patches(figure, f"scheduled:{group}")]
    assert scheduled == short
    (line,) = [ln for ax in figure.axes for ln in ax.lines if ln.get_gid() == f"required:{group}"]
    assert list(line.get_ydata()[:-1]) == plan.required[group]


def test_miss_marks_are_on_exactly_the_intervals_whose_verified_kpis_miss(strict):
    plan, expected = strict
    assert missed_intervals(plan) == expected
    assert sorted({label for label, _ in plan.short}) == sorted(plan.labels[j] for j in expected)
    text = build_plan_report(plan)
    page = Tables(text)
    rows = page.tables["plan-kpis"]
    marked = [j for j, row in enumerate(rows) if row[-1][0].get("data-miss") == "1"]
    assert marked == expected
    for j, row in enumerate(rows):
        assert (row[2][0].get("class") == "fail") == (j in expected)
        assert row[2][1].startswith("✗") == (j in expected)
    assert f"{len(expected)} of {len(plan.labels)}</div>" in text  # the headline card

    figure = plan_figures.kpis(plan, kpi_lines(plan), expected)
    (crosses,) = [
        c for ax in figure.axes for c in ax.collections if c.get_gid() == "misses:all:service_level"
    ]
    middle = plan.scenario.interval / 7200.0
    assert np.allclose(crosses.get_offsets()[:, 0], [x_of(plan, j) + middle for j in expected])

    assert {t[1].get("data-figure") for t in page.tags if "data-figure" in t[1]} == set(
        PLAN_SECTIONS
    )
    for tag, attrs in page.tags:
        assert tag not in {"script", "link", "iframe", "object", "embed"}
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")


def test_day_scope_holds_intervals_to_the_floors_only(strict):
    plan, expected = strict
    floors = plan.goals[ALL]
    day = dataclasses.replace(plan, scope="day", floors=floors)
    assert missed_intervals(day) == expected
    free = dataclasses.replace(plan, scope="day", floors={})
    assert missed_intervals(free) == []
    rows = Tables(kpi_table(free, kpi_lines(free))).tables["plan-kpis"]
    assert {row[-1][1] for row in rows} == {"no per-interval limit"}


@dataclass(frozen=True)
class Break:
    first: int
    length: int
    paid: bool


@dataclass(frozen=True)
class Block:
    first: int
    length: int
    count: int
    breaks: tuple[Break, ...] = ()
    template: str | None = None


def test_the_shift_timeline_draws_every_shift_and_its_breaks(plan):
    shifts = [
        Block(0, 12, 3, (Break(4, 1, True), Break(8, 2, False)), "early"),
        Block(3, 8, 2, (Break(6, 1, False),), "middle"),
    ]
    rostered = dataclasses.replace(plan, shifts={plan.groups[0]: shifts})
    figure = plan_figures.timeline(rostered)
    width = plan.scenario.interval / 3600.0
    bars = patches(figure, "shift")
    assert [(round(b.get_x(), 6), round(b.get_width(), 6)) for b in bars] == [
        (round(x_of(plan, 0), 6), round(12 * width, 6)),
        (round(x_of(plan, 3), 6), round(8 * width, 6)),
    ]
    paid = [(round(b.get_x(), 6), round(b.get_width(), 6)) for b in patches(figure, "break-paid")]
    unpaid = [round(b.get_x(), 6) for b in patches(figure, "break-unpaid")]
    assert paid == [(round(x_of(plan, 4), 6), round(width, 6))]
    assert sorted(unpaid) == sorted(round(x_of(plan, j), 6) for j in (8, 6))
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["experts · early · 09:00–12:00", "experts · middle · 09:45–11:45"]
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts == ["3 agents", "2 agents"]
    rows = Tables(shift_table(rostered)).tables["plan-shifts"]
    assert [[cell for _, cell in row] for row in rows] == [
        ["experts", "early", "09:00", "12:00", "3", "9.0", "10:00–10:15 paid, 11:00–11:30 unpaid"],
        ["experts", "middle", "09:45", "11:45", "2", "4.0", "10:30–10:45 unpaid"],
    ]


def test_agent_hours_and_cost_per_group_and_total(plan):
    agents = [g.model_copy(update={"cost": 2.5}) for g in plan.scenario.agents]
    costly = dataclasses.replace(plan, scenario=plan.scenario.model_copy(update={"agents": agents}))
    group = plan.groups[0]
    rows = Tables(hours_table(costly)).tables["plan-hours"]
    required = sum(plan.required[group]) * plan.scenario.interval / 3600.0
    on_shift = costly.agent_hours(group)
    assert [cell for _, cell in rows[0]][:4] == [
        group,
        "2.5",
        f"{required:,.1f}",
        f"{on_shift:,.1f}",
    ]
    assert rows[0][-1][1] == rows[-1][-1][1] == f"{2.5 * on_shift:,.1f}" == f"{costly.cost():,.1f}"
    assert rows[-1][0][1] == "total"


def test_the_erlang_c_line_is_an_estimate_never_required(plan):
    estimate = erlang_estimate(plan)
    assert estimate is not None
    figure = plan_figures.requirement(plan, [], estimate)
    (line,) = [ln for ax in figure.axes for ln in ax.lines if ln.get_gid() == "erlang-estimate"]
    assert line.get_label() == capacity.ESTIMATE_LABEL and "Erlang C estimate" in line.get_label()
    legend = [t.get_text() for ax in figure.axes if ax.get_legend() for t in ax.get_legend().texts]
    assert capacity.ESTIMATE_LABEL in legend
    assert [t for t in legend if t.startswith("required")] == [
        "required: the planner's requirement (found with the model)"
    ]
    # The simulate report's capacity figure on the same run: the estimate, never "required".
    records = {0: [r.to_dict() for r in plan.records]}
    context = make_context([plan.results], records, plan.scenario)
    figure = capacity.staffing_figure(context)
    legend = [t.get_text() for t in figure.axes[0].get_legend().texts]
    assert capacity.ESTIMATE_LABEL in legend
    titles = [figure.get_suptitle(), *legend]
    assert not [t for t in titles if "required" in t], titles
    for source in (ROOT / "sim" / "report").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "required (Erlang" not in text and "vs required" not in text, source


def test_staff_report_writes_the_plan_page(plan, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sim.cli.staff, "plan_staff", lambda *args, **kwargs: plan)
    out = tmp_path / "sub" / "plan.html"
    with pytest.raises(SystemExit) as exit_info:
        main(["staff", str(SMALL), "--report", str(out)])
    assert (exit_info.value.code or 0) == 0
    assert f"wrote {out}" in capsys.readouterr().out.replace("\n", "")
    text = out.read_text(encoding="utf-8")
    page = Tables(text)
    figures = {a["data-figure"] for _, a in page.tags if "data-figure" in a}
    assert figures == set(PLAN_SECTIONS) and "arrivals" not in figures  # not a simulate report
    assert text.startswith("<!DOCTYPE html>") and "chatsim plan: small" in text
    assert len(page.tables["plan-intervals"]) == len(plan.labels)
