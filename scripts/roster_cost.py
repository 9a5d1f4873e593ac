"""What breaks, shrinkage and absence cost the model: tele2-weekday as bundled against the same
day with two breaks per shift, 15% shrinkage and 5% absence.

    python scripts/roster_cost.py [--repeat 5]

Runs alternate between the two scenarios on the same traces and the best of ``--repeat`` is
kept for each (machines here are shared and noisy): read the ratio, not the seconds. Also prints
what the pauses do to the day's KPIs and agent-hours.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from sim.durations import format_clock
from sim.kpi import measure
from sim.model import simulate_trace
from sim.scenario import Scenario, load_scenario, parse_scenario
from sim.traffic import draw_trace

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "tele2-weekday.yaml"


def with_pauses(scenario: Scenario) -> Scenario:
    """Every shift gets a paid 15-minute break 2 h in and an unpaid 30-minute lunch spread over
    the middle of the shift; every group 15% shrinkage and 5% absence."""
    data: dict[str, Any] = scenario.model_dump(mode="json", exclude_none=True)
    for group in data["agents"]:
        if not group.get("shifts"):
            continue
        group.update(shrinkage=0.15, absence=0.05)
        for shift in group["shifts"]:
            length = (shift["end"] - shift["start"]) % 86400 or 86400
            breaks = []
            if length >= 4 * 3600:
                breaks.append({"length": 900, "after": 7200})
            if length >= 6 * 3600:
                middle = length / 2
                breaks.append({"length": 1800, "after": max(middle - 900, 10800), "paid": False})
            shift["breaks"] = breaks
    return parse_scenario(_clocks(data))


def _clocks(data: dict[str, Any]) -> dict[str, Any]:
    """Clock fields back to "HH:MM" (the dump writes seconds after midnight)."""
    data["start"] = format_clock(data["start"])
    for group in data["agents"]:
        for shift in group.get("shifts") or ():
            shift["start"] = format_clock(shift["start"])
            end = shift["end"]
            shift["end"] = "24:00" if end == 86400 else format_clock(end)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    plain = load_scenario(SCENARIO)
    paused = with_pauses(plain)
    traces = [draw_trace(plain, 1, r, texts=False) for r in range(args.repeat)]
    best = {"plain": float("inf"), "paused": float("inf")}
    kpis: dict[str, Any] = {}
    for trace in traces:
        for name, scenario in (("plain", plain), ("paused", paused)):
            began = time.perf_counter()
            run = simulate_trace(scenario, trace)
            best[name] = min(best[name], time.perf_counter() - began)
            kpis[name] = measure(run, scenario)["total"]
    ratio = best["paused"] / best["plain"]
    print(
        f"model time, best of {args.repeat}: plain {best['plain']:.2f} s, "
        f"with pauses {best['paused']:.2f} s, ratio {ratio:.2f}"
    )
    for name in ("plain", "paused"):
        k = kpis[name]
        print(
            f"{name:>6}: SL {k['service_level']:.1%}, missed {k['missed_rate']:.1%}, "
            f"FRT {k['frt_mean']:.1f} s, paid {k['paid_hours']:.0f} h, logged in "
            f"{k['logged_in_hours']:.0f} h, productive {k['productive_hours']:.0f} h, "
            f"occupancy {k['occupancy']:.1%}"
        )


if __name__ == "__main__":
    main()
