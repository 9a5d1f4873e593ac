"""How the cost of one replication grows with the volume and with the agents: time and memory
per conversation.

    python scripts/scale_bench.py [--quick] [--repeat K]

Each point is one replication of a 24-hour day (00:00-24:00, 15-minute intervals) with the
intraday profile of tele2-weekday (a morning and an evening peak, quiet nights) on two channels,
a messenger (60% of the volume, silent abandonment) and site chat (40%), served by one agent
group holding up to 3 chats each (:func:`day_scenario`). Two grids:

* **volume**: 10,000, 100,000 and 1,000,000 conversations a day (``--quick``: not the last),
  staffed per interval in proportion to the offered load (:func:`sized_staffing`: the agents an
  interval needs for 75% occupancy of their hands or of their chat slots, whichever needs
  more), which gives a service level of 80-90% (90 s) and 3-5% missed; the agents at the peak
  grow with the volume, from 22 at 10,000 a day to about 2,200 at 1,000,000 (which needs about
  2 GB of memory and two minutes);
* **agents**: 100,000 conversations a day and a flat staffing of 10 to 2,000 agents all day:
  the small staffings shed most of the load through the customers' patience, the large ones
  are mostly idle; the cost of the agent count alone.

Every point runs in a fresh process (this script with ``--point``), so that its peak memory is
its own. The process imports chatsim and builds the scenario, reads its resident memory
(VmRSS), then times, separately, :func:`sim.traffic.draw_trace` (``texts=False``, as
``chatsim simulate`` draws), :func:`sim.model.simulate_trace` and :func:`sim.kpi.measure` (with
percentiles), adds up the time spent in Python's cyclic garbage collector meanwhile
(``gc.callbacks``; drawing and measuring pause the collector, so this time is the model's), and
reads its peak resident memory (VmHWM). Memory per conversation is that peak less the resident
memory after the imports, over the conversations drawn (the trace, the run's records and the
measurement's columns are all alive at the peak). With ``--repeat K`` each point runs K times
(K processes) and each figure is the best of the K.

Printed per point: the conversations drawn, the peak agents staffed, the day's service level,
missed rate and occupancy (to show that the day is neither collapsed nor idle), the time per
conversation in µs of drawing, the model, measuring, their total and the part of it in the
garbage collector, the memory per conversation in bytes, and the growth of the total time and
of the memory per conversation relative to the first point of its grid. Machines here are
shared and noisy: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
PROFILE_SOURCE = ROOT / "scenarios" / "tele2-weekday.yaml"
INTERVAL = 900.0
OCCUPANCY = 0.75
MAX_CHATS = 3
SLOWDOWN = (1.0, 1.15, 1.35)
SHARES = {"messenger": 0.6, "webchat": 0.4}

# Conversation shape (the same on both channels but patience): means, seconds.
TURNS = 2.5
FIRST_REPLY = 15.0
REPLY = 25.0
THINK = 50.0
CLOSE_AFTER = 60.0
HANDS = (FIRST_REPLY + (TURNS - 1) * REPLY) * sum(SLOWDOWN) / len(SLOWDOWN)
"""Agent work per conversation, with a mean slowdown."""
SLOT = FIRST_REPLY + (TURNS - 1) * (THINK + REPLY) + CLOSE_AFTER
"""Time a conversation holds one of the agent's chat slots once answered."""

VOLUMES = (10_000, 100_000, 1_000_000)
AGENT_VOLUME = 100_000
AGENTS = (10, 30, 100, 300, 1_000, 2_000)


@dataclass(frozen=True)
class Point:
    """One run: ``volume`` conversations a day; ``agents`` all day, or None for a staffing
    sized to the load."""

    volume: int
    agents: int | None = None

    @property
    def arg(self) -> str:
        return f"{self.volume}:{self.agents if self.agents is not None else 'sized'}"

    @classmethod
    def parse(cls, text: str) -> Point:
        volume, agents = text.split(":")
        return cls(int(volume), None if agents == "sized" else int(agents))


def day_profile() -> list[float]:
    """tele2-weekday's intraday profile (96 quarter-hours), normalised to sum 1."""
    from sim.scenario import load_scenario

    day = load_scenario(PROFILE_SOURCE)
    return day.weights(next(iter(day.channels)))


def sized_staffing(volume: float, profile: list[float]) -> list[int]:
    """Agents per interval for ``volume`` conversations a day spread by ``profile``: enough for
    the hands (reply work) and for the chat slots to be busy ``OCCUPANCY`` of the time."""
    staffing = []
    for weight in profile:
        rate = volume * weight / INTERVAL
        need = max(rate * HANDS / OCCUPANCY, rate * SLOT / (MAX_CHATS * OCCUPANCY))
        staffing.append(max(1, math.ceil(need)))
    return staffing


def day_scenario(volume: float, agents: int | None = None) -> Scenario:
    """A 24-hour day of ``volume`` conversations; ``agents`` all day, or (None) staffed per
    interval by :func:`sized_staffing`."""
    from sim.scenario import parse_scenario

    profile = day_profile()
    staffing = sized_staffing(volume, profile) if agents is None else [agents] * len(profile)
    shape: dict[str, Any] = {
        "turns": {"dist": "geometric", "mean": TURNS},
        "think": {"dist": "lognormal", "mean": THINK, "cv": 1.0},
        "first_reply": {"dist": "lognormal", "mean": FIRST_REPLY, "cv": 0.5},
        "reply": {"dist": "lognormal", "mean": REPLY, "cv": 0.8},
        "close_after": {"dist": "constant", "value": CLOSE_AFTER},
        "first_response_target": 90.0,
        "profile": profile,
    }
    data = {
        "name": f"scale-{volume:g}-{agents if agents is not None else 'sized'}",
        "start": "00:00",
        "duration": "24h",
        "interval": INTERVAL,
        "channels": {
            "messenger": {
                "protocol": "whatsapp",
                "volume": volume * SHARES["messenger"],
                "silent_abandon": True,
                "patience": {"dist": "lognormal", "mean": 600.0, "cv": 1.2},
                **shape,
            },
            "webchat": {
                "protocol": "webchat",
                "volume": volume * SHARES["webchat"],
                "silent_abandon": False,
                "patience": {"dist": "lognormal", "mean": 240.0, "cv": 1.0},
                "priority": 1,
                **shape,
            },
        },
        "agents": [
            {
                "group": "agents",
                "skills": list(SHARES),
                "max_chats": MAX_CHATS,
                "slowdown": list(SLOWDOWN),
                "staffing": staffing,
            }
        ],
    }
    return parse_scenario(data)


def _status_kib(key: str) -> int:
    """A line of /proc/self/status in KiB (0 where there is none: no figure, not a failure)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class _CollectorClock:
    """A ``gc.callbacks`` entry that adds up the time spent in Python's cyclic collector."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._since = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._since = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._since


def run_point(point: Point, seed: int = 1) -> dict[str, float]:
    """Draw, simulate and measure one replication of ``point`` in this process; the times in
    seconds, the resident memory after the imports and the peak, in KiB."""
    from sim.kpi import measure
    from sim.model import simulate_trace
    from sim.traffic import draw_trace

    scenario = day_scenario(point.volume, point.agents)
    collecting = _CollectorClock()
    gc.callbacks.append(collecting)
    base = _status_kib("VmRSS")
    start = time.perf_counter()
    trace = draw_trace(scenario, seed=seed, texts=False)
    drawn = time.perf_counter()
    run = simulate_trace(scenario, trace)
    modelled = time.perf_counter()
    kpis = measure(run, scenario)
    measured = time.perf_counter()
    peak = _status_kib("VmHWM")
    gc.callbacks.remove(collecting)
    total = kpis["total"]
    staffing = scenario.agents[0].staffing or [0]
    return {
        "conversations": len(trace),
        "agents": max(staffing),
        "draw": drawn - start,
        "model": modelled - drawn,
        "measure": measured - modelled,
        "gc": collecting.seconds,
        "base_kib": base,
        "peak_kib": peak,
        "service_level": _figure(total.get("service_level")),
        "missed_rate": _figure(total.get("missed_rate")),
        "occupancy": _figure(total.get("occupancy")),
    }


def _figure(value: float | None) -> float:
    return math.nan if value is None else float(value)


def run_child(point: Point) -> dict[str, float]:
    """:func:`run_point` in a fresh process."""
    found = subprocess.run(
        [sys.executable, __file__, "--point", point.arg],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, float] = json.loads(found.stdout.strip().splitlines()[-1])
    return result


def best_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each time and the memory at their best (least) over ``runs`` of one point."""
    best = dict(runs[0])
    for key in ("draw", "model", "measure", "gc"):
        best[key] = min(run[key] for run in runs)
    best["total"] = min(run["draw"] + run["model"] + run["measure"] for run in runs)
    best["memory_kib"] = min(max(0.0, run["peak_kib"] - run["base_kib"]) for run in runs)
    return best


HEADER = (
    f"{'conversations':>13} {'agents':>6} {'SL':>5} {'missed':>6} {'occ':>4} "
    f"{'draw':>6} {'model':>6} {'measure':>7} {'total':>6} {'gc':>5} {'bytes':>6} "
    f"{'x time':>6} {'x mem':>6}"
)


def row(best: dict[str, float], first: dict[str, float]) -> str:
    """One line of the table: times in µs and memory in bytes per conversation."""
    n = best["conversations"]
    per = {key: best[key] / n * 1e6 for key in ("draw", "model", "measure", "total", "gc")}
    memory = best["memory_kib"] * 1024 / n
    first_time = first["total"] / first["conversations"]
    first_memory = first["memory_kib"] * 1024 / first["conversations"]
    return (
        f"{n:>13,.0f} {best['agents']:>6,.0f} {best['service_level']:>5.1%} "
        f"{best['missed_rate']:>6.1%} {best['occupancy']:>4.0%} "
        f"{per['draw']:>6.1f} {per['model']:>6.1f} {per['measure']:>7.1f} {per['total']:>6.1f} "
        f"{per['gc']:>5.1f} {memory:>6.0f} {best['total'] / n / first_time:>6.2f} "
        f"{memory / first_memory if first_memory else math.nan:>6.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip 1,000,000 a day")
    parser.add_argument("--repeat", type=int, default=1, help="best of K processes per point")
    parser.add_argument("--point", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.point:
        print(json.dumps(run_point(Point.parse(args.point))))
        return
    volumes = [v for v in VOLUMES if not (args.quick and v > AGENT_VOLUME)]
    grids = [
        ("volume grows, agents sized to the load", [Point(v) for v in volumes]),
        (
            f"agents grow, {AGENT_VOLUME:,} conversations a day",
            [Point(AGENT_VOLUME, a) for a in AGENTS],
        ),
    ]
    todo = sum(len(points) for _, points in grids) * args.repeat
    done = 0
    started = time.perf_counter()
    print(
        f"One replication of a 24-hour day per row, best of {args.repeat} process(es).\n"
        "agents: the most staffed at once; SL, missed, occ: the day's service level (90 s), "
        "missed rate and occupancy;\n"
        "per conversation: draw, model, measure, total (and gc, the part of it in the garbage "
        "collector) in µs, bytes of peak memory\n"
        "beyond the imports; x time, x mem: total time and memory per conversation over the "
        "first row of the grid's."
    )
    for title, points in grids:
        print(f"\n{title}\n{HEADER}")
        first: dict[str, float] | None = None
        for point in points:
            runs = []
            for _ in range(args.repeat):
                done += 1
                print(
                    f"[{done}/{todo}] {point.volume:,} a day, agents {point.agents or 'sized'} "
                    f"({time.perf_counter() - started:.0f} s so far)",
                    file=sys.stderr,
                    flush=True,
                )
                runs.append(run_child(point))
            best = best_of(runs)
            first = first or best
            print(row(best, first), flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
