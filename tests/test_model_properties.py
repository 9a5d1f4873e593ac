"""Invariants of every run, on random scenarios (hypothesis).

Conservation: offered = answered + missed, every offered conversation is either contained,
answered, or missed; every assigned conversation closes. Capacity: no agent ever holds more
than max_chats conversations or types two replies at once, and agents only take chats of their
skills while logged in.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.kpi import conservation_errors, measure
from sim.model import simulate_trace
from sim.scenario import parse_scenario
from sim.traffic import draw_trace

durations = st.sampled_from(["constant", "exponential", "lognormal", "uniform"])


@st.composite
def duration(draw: Any, low: float, high: float) -> dict[str, Any]:
    kind = draw(durations)
    mean = draw(st.floats(max(low, 0.001), high))
    if kind == "constant":
        return {"dist": "constant", "value": mean}
    if kind == "uniform":
        return {"dist": "uniform", "low": mean / 2, "high": mean * 1.5}
    if kind == "lognormal":
        return {"dist": "lognormal", "mean": mean, "cv": draw(st.floats(0.2, 2.0))}
    return {"dist": "exponential", "mean": mean}


@st.composite
def scenarios(draw: Any) -> Any:
    names = draw(
        st.lists(
            st.sampled_from(["whatsapp", "viber", "webchat", "app"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    channels = {}
    for name in names:
        channel: dict[str, Any] = {
            "protocol": "webchat" if name in ("webchat", "app") else name,
            "volume": draw(st.integers(5, 60)),
            "silent_abandon": draw(st.booleans()) if name in ("webchat", "app") else True,
            "patience": draw(duration(5, 300)),
            "turns": {"dist": "geometric", "mean": draw(st.floats(1, 4))},
            "think": draw(duration(1, 60)),
            "reply": draw(duration(0, 60)),
            "close_after": draw(duration(0, 120)),
            "priority": draw(st.integers(0, 2)),
        }
        if draw(st.booleans()):
            channel["bot"] = {"containment": draw(st.floats(0, 1)), "time": draw(duration(0, 60))}
        channels[name] = channel
    groups = []
    for g in range(draw(st.integers(1, 2))):
        skills = (
            names if g == 0 else draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        )
        max_chats = draw(st.integers(1, 4))
        group: dict[str, Any] = {
            "group": f"g{g}",
            "skills": skills,
            "max_chats": max_chats,
            "slowdown": [1 + 0.2 * k for k in range(max_chats)],
            "reply_factor": draw(st.floats(0.5, 2)),
        }
        # g0 serves every channel and is on duty at some point (a channel nobody ever staffs is
        # refused by the scenario check); intervals with nobody on duty still occur.
        least = 1 if g == 0 else 0
        if draw(st.booleans()):
            group["staffing"] = draw(
                st.lists(st.integers(0, 3), min_size=4, max_size=4).filter(
                    lambda counts, least=least: sum(counts) >= least
                )
            )
        else:
            start = draw(st.sampled_from(["00:00", "00:15", "00:30"]))
            group["shifts"] = [
                {"start": start, "end": "01:00", "count": draw(st.integers(least, 3))}
            ]
        groups.append(group)
    return parse_scenario(
        {
            "name": "prop",
            "duration": "1h",
            "interval": "15m",
            "channels": channels,
            "agents": groups,
        }
    )


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, e in spans if e > s] + [(e, -1) for s, e in spans if e > s])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 10_000))
def test_conservation_and_capacity(scenario, seed):
    trace = draw_trace(scenario, seed, texts=False)
    run = simulate_trace(scenario, trace)
    assert len(run.conversations) == len(trace)
    assert conservation_errors(run) == []
    kpis = measure(run, scenario)["total"]
    offered = sum(r.offered for r in run.conversations)
    contained = sum(r.bot_contained for r in run.conversations)
    assert kpis["offered"] == offered and offered + contained == len(trace)
    assert kpis["answered"] + kpis["missed"] == kpis["offered"]
    groups = {g.group: g for g in scenario.agents}
    agents = {a.id: a for a in run.agents}
    for r in run.conversations:
        if r.answered:
            assert len(r.reply_delays) == len(r.conversation.turns)
            assert all(d >= 0 for d in r.reply_delays)
        if r.assigned_at is not None:
            agent = agents[r.agent_id]
            assert r.channel in groups[agent.group].skills
            assert agent.login_at <= r.assigned_at
            assert agent.logout_at is None or r.closed_at <= agent.logout_at + 1e-9
            assert r.queued_at <= r.assigned_at <= r.closed_at
    for agent in run.agents:
        held = [(r.assigned_at, r.closed_at) for r in run.conversations if r.agent_id == agent.id]
        assert _max_overlap(held) <= agent.max_chats
        busy = sorted(agent.busy)
        assert all(a_end <= b_start + 1e-9 for (_, a_end), (b_start, _) in itertools.pairwise(busy))
