"""How big the shift-template integer program gets and how long HiGHS takes on it.

A day of 15-minute intervals, two templates (day: starts 07:00 to 12:00, late: 12:30 to 17:30,
every 30 minutes), each of two lengths (8h, 9h) and two breaks (15 minutes 1h30m to 3h after
the start, 30 minutes unpaid 3h30m to 5h): the program's size, then the time of
:func:`sim.templates.cover_templates` on requirements from 07:00 to 23:00 peaking at 4 to 150
agents, smooth (a sine) and noisy (±8%, as an interval search leaves it). Run:
``python scripts/templates_bench.py`` (about a minute on two cores).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from typing import Any

from sim.scenario import Scenario, parse_scenario
from sim.shifts import head_count, paid_intervals
from sim.templates import cover_templates, program, rules

BREAKS = [
    {"length": "15m", "earliest": "1h30m", "latest": "3h"},
    {"length": "30m", "earliest": "3h30m", "latest": "5h", "paid": False},
]
TEMPLATES = [
    {"name": "day", "lengths": ["8h", "9h"], "earliest": "07:00", "latest": "12:00",
     "step": "30m", "breaks": BREAKS},
    {"name": "late", "lengths": ["8h", "9h"], "earliest": "12:30", "latest": "17:30",
     "step": "30m", "breaks": BREAKS},
]  # fmt: skip
PEAKS = (4, 6, 8, 10, 12, 16, 30, 60, 100, 150)


def day(templates: list[dict[str, Any]]) -> Scenario:
    return parse_scenario(
        {
            "name": "templates-bench",
            "start": "00:00",
            "duration": "24h",
            "interval": "15m",
            "channels": {
                "chat": {
                    "protocol": "webchat",
                    "volume": 100,
                    "patience": {"dist": "exponential", "mean": "2m"},
                    "reply": {"dist": "exponential", "mean": "30s"},
                }
            },
            "agents": [
                {"group": "a", "skills": ["chat"], "staffing": [1] * 96, "templates": templates}
            ],
        }
    )


def requirement(peak: int, noisy: bool) -> list[int]:
    """Agents at work from 07:00 to 23:00, a half sine from 40% to 100% of ``peak``."""
    draw = random.Random(peak)
    out = []
    for j in range(96):
        if j < 28 or j > 92:
            out.append(0)
            continue
        level = peak * (0.4 + 0.6 * math.sin(math.pi * (j - 28) / 64))
        out.append(max(0, round(level * (1 + (0.08 * draw.uniform(-1, 1) if noisy else 0)))))
    return out


def main() -> None:
    scenario = day(TEMPLATES)
    group = scenario.agents[0]
    model = program(scenario, group)
    placements = 1
    for rule in rules(scenario, group.templates[0]):  # type: ignore[index]
        placements *= len(rule.offsets)
    rows = model.coverage.shape[0]
    placed = 0 if model.placed is None else model.placed.shape[0]
    print(
        f"{len(model.shapes)} shifts; {model.variables} variables (the explicit model, one per "
        f"placement: {len(model.shapes) * placements}); {rows} coverage rows, {placed} break "
        f"rows, {0 if model.order is None else model.order.shape[0]} order rows"
    )
    seconds = []
    for peak in PEAKS:
        for noisy in (False, True):
            required = requirement(peak, noisy)
            start = time.perf_counter()
            blocks = cover_templates(required, scenario, group)
            took = time.perf_counter() - start
            seconds.append(took)
            assert all(a >= r for a, r in zip(head_count(blocks, 96), required, strict=True))
            agents, paid = sum(b.count for b in blocks), paid_intervals(blocks) / 4
            print(
                f"peak {peak:3d} {'noisy ' if noisy else 'smooth'}: {took:5.2f} s, "
                f"{agents:3d} agents, paid {paid:7.1f} h for {sum(required) / 4:7.1f} h required"
            )
    print(f"median {statistics.median(seconds):.2f} s, slowest {max(seconds):.2f} s")


if __name__ == "__main__":
    main()
