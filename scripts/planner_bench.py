"""How long `chatsim staff` takes, and how it grows with intervals and channels.

Times are reported in units of one model replication of the same scenario (simulate and
measure, one process), so that the figures say what the planner costs on top of the model
whatever the machine; seconds are printed too. Run: ``python scripts/planner_bench.py``
(a few minutes on two cores); ``--quick`` plans only tele2-weekday.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import yaml

from sim.kpi import measure
from sim.model import simulate_trace
from sim.planner import plan_staff
from sim.scenario import Scenario, load_scenario, parse_scenario
from sim.traffic import draw_trace

ROOT = Path(__file__).resolve().parent.parent
TELE2 = ROOT / "scenarios" / "tele2-weekday.yaml"


def replication_seconds(scenario: Scenario) -> float:
    """Best of three: draw, simulate and measure one replication."""
    best = float("inf")
    for r in range(3):
        start = time.perf_counter()
        trace = draw_trace(scenario, 1, r, texts=False)
        measure(simulate_trace(scenario, trace), scenario)
        best = min(best, time.perf_counter() - start)
    return best


def plan_seconds(scenario: Scenario, scope: str, replications: int, jobs: int) -> tuple[float, int]:
    start = time.perf_counter()
    plan = plan_staff(
        scenario,
        scope="day" if scope == "day" else "interval",
        shift_lengths=[8 * 3600, 9 * 3600],
        replications=replications,
        jobs=jobs,
    )
    return time.perf_counter() - start, plan.evaluations


def variant(data: dict, *, interval: str | None = None, channels: int | None = None) -> Scenario:
    """tele2-weekday with another interval length (profiles resampled) or fewer channels."""
    data = copy.deepcopy(data)
    if interval is not None:
        factor = {"5m": 3, "15m": 1}.get(interval)
        data["interval"] = interval
        for channel in data["channels"].values():
            profile = channel.get("profile")
            if isinstance(profile, list) and factor:
                channel["profile"] = [w for w in profile for _ in range(factor)]
            elif isinstance(profile, list):  # 30m: pairs merged
                channel["profile"] = [
                    profile[i] + profile[i + 1] for i in range(0, len(profile), 2)
                ]
    if channels is not None:
        kept = list(data["channels"])[:channels]
        data["channels"] = {name: data["channels"][name] for name in kept}
        for group in data["agents"]:
            group["skills"] = [s for s in group["skills"] if s in kept] or kept[:1]
    return parse_scenario(data, file=TELE2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("-n", "--replications", type=int, default=4)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    options = parser.parse_args()
    tele2 = load_scenario(TELE2)
    unit = replication_seconds(tele2)
    print(f"one replication of tele2-weekday: {unit:.2f} s (the unit below)")
    for scope in ("day", "interval"):
        seconds, evaluations = plan_seconds(tele2, scope, options.replications, options.jobs)
        print(
            f"staff tele2-weekday --scope {scope} -n {options.replications} -j {options.jobs}: "
            f"{seconds:.1f} s = {seconds / unit:.0f} replications, {evaluations} evaluations"
        )
    if options.quick:
        return
    data = yaml.safe_load(TELE2.read_text(encoding="utf-8"))
    print("growth, --scope interval (time in replications of the same scenario):")
    for label, scenario in (
        ("48 intervals (30m)", variant(data, interval="30m")),
        ("96 intervals (15m)", variant(data, interval="15m")),
        ("288 intervals (5m)", variant(data, interval="5m")),
        ("2 channels", variant(data, channels=2)),
        ("4 channels", variant(data, channels=4)),
        ("6 channels", variant(data, channels=6)),
    ):
        unit = replication_seconds(scenario)
        seconds, evaluations = plan_seconds(
            scenario, "interval", options.replications, options.jobs
        )
        print(
            f"  {label:20s} {seconds:6.1f} s = {seconds / unit:5.0f} replications, "
            f"{evaluations} evaluations"
        )


if __name__ == "__main__":
    main()
