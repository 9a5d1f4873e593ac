"""Verdicts: KPI checks with a pass or a fail, and their outputs for people and for CI.

A :class:`Check` is one KPI of one scope (the total or a channel) held against a limit: a
tolerance around a prediction (``compare``), a target or a baseline (``check``). A
:class:`Verdict` is a list of checks plus notes; it renders as JSON, JUnit XML (each check a
test case, so CI systems list them) and a Markdown summary short enough for a pull request.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sim.catalogue import Kpi, Unit
from sim.catalogue import kpi as kpi_of


@dataclass(slots=True)
class Check:
    """One KPI against its limit. ``kind`` is ``tolerance``, ``target``, ``baseline``,
    ``interval`` or ``threshold``; a threshold's limit is ``expected`` and ``operator`` says
    which side of it passes (``<``, ``<=``, ``>``, ``>=``)."""

    kind: str
    scope: str
    kpi: str
    expected: float | None
    actual: float | None
    allowed: float | None
    passed: bool
    detail: str
    expected_ci95: float | None = None
    operator: str | None = None

    @property
    def difference(self) -> float | None:
        if self.expected is None or self.actual is None:
            return None
        return self.actual - self.expected

    @property
    def name(self) -> str:
        return f"{self.scope}.{self.kpi}"

    @property
    def limit(self) -> str:
        """The allowed room as a table shows it: ``±0.4 pp``, ``< 50.0 ms``, ``–``."""
        if self.operator is not None:
            return f"{self.operator} {self.entry.text(self.expected)}"
        return "–" if self.allowed is None else "±" + self.entry.spread(self.allowed)

    @property
    def entry(self) -> Kpi:
        """What formats this check's numbers: its KPI, or a share of intervals for the
        per-interval checks (kind ``interval``), whatever the KPI's own unit."""
        found = kpi_of(self.kpi)
        if self.kind == "interval":
            return Kpi(found.key, found.label, found.short, Unit.RATE)
        return found


@dataclass(slots=True)
class Verdict:
    """The checks of one comparison or capacity check, and notes that qualify them."""

    title: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    @property
    def exit_code(self) -> int:
        """0 when every check passed, 1 otherwise (the exit codes of the command line)."""
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "passed": self.passed,
            "notes": self.notes,
            "checks": [{**asdict(check), "difference": check.difference} for check in self.checks],
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )

    def junit(self) -> str:
        """JUnit XML: a suite per kind of check, a test case per KPI and scope."""
        suites = ET.Element(
            "testsuites",
            name=self.title,
            tests=str(len(self.checks)),
            failures=str(len(self.failures)),
        )
        for kind in dict.fromkeys(check.kind for check in self.checks):
            mine = [check for check in self.checks if check.kind == kind]
            suite = ET.SubElement(
                suites,
                "testsuite",
                name=f"chatsim.{kind}",
                tests=str(len(mine)),
                failures=str(sum(not c.passed for c in mine)),
                errors="0",
                skipped="0",
            )
            for check in mine:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=f"chatsim.{kind}.{check.scope}",
                    name=check.kpi,
                    time="0",
                )
                if not check.passed:
                    failure = ET.SubElement(
                        case, "failure", message=check.detail, type=f"{kind}-failed"
                    )
                    failure.text = check.detail
                else:
                    ET.SubElement(case, "system-out").text = check.detail
            if self.notes:
                ET.SubElement(suite, "system-err").text = "\n".join(self.notes)
        ET.indent(suites)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(suites, encoding="unicode")
            + "\n"
        )

    def write_junit(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.junit(), encoding="utf-8")

    def markdown(self, limit: int = 12) -> str:
        """A pull-request comment: the verdict, the failures (at most ``limit``), the notes."""
        head = (
            f"### {'✅' if self.passed else '❌'} {self.title}: "
            f"{len(self.checks) - len(self.failures)}/{len(self.checks)} checks passed"
        )
        lines = [head, ""]
        rows = self.failures or [c for c in self.checks if c.scope == "total"]
        if rows:
            lines += [
                "| check | scope | KPI | expected | actual | difference | allowed |",
                "|---|---|---|---|---|---|---|",
            ]
            for check in rows[:limit]:
                mark = "✅" if check.passed else "❌"
                kpi = check.entry
                lines.append(
                    f"| {mark} {check.kind} | {check.scope} | `{check.kpi}` "
                    f"| {kpi.text(check.expected)} | {kpi.text(check.actual)} "
                    f"| {kpi.delta(check.difference)} "
                    f"| {check.limit if check.operator else kpi.spread(check.allowed)} |"
                )
            if len(rows) > limit:
                lines.append(f"\n…and {len(rows) - limit} more")
        lines += [f"\n> {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def write_markdown(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown(), encoding="utf-8")
