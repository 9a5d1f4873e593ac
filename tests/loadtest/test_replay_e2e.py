"""End to end: ``chatsim replay`` runs the reference gateway and Locust in their own processes
on loopback, and what Locust measures agrees with the model on the same trace.

Tolerances. Replay and model play the very same conversations, so the differences are not
sampling noise but timing: every message crosses HTTP several times (webhook, agent long-poll,
reply, outbound call to the provider emulator), which adds a few wall milliseconds to every
response, i.e. ``speedup`` times as many scenario seconds (about 7 ms x 240 = 1.7 s here, see
README, "Speed"), and the jitter of those milliseconds flips patience races near their
deadline. Hence: first-response mean within 12% of the model's plus 1 s plus the run's own
timing resolution (``sim.compare.timing_resolution``: two gateway round trips at their p99
latency x speedup, which grows when the machine is busy), service level and missed rate within 5
percentage points (observed: under 2), offered conversations exactly equal (nothing may be lost),
and the run must be valid: lateness p99 under its bound and no lost messages.
"""

from __future__ import annotations

import csv
import json
import signal
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from livekit import Ran, chatsim, free_port, live_process, platform_env

from sim.compare import timing_resolution
from sim.loadtest import run
from sim.loadtest.bot import bot_time
from sim.results import read_results
from sim.scenario import load_scenario
from sim.trace import Trace, read_trace, write_trace
from sim.traffic import draw_trace

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "scenarios" / "small.yaml"
HERE = Path(__file__).resolve().parent
COUNTING_DESK = HERE / "counting_desk.py"
COUNTING_LOG = "CHATSIM_TEST_DESK_LOG"
ECHO_BOT = HERE / "echo_bot_gateway.py"
SPEEDUP = 240


def replay(out: Path, *extra: str) -> Ran:
    """``chatsim replay`` of small.yaml at ``SPEEDUP`` (in this process; the gateway and Locust
    are processes of their own). The run's own safety net (--time-limit, then a kill 60 s later)
    ends a stuck run with exit 3 and its logs, well within the test's timeout."""
    return chatsim(
        "replay", SMALL, "--speedup", SPEEDUP, "--out", out, "--time-limit", 100, *extra,
        cwd=out.parent,
    )  # fmt: skip


def check_agreement(out: Path) -> dict:
    model = read_results(out / "model")
    measured = read_results(out / "replay")
    assert measured.source == "replay" and model.source == "model"
    assert measured.trace_sha256 == model.trace_sha256
    assert measured.mean("offered") == model.mean("offered")
    frt_model, frt_replay = model.mean("frt_mean"), measured.mean("frt_mean")
    # The run's own timing resolution (two round trips at p99 x speedup) grows if CI is busy.
    allowed = 0.12 * frt_model + 1.0 + timing_resolution(measured)
    assert abs(frt_replay - frt_model) <= allowed, (frt_model, frt_replay, allowed)
    assert abs(measured.mean("service_level") - model.mean("service_level")) <= 0.05
    assert abs(measured.mean("missed_rate") - model.mean("missed_rate")) <= 0.05
    validity = measured.extra["validity"]
    assert validity["valid"] and validity["lost_inbound"] == 0 and validity["lost_replies"] == 0
    return json.loads((out / "replay-raw.json").read_text())


@pytest.mark.slow
def test_replay_agrees_with_the_model(tmp_path, monkeypatch):
    """The whole of small.yaml, its agents played through a desk named by ``--agents``
    (:class:`CountingDesk`: the reference gateway's own desk, counting its calls in a file), so
    that one replay checks both the agreement with the model and the named desk; the replays
    without ``--agents`` (outages, breaks, the web UI) play the default desk."""
    log = tmp_path / "desk-calls.txt"
    monkeypatch.setenv(COUNTING_LOG, str(log))
    out = tmp_path / "run"
    junit = tmp_path / "thresholds.xml"
    # One threshold any working gateway meets, one no replay can: a failed threshold is exit 1.
    thresholds = ("--threshold", "ack_p99<5000ms", "--threshold", "frt_mean<1s")
    desk = ("--agents", f"{COUNTING_DESK}:CountingDesk")
    result = replay(out, "--seed", "1", *desk, *thresholds, "--junit", str(junit))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "model vs replay" in result.stdout and "1 of 2 checks failed" in result.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "chatsim.threshold"
    cases = {case.get("name"): case.find("failure") is None for case in suite.iter("testcase")}
    assert cases == {"ack_p99": True, "frt_mean": False}
    raw = check_agreement(out)
    check_desk_calls(log, raw)
    validity = read_results(out / "replay").extra["validity"]
    assert 0 < validity["delivery_p50_ms"] <= validity["delivery_p99_ms"] < 5000
    assert validity["delivered_replies"] > 0
    assert {"webchat", "whatsapp"} <= set(validity["channels"])
    assert all(c["delivery_p50_ms"] > 0 for c in validity["channels"].values() if c["replies"])
    # Acknowledgement latency and dispatch lateness per channel, consistent with the totals.
    for measure in ("ack", "lateness"):
        per_channel = [c[f"{measure}_max_ms"] for c in validity["channels"].values()]
        assert all(v is not None and v >= 0 for v in per_channel), validity["channels"]
        assert max(per_channel) == pytest.approx(validity[f"{measure}_max_ms"])
    # Locust's statistics are HTTP only: KPIs are in chatsim's results, not request rows.
    with (out / "locust_stats.csv").open() as handle:
        names = {row["Name"] for row in csv.DictReader(handle)}
    assert {"webhook/telegram", "webhook/whatsapp", "Aggregated"} <= names
    assert not any(n.startswith(("first_response/", "in_session/", "missed/")) for n in names)
    conversations = [
        json.loads(line)
        for line in (out / "replay" / "conversations.jsonl").read_text().splitlines()
    ]
    assert conversations and {"id", "queued_at", "first_reply_at", "reply_delays"} <= set(
        conversations[0]
    )
    # What a user runs next: `chatsim compare` with its default tolerances, per channel too.
    verdict = chatsim("compare", out / "model", out / "replay")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_unreachable_gateway_is_an_invalid_run(tmp_path, monkeypatch):
    # Nothing listens on port 9, so the 5 s the replay gives a gateway it is told of (time for
    # a restart) would only be waited out: the replay (run in this process) waits 0.5 s here.
    wait_healthy = run.wait_healthy
    monkeypatch.setattr(
        run, "wait_healthy", lambda url, timeout, process=None: wait_healthy(url, 0.5, process)
    )
    out = tmp_path / "run"
    result = replay(out, "--gateway", "http://127.0.0.1:9", "--seed", "1")
    assert result.returncode == 3
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr
    assert "within 0.5 s" in result.stderr  # the wait above, not another one


SHARED_MACHINE = ("--max-lateness", "500")
"""What the bot test allows the harness's dispatch lateness (p99, wall ms): it judges the bot,
not the harness's schedule, which the test above holds to the default bound; a machine busy
with other work runs late by a few hundred ms."""


def short_trace(tmp_path: Path, minutes: float, seed: int = 3) -> Path:
    """The first ``minutes`` of small.yaml's arrivals, drawn with ``seed``, as a trace file."""
    full = draw_trace(load_scenario(SMALL), seed)
    part = Trace(full.header, [c for c in full if c.t < minutes * 60])
    path = tmp_path / "short.jsonl"
    write_trace(part, path)
    return path


def check_desk_calls(log: Path, raw: dict) -> None:
    """The replay went through the named desk (``CountingDesk``'s log of its calls): every
    agent logged in and out through it, every kind of desk call was made, and every reply went
    through it."""
    calls = [line.split() for line in log.read_text().splitlines()]
    kinds = {kind for kind, _ in calls}
    logged_in = {agent for kind, agent in calls if kind == "login"}
    assert logged_in == {agent["id"] for agent in raw["agents"]} and len(logged_in) >= 3
    assert {"Assigned", "reply", "close", "away"} <= kinds
    replies = sum(1 for kind, _ in calls if kind == "reply")
    assert replies >= sum(h["replies"] for h in raw["handled"]) > 0


@pytest.fixture
def echo_bot(tmp_path):
    """The echo-bot gateway (``echo_bot_gateway.py``) on loopback, answering at ``SPEEDUP``
    through a provider emulator on a port of its own; yields ``(url, emulator_port)``."""
    port, emulator_port = free_port(), free_port()
    command = [sys.executable, str(ECHO_BOT), "--port", str(port), "--scenario", str(SMALL)]
    with live_process(
        [*command, "--speedup", str(SPEEDUP)],
        port,
        log=tmp_path / "echo-bot.log",
        env=platform_env(f"http://127.0.0.1:{emulator_port}"),
        stdout_to_log=True,
        stop_with=signal.SIGINT,
    ) as bot:
        yield bot.url, emulator_port


@pytest.mark.slow
def test_a_bot_responder_agrees_with_the_model(tmp_path, echo_bot):
    url, emulator_port = echo_bot
    out = tmp_path / "run"
    # 30 minutes (7.5 wall seconds, about 55 conversations): each is checked on its own below,
    # and `compare` widens its rates by their granularity (1/n and their standard error).
    trace_path = short_trace(tmp_path, 30)
    result = replay(
        out, "--trace", str(trace_path), "--responder", "bot", "--gateway", url,
        "--emulator-port", str(emulator_port), *SHARED_MACHINE,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    raw = json.loads((out / "replay-raw.json").read_text())
    assert raw["responder"] == "bot" and raw["agents"] == [] and raw["handled"] == []
    measured = read_results(out / "replay")
    assert measured.extra["validity"]["valid"] and measured.mean("occupancy") is None
    # Every conversation reached the bot (the scenario's containment plays no part) and ended:
    # answered, or its customer gave up before the bot's first answer, as the model says.
    trace = {c.id: c for c in read_trace(trace_path)}
    scenario = load_scenario(SMALL)
    assert measured.mean("offered") == len(trace) and measured.mean("bot_contained") == 0
    model = {r["id"]: r for r in conversation_records(out / "model")}
    replayed = {r["id"]: r for r in conversation_records(out / "replay")}
    assert replayed.keys() == model.keys() == trace.keys()
    resolution = timing_resolution(measured)
    for cid, record in replayed.items():
        conversation = trace[cid]
        if record["missed"]:
            assert not record["reply_delays"]
        else:
            assert len(record["reply_delays"]) == len(conversation.turns), cid
        margin = conversation.patience - bot_time(scenario.channels[conversation.channel])
        if abs(margin) > resolution + 1.0:  # a patience race the harness cannot time is free
            assert record["missed"] == model[cid]["missed"], (cid, margin)
    verdict = chatsim("compare", out / "model", out / "replay")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def conversation_records(directory: Path) -> list[dict]:
    lines = (directory / "conversations.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]
