"""Breaks and shrinkage end to end: ``chatsim replay`` of ``scenarios/breaks.yaml`` (next to
this file) against a reference gateway started here, while this test watches the gateway's list
of agents.

The scenario's five agents each take a 5-minute break (two after 8 minutes, three spread over
a window) and lose 10% of their working time to shrinkage, winding down a minute before each
pause. One replay (30 scenario minutes at speedup 240, under 8 wall seconds of traffic)
checks that the replay agrees with the model (``chatsim compare`` with its default
tolerances, the same paid hours), that the agents' away spans in the raw file lie in their
roster's pauses, and that the gateway saw each agent not active in the middle of each of its
pauses and active again after it (``GET /agents`` with the desk key, polled from a thread).

Timing: the roster's steps are played on the wall clock, each a gateway round trip or two
late; :data:`TOLERANCE` (45 scenario seconds, about 0.19 wall seconds) covers that on a busy
machine.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from livekit import chatsim

from sim.cli import main
from sim.loadtest.raw import read_raw
from sim.loadtest.run import free_port, reference_gateway
from sim.results import read_results
from sim.roster import draw_roster
from sim.scenario import load_scenario
from sim.trace import write_trace
from sim.traffic import draw_trace

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenarios" / "breaks.yaml"
SPEEDUP = 240
SEED = 1
DESK_KEY = "breaks-test-desk-key"
TOLERANCE = 45.0
"""Scenario seconds a roster step may be late in the replay."""


class AgentsWatch(threading.Thread):
    """Polls the gateway's ``GET /agents`` every 0.15 s: (wall time, {agent: state})."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[float, dict[str, str]]] = []
        self.refused: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        auth = {"Authorization": f"Bearer {DESK_KEY}"}
        with httpx.Client(base_url=self.url, headers=auth, timeout=2.0) as http:
            while not self.stopping.is_set():
                asked = time.time()
                try:
                    answer = http.get("/agents")
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 200:
                    states = {agent["agent_id"]: agent["state"] for agent in answer.json()}
                    self.samples.append(((asked + time.time()) / 2, states))
                elif answer is not None:
                    self.refused.append(answer.status_code)
                self.stopping.wait(0.15)


def absences(pauses: list[tuple[float, float]], wind_down: float) -> list[tuple[float, float]]:
    """Pauses less than ``wind_down`` apart are one absence (as the roster plays them)."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(pauses):
        if merged and start - wind_down <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@pytest.mark.slow
def test_agents_take_breaks_and_shrinkage_through_the_gateway(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHATSIM_DESK_KEY", DESK_KEY)  # the gateway's, the replay's and ours
    scenario = load_scenario(SCENARIO)
    trace = draw_trace(scenario, SEED)
    trace_path = tmp_path / "trace.jsonl"
    write_trace(trace, trace_path)
    out = tmp_path / "run"
    emulator = free_port()
    with reference_gateway(SCENARIO, emulator, tmp_path / "gateway.log") as url:
        watch = AgentsWatch(url)
        watch.start()
        try:
            # In this process (no second interpreter start-up and import of sim); Locust is a
            # process of its own, and the run's --time-limit ends it well within the test's
            # timeout.
            done = chatsim(
                "replay", SCENARIO, "--trace", trace_path, "--speedup", SPEEDUP, "--out", out,
                "--gateway", url, "--emulator-port", emulator, "--time-limit", 60,
                cwd=tmp_path,
            )  # fmt: skip
        finally:
            watch.stopping.set()
            watch.join(timeout=5)
    assert done.returncode == 0, done.stdout + done.stderr

    # Model and replay agree, with `chatsim compare`'s default tolerances, except the agents'
    # time shares: 5 agents and 13 pauses in half an hour are too few for the default 3 pp. A
    # tie between equally idle agents goes either way on milliseconds of wall time, and the
    # agent who gets a long chat (a customer thinking 3 minutes) holds it across its pause and
    # loses that pause: with seed 1 one such chat moves productive time by 4% and occupancy by
    # 3 pp, at speedup 120 as at 240 (so it is routing, not timing resolution). The same
    # re-routing moves the 90th percentile of first responses: over about 90 first responses
    # it is the ninth-largest, and one chat answered by another agent after a pause shifts
    # it by the gap to its neighbour (once 10.4 s against the default 15% plus resolution,
    # 9.9 s); 30% holds it to the same order of magnitude without judging routing luck.
    with pytest.raises(SystemExit) as verdict:
        main(
            ["compare", str(out / "model"), str(out / "replay"),
             "-t", "occupancy=0.05", "-t", "slot_utilisation=0.05", "-t", "frt_p90=30%"]
        )  # fmt: skip
    assert verdict.value.code in (0, None), capsys.readouterr().out
    model, measured = read_results(out / "model"), read_results(out / "replay")
    validity = measured.extra["validity"]
    assert validity["valid"] and validity["lost_inbound"] == validity["lost_replies"] == 0
    # Both played the same roster: the same paid hours (5 agents x 30 minutes), and about the
    # same productive hours (the away spans, in scenario time).
    assert measured.mean("paid_hours") == pytest.approx(model.mean("paid_hours"))
    assert model.mean("paid_hours") == pytest.approx(5 * 30 / 60)
    productive = model.mean("productive_hours")
    assert abs(measured.mean("productive_hours") - productive) <= 0.1 * productive

    raw = read_raw(out / "replay-raw.json")
    roster = draw_roster(scenario, trace.header.seed, trace.header.replication)
    wind_down = scenario.agents[0].wind_down

    def at(wall: float) -> float:
        return (wall - raw.t0) * raw.speedup

    rostered = {agent.id: agent for agent in roster.present}
    assert {log.id for log in raw.agents} == set(rostered)
    away_seen = checked_after = 0
    for log in raw.agents:
        agent = rostered[log.id]
        planned = absences([(p.start, p.end) for p in agent.pauses], wind_down)
        assert len(planned) >= 2  # a break and shrinkage
        # Away only in a pause: from its start at the earliest (later while finishing chats),
        # until it ends (back on time).
        for begin, end in log.away:
            start, stop = at(begin), at(end)
            assert any(
                a - TOLERANCE <= start and abs(stop - min(b, agent.logout)) <= TOLERANCE
                for a, b in planned
            ), (log.id, start, stop, planned)
        assert log.away, f"{log.id} was never away"
        away_seen += len(log.away)

        # What the gateway said of the agent: not active in the middle of each pause, active
        # again after it until the next wind-down.
        states = [(at(wall), seen[log.id]) for wall, seen in watch.samples if log.id in seen]
        ends = [a - wind_down for a, _ in planned[1:]] + [agent.logout]
        for (a, b), next_stop in zip(planned, ends, strict=True):
            middle = [state for t, state in states if a + 0.2 * (b - a) <= t <= b - 0.2 * (b - a)]
            assert middle, (log.id, a, b, "no sample in the middle of the pause")
            assert "active" not in middle, (log.id, a, b, middle)
            after = [state for t, state in states if b + TOLERANCE <= t <= next_stop - TOLERANCE]
            if b < agent.logout and next_stop - b >= 4 * TOLERANCE:
                assert after and set(after) == {"active"}, (log.id, b, next_stop, after)
                checked_after += 1
    assert watch.refused == []
    assert checked_after >= 5  # returns with room before the next wind-down (7 with seed 1)
    planned_total = sum(
        len(absences([(p.start, p.end) for p in a.pauses], wind_down)) for a in rostered.values()
    )
    assert away_seen >= 0.6 * planned_total, (away_seen, planned_total)
