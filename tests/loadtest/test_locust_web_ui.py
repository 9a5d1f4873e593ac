"""By hand, with Locust's web UI: ``locust -f locustfiles/chat.py ...`` in distributed mode
(``--processes 2``), the test started through the UI's own HTTP API as a user's click would,
on a scenario staffed per interval (the end-to-end replay tests use shifts).

The replay must then end by itself (the UI shows "stopped" and keeps its statistics), every
conversation of the trace must have been played by one of the two workers, and the raw
measurements must be written. The live KPIs are in their own tab, never in Locust's request
statistics. A second test started in the same process ("New") replays the trace again from its
start, as new customers, and is measured on its own. Locust runs as a subprocess: gevent stays
out of pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from livekit import chatsim

from sim.loadtest.run import free_port, interrupt, reference_gateway
from sim.scenario import load_scenario
from sim.trace import Trace, write_trace
from sim.traffic import draw_trace

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "scenarios" / "small.yaml"
LOCUSTFILE = ROOT / "locustfiles" / "chat.py"
SPEEDUP = 480
"""Twice the end-to-end replays' speedup: this test judges no response time (its verdict need
only be judged, pass or fail), so its two runs take half the wall time; the dispatch lateness
of this speed stays far under the replays' 100 ms bound."""


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def live_counts(raw: dict) -> dict[str, tuple[int, int]]:
    """Per channel, (answered, missed) as the raw file's customers saw them."""
    counts: dict[str, tuple[int, int]] = {}
    for customer in raw["customers"]:
        answered, missed = counts.get(customer["channel"], (0, 0))
        if customer["replies"]:
            answered += 1
        elif customer["left_at"] is not None:
            missed += 1
        counts[customer["channel"]] = (answered, missed)
    return counts


def kpi_tab(ui: str) -> dict[str, tuple[int, int]]:
    """Per channel, (answered, missed) as the web UI's chatsim tab shows them."""
    stats = httpx.get(f"{ui}/stats/requests", timeout=2).json()
    (tab,) = [t for t in stats.get("extended_stats", []) if t["key"] == "chatsim-kpis"]
    return {
        row["channel"]: (row["answered"], row["missed"])
        for row in tab["data"]
        if row["channel"] != "all channels"
    }


def staffed_variant(tmp_path: Path) -> Path:
    """small.yaml with per-interval staffing instead of shifts: the harness's other login path."""
    data = yaml.safe_load(SMALL.read_text())
    group = data["agents"][0]
    del group["shifts"]
    group["staffing"] = [2, 3, 1] + [3] * 9
    path = tmp_path / "staffed.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.slow
def test_web_ui_runs_a_distributed_replay_to_its_end(tmp_path):
    scenario_path = staffed_variant(tmp_path)
    scenario = load_scenario(scenario_path)
    full = draw_trace(scenario, 3)
    trace = Trace(full.header, [c for c in full if c.t < 1800.0])  # 3.75 wall seconds of arrivals
    trace_path = tmp_path / "trace.jsonl"
    write_trace(trace, trace_path)
    raw_path = tmp_path / "raw.json"
    emulator_port, web_port, master_port = free_port(), free_port(), free_port()
    with reference_gateway(scenario_path, emulator_port, tmp_path / "gateway.log") as gateway:
        command = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--processes", "2",
            "--master-bind-port", str(master_port), "--master-port", str(master_port),
            "--web-host", "127.0.0.1", "--web-port", str(web_port), "--host", gateway,
            "--scenario", str(scenario_path), "--trace", str(trace_path),
            "--speedup", str(SPEEDUP),
            "--emulator-port", str(emulator_port), "--replay-out", str(raw_path),
            "--replay-results", str(tmp_path / "verdict"), "--replay-limit", "90",
        ]  # fmt: skip
        with (tmp_path / "locust.log").open("w") as log:
            locust = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        ui = f"http://127.0.0.1:{web_port}"
        try:
            wait_for(
                lambda: (
                    len(httpx.get(f"{ui}/stats/requests", timeout=2).json().get("workers", [])) == 2
                ),
                60,
                "two workers in the web UI",
            )
            assert "chatsim KPIs" in httpx.get(ui, timeout=5).text, "the KPI tab is offered"
            runs = []
            for _ in range(2):  # "Start", then "New" once the first run has ended
                started = httpx.post(
                    f"{ui}/swarm",
                    data={"user_count": 2, "spawn_rate": 2, "host": gateway},
                    timeout=10,
                ).json()
                assert started["success"], started
                wait_for(
                    lambda: (
                        httpx.get(f"{ui}/stats/requests", timeout=2).json()["state"] != "stopped"
                    ),
                    10,
                    "the run to start",
                )
                stats = wait_for(
                    lambda: (
                        (s := httpx.get(f"{ui}/stats/requests", timeout=2).json())["state"]
                        == "stopped"
                        and s
                    ),
                    120,
                    "the replay to stop by itself",
                )
                assert locust.poll() is None, (
                    "the web UI keeps running after the test, with its results"
                )
                raw = json.loads(raw_path.read_text())
                # The live tab converges on what the customers saw (workers report every 3 s).
                seen = live_counts(raw)
                tab = wait_for(
                    lambda seen=seen: kpi_tab(ui) == seen and seen, 15, f"the KPI tab: {seen}"
                )
                runs.append((stats, raw, tab))
                verdict_of_run = tmp_path / f"verdict-{len(runs)}"
                (tmp_path / "verdict").rename(verdict_of_run)
        finally:
            interrupt(locust, timeout=20)
    log_text = (tmp_path / "locust.log").read_text()
    assert "Unknown message type" not in log_text, log_text
    played = sorted(c.id for c in trace if c.bot is None or not c.bot.contained)
    for stats, raw, tab in runs:
        assert raw["workers"] == 2
        assert sorted(c["id"] for c in raw["customers"]) == played
        assert raw["problems"] == [], raw["problems"]
        # Locust's rows are HTTP requests only; the KPIs are in the chatsim tab, per channel.
        names = {row["name"] for row in stats["stats"]}
        assert "Aggregated" in names and any(n.startswith("webhook/") for n in names), names
        assert not any(n.startswith(("first_response", "in_session", "missed")) for n in names)
        assert sum(answered for answered, _ in tab.values()) > 0
    (_, first, _), (_, second, _) = runs
    # The second run replayed the trace from its start, as new customers, on its own clock.
    assert second["t0"] > first["finished"]
    assert not {c["key"] for c in first["customers"]} & {c["key"] for c in second["customers"]}
    raw = second

    # The emulated agents followed the staffing: 2 taking chats in the first interval, 3 in the
    # second.
    def taking_chats(scenario_seconds: float) -> int:
        at = raw["t0"] + scenario_seconds / SPEEDUP
        return sum(
            1
            for spans in raw["accepting"].values()
            for begin, end in spans
            if begin <= at and (end is None or at < end)
        )

    assert (taking_chats(450.0), taking_chats(1350.0)) == (2, 3)

    # The UI path ends in a verdict: what it wrote is what `chatsim compare` and `report` read,
    # here for the second run.
    verdict = tmp_path / "verdict-2"
    compared = chatsim("compare", verdict / "model", verdict / "replay")
    assert compared.returncode in (0, 1), compared.stderr  # judged, not refused
    assert "replay vs model" in compared.stdout
    replay = json.loads((verdict / "replay" / "results.json").read_text())
    assert replay["source"] == "replay" and replay["validity"]["lost_inbound"] == 0
    # Both workers' clocks were read against the master's: on one machine they are one clock,
    # so the offset is within the reading's own uncertainty (half a loopback round trip).
    clocks = json.loads((tmp_path / "raw.json").read_text())["clocks"]
    assert set(clocks) == {"0", "1"}, clocks
    for clock in clocks.values():
        assert 0 < clock["round_trip_ms"] < 100, clocks
        assert abs(clock["offset_ms"]) <= clock["round_trip_ms"] / 2 + 0.1, clocks
    assert replay["validity"]["clock_offset_ms"] is not None
    report = chatsim("report", verdict / "model", verdict / "replay", "--out", tmp_path / "ui.html")
    assert report.returncode == 0, report.stderr
