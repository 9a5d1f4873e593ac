"""Speed benchmark: chatsim's model against bare SimPy on the same queue (``python -m sim.bench``).

The bare model is the textbook SimPy M/M/n+M: a ``Resource`` with ``n`` servers and customers
who wait for it or for their patience timeout, whichever comes first. chatsim runs the same
system (one channel, one turn, no reply work, exponential ``close_after`` as the service time,
visible abandonment, ``max_chats`` 1) on the same number of customers. Machines here are shared
and noisy, so the figure to read is the ratio, best of ``--repeat`` runs of each.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from pathlib import Path

import simpy

from sim.model import simulate_trace
from sim.scenario import Scenario, load_scenario
from sim.textbook import queue_scenario
from sim.trace import Trace
from sim.traffic import draw_trace

AGENTS = 50
HANDLE = 100.0  # mean service time, seconds (short, so that the customers fit in a week)
PATIENCE = 40.0  # mean patience, seconds
LOAD = 0.95  # offered load per agent


def bare_simpy(customers: int, seed: int) -> int:
    """M/M/n+M in plain SimPy; returns the number of customers served."""
    draw = random.Random(seed)
    rate = AGENTS * LOAD / HANDLE
    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=AGENTS)
    served = 0

    def customer() -> simpy.events.ProcessGenerator:
        nonlocal served
        with agents.request() as request:
            outcome = yield request | env.timeout(draw.expovariate(1 / PATIENCE))
            if request in outcome:
                served += 1
                yield env.timeout(draw.expovariate(1 / HANDLE))

    def source() -> simpy.events.ProcessGenerator:
        for _ in range(customers):
            yield env.timeout(draw.expovariate(rate))
            env.process(customer())

    env.process(source())
    env.run()
    return served


def equivalent_scenario(customers: int) -> Scenario:
    """chatsim's configuration of the same M/M/n+M queue, sized for ``customers`` arrivals
    (within a scenario's longest horizon, 7 days: about 280,000 of them)."""
    rate = AGENTS * LOAD / HANDLE
    days = min(int(customers / rate / 86400) + 2, 7)
    return queue_scenario(
        AGENTS, rate, HANDLE, PATIENCE, intervals=days, name="bench-mmn+m", group="agents"
    )


def _best(repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--day",
        default=str(Path(__file__).resolve().parent.parent / "scenarios" / "tele2-weekday.yaml"),
    )
    args = parser.parse_args(argv)

    scenario = equivalent_scenario(args.customers)
    full = draw_trace(scenario, seed=1, texts=False)
    trace = Trace(full.header, full.conversations[: args.customers])
    if len(trace) < args.customers:
        raise SystemExit(f"drew only {len(trace)} customers")

    bare = _best(args.repeat, lambda: bare_simpy(args.customers, seed=1))
    model = _best(args.repeat, lambda: simulate_trace(scenario, trace))
    drawn = _best(
        args.repeat,
        lambda: simulate_trace(
            scenario,
            Trace(
                full.header,
                draw_trace(scenario, seed=1, texts=False).conversations[: args.customers],
            ),
        ),
    )
    print(f"M/M/{AGENTS}+M, {args.customers:,} customers, best of {args.repeat}")
    print(f"  bare SimPy                      {bare:7.2f} s   1.00x")
    print(f"  chatsim model on a trace        {model:7.2f} s   {model / bare:.2f}x")
    print(f"  chatsim draw trace + model      {drawn:7.2f} s   {drawn / bare:.2f}x")
    if Path(args.day).exists():
        day = load_scenario(args.day)
        one = _best(args.repeat, lambda: simulate_trace(day, draw_trace(day, seed=1, texts=False)))
        print(
            f"  one replication of {day.name}: {one:.2f} s ({one / bare:.2f}x the bare run above)"
        )


if __name__ == "__main__":
    main()
