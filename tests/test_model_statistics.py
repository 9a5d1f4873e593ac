"""The model against queueing theory it did not write (sim.erlang, checked on its own against
published examples in test_erlang.py), and against Little's law.

With one turn, no reply work and exponential ``close_after`` as the service time, a chat
centre is M/M/n (Erlang C, infinite patience) or M/M/n+M (Erlang A, visible abandonment); with
``max_chats`` k and no slowdown it is M/M/(n k)+M. Each test runs R independent replications,
drops a warm-up and a cool-down (the model starts empty and drains at the horizon), and
checks that theory lies within 4 standard errors of the replication mean (plus a small
allowance for the remaining bias of a finite horizon). With R = 12 replications the mean over
standard error is Student t with 11 degrees of freedom, so 4 standard errors put the chance of
a false failure near 2e-3 per check; the seeds are fixed, so a run is reproducible. Each
replication is 6 days (about 15,000 conversations), which makes the bands tight enough that a
model 5% slow in service, or one agent short, fails (``test_theory_check_can_fail``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from sim import textbook
from sim.erlang import erlang_a, erlang_c
from sim.kpi import time_in_bins
from sim.model import simulate_trace
from sim.scenario import Scenario
from sim.traffic import draw_trace

HANDLE = 300.0
DAYS = 6
WARMUP = 2 * 3600.0
COOLDOWN = 4 * 3600.0
REPLICATIONS = 12
TARGET = 20.0


def queue_scenario(
    agents: int, rate: float, patience: float | None, max_chats: int = 1, handle: float = HANDLE
) -> Scenario:
    return textbook.queue_scenario(
        agents, rate, handle, patience, intervals=DAYS, max_chats=max_chats, target=TARGET
    )


@dataclass
class Estimate:
    mean: float
    se: float

    def agrees(self, theory: float, allowance: float) -> bool:
        return abs(self.mean - theory) <= 4 * self.se + allowance


def replicate(scenario: Scenario) -> dict[str, Estimate]:
    """Steady-state estimates per replication, then mean and standard error across them."""
    samples: dict[str, list[float]] = {}
    for r in range(REPLICATIONS):
        run = simulate_trace(scenario, draw_trace(scenario, 42, r, texts=False))
        window = [
            c for c in run.conversations if WARMUP <= c.queued_at < scenario.duration - COOLDOWN
        ]
        waits = np.array(
            [
                (c.left_queue_at if c.left_queue_at is not None else math.inf) - c.queued_at
                for c in window
            ]
        )
        answered = [c for c in window if c.answered]
        frt = np.array([c.reply_delays[0] for c in answered])
        values = {
            "p_wait": float(np.mean(waits > 1e-9)),
            "missed_rate": 1 - len(answered) / len(window),
            "mean_wait_served": float(frt.mean()),
            "mean_wait": float(waits.mean()),
            "service_level": float(np.sum(frt <= TARGET)) / len(window),
        }
        # Little's law on the queue: time-average number waiting = arrival rate x mean wait.
        # L counts every conversation waiting inside the window, lambda W those that arrive in it.
        end = scenario.duration - COOLDOWN
        span = end - WARMUP
        queued = np.array([c.queued_at for c in run.conversations])
        left = np.array(
            [c.left_queue_at if c.left_queue_at is not None else end for c in run.conversations]
        )
        area = time_in_bins(queued, np.minimum(left, end), np.array([WARMUP, end]))[0]
        values["little_gap"] = (area / span - (len(window) / span) * float(waits.mean())) / (
            area / span
        )
        for key, value in values.items():
            samples.setdefault(key, []).append(value)
    return {
        key: Estimate(float(np.mean(v)), float(np.std(v, ddof=1) / math.sqrt(len(v))))
        for key, v in samples.items()
    }


def check(estimates: dict[str, Estimate], theory, allowance: float = 0.004) -> None:
    report = []
    for key, expected in (
        ("p_wait", theory.p_wait),
        ("missed_rate", theory.p_abandon),
        ("service_level", theory.service_level),
    ):
        ok = estimates[key].agrees(expected, allowance)
        report.append((key, estimates[key].mean, estimates[key].se, expected, ok))
    for key, expected in (
        ("mean_wait_served", theory.mean_wait_served),
        ("mean_wait", theory.mean_wait),
    ):
        wait = estimates[key]
        report.append(
            (key, wait.mean, wait.se, expected, wait.agrees(expected, 0.03 * expected + 0.1))
        )
    assert all(ok for *_, ok in report), "\n".join(
        f"{k}: model {m:.4f} ± {4 * s:.4f} vs theory {t:.4f}" for k, m, s, t, _ in report
    )


@pytest.mark.slow
def test_mmn_is_erlang_c():
    agents, rate = 10, 0.85 * 10 / HANDLE
    estimates = replicate(queue_scenario(agents, rate, patience=None))
    theory = erlang_c(rate, HANDLE, agents, TARGET)
    check(estimates, theory)
    assert estimates["missed_rate"].mean == 0


@pytest.mark.slow
def test_mmn_plus_m_is_erlang_a():
    agents, rate, patience = 10, 1.0 * 10 / HANDLE, 120.0
    estimates = replicate(queue_scenario(agents, rate, patience))
    check(estimates, erlang_a(rate, HANDLE, patience, agents, TARGET))


@pytest.mark.slow
def test_concurrent_chats_are_mm_nk_plus_m():
    agents, slots, rate, patience = 4, 3, 0.95 * 12 / HANDLE, 200.0
    estimates = replicate(queue_scenario(agents, rate, patience, max_chats=slots))
    check(estimates, erlang_a(rate, HANDLE, patience, agents, TARGET, slots_per_agent=slots))


@pytest.mark.slow
def test_littles_law_holds_on_the_queue():
    agents, rate, patience = 10, 1.05 * 10 / HANDLE, 120.0
    gap = replicate(queue_scenario(agents, rate, patience))["little_gap"]
    # (L - lambda W) / L over the window: zero up to conversations that straddle its edges.
    assert abs(gap.mean) <= 4 * gap.se + 0.01
    assert gap.se < 0.01  # and the check is sharp


@pytest.mark.parametrize(
    ("agents", "handle"),
    [(9, HANDLE), (10, 1.05 * HANDLE)],
    ids=["one agent short", "service 5% slow"],
)
def test_theory_check_can_fail(agents, handle):
    """The comparison is sharp enough to see a wrong model: neither 9 agents nor a service 5%
    slower is Erlang A of 10 agents (each error alone moves the waits by a third or more)."""
    rate, patience = 0.95 * 10 / HANDLE, 300.0
    estimates = replicate(queue_scenario(agents, rate, patience, handle=handle))
    with pytest.raises(AssertionError):
        check(estimates, erlang_a(rate, HANDLE, patience, 10, TARGET))
