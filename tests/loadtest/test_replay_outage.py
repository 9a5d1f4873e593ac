"""The replay watches its gateway: a gateway process it started that dies ends the run within
seconds (exit 3, saying so); a gateway that stops answering for a while is reported as an
outage with its start, end and effect, and customers redeliver what it did not acknowledge; an
outage longer than ``--outage-limit`` ends the run. Real processes on loopback, bounded in time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from sim.loadtest.run import catches, free_port, reference_gateway, started_gateway
from sim.results import read_results
from sim.scenario import load_scenario
from sim.trace import Trace, write_trace
from sim.traffic import draw_trace

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "scenarios" / "small.yaml"
SPEEDUP = 240


def short_trace(tmp_path: Path, seconds: float = 1800.0) -> Path:
    """The first ``seconds`` of small.yaml's seed-1 trace (``seconds / 240`` wall seconds)."""
    scenario = load_scenario(SMALL)
    full = draw_trace(scenario, 1)
    path = tmp_path / "trace.jsonl"
    write_trace(Trace(full.header, [c for c in full if c.t < seconds]), path)
    return path


def start_replay(tmp_path: Path, *extra: str, seconds: float = 1800.0) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "sim", "replay", str(SMALL), "--speedup", str(SPEEDUP),
        "--trace", str(short_trace(tmp_path, seconds)), "--out", str(tmp_path / "run"),
        "--time-limit", "90", *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )


def children(pid: int) -> list[tuple[int, str]]:
    """The child processes of ``pid`` with their command lines (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            found.append((int(entry.name), command))
    return found


def wait_for_child(pid: int, marker: str, timeout: float) -> tuple[int, str]:
    """The first child process of ``pid`` whose command line has ``marker``: (pid, command)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child, command in children(pid):
            if marker in command:
                return child, command
        time.sleep(0.1)
    raise AssertionError(f"no child process with {marker!r} within {timeout} s")


def wait_for_agents(url: str, timeout: float) -> None:
    """Until the gateway at ``url`` has agents logged in: the replay's run has begun (its first
    agents log in at its start), so that what a test does next happens mid-run, however long
    Locust took to start."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=1.0) as http:
        while time.monotonic() < deadline:
            try:
                if http.get("/healthz").json()["agents"]["active"] > 0:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise AssertionError(f"no agent logged in at {url} within {timeout} s")


@pytest.mark.slow
def test_a_gateway_that_dies_ends_the_replay_within_seconds(tmp_path):
    replay = start_replay(tmp_path)
    try:
        gateway, command = wait_for_child(replay.pid, " gateway ", 30)
        port = command.split("--port ", 1)[1].split()[0]
        wait_for_agents(f"http://127.0.0.1:{port}", 60)
        time.sleep(1.5)  # mid-run: 6 scenario minutes into 30 (7.5 wall seconds) of arrivals
        os.kill(gateway, signal.SIGKILL)
        killed = time.monotonic()
        stdout, stderr = replay.communicate(timeout=60)
    finally:
        if replay.poll() is None:
            replay.kill()
    ended_after = time.monotonic() - killed
    assert replay.returncode == 3, stdout + stderr
    assert "the gateway process died (exit code -9)" in stderr, stderr
    assert "Traceback" not in stderr
    # Within seconds: a signal, the workers' reports, the verdict and the model on the trace.
    assert ended_after < 30, ended_after
    validity = read_results(tmp_path / "run" / "replay").extra["validity"]
    assert not validity["valid"] and "gateway process died" in validity["reasons"][0]


@contextmanager
def replay_of_own_gateway(
    tmp_path: Path, *extra: str, seconds: float = 1800.0
) -> Iterator[tuple[int, Popen[str]]]:
    """A reference gateway started here (the replay is told its URL), its process id, and a
    replay of the first ``seconds`` of the trace started with ``extra`` options, once its run
    has begun; the gateway is never left stopped."""
    emulator = free_port()
    with reference_gateway(SMALL, emulator, tmp_path / "gateway.log") as url:
        port = url.rsplit(":", 1)[1]
        (gateway,) = [pid for pid, command in children(os.getpid()) if f"--port {port}" in command]
        replay = start_replay(
            tmp_path, "--gateway", url, "--emulator-port", str(emulator), *extra, seconds=seconds
        )
        try:
            wait_for_agents(url, 60)
            yield gateway, replay
        finally:
            os.kill(gateway, signal.SIGCONT)
            if replay.poll() is None:
                replay.kill()


@pytest.mark.slow
def test_an_outage_is_reported_with_its_start_end_and_effect(tmp_path):
    # 20 scenario minutes (5 wall seconds of arrivals): frozen from the 1st to the 4th second,
    # so that customers arrive during the outage and after it.
    with replay_of_own_gateway(tmp_path, seconds=1200.0) as (gateway, replay):
        time.sleep(1.0)
        os.kill(gateway, signal.SIGSTOP)  # frozen: connections wait, /healthz times out
        time.sleep(3.0)
        os.kill(gateway, signal.SIGCONT)
        stdout, stderr = replay.communicate(timeout=120)
    assert "gateway outage:" in stderr, stdout + stderr
    validity = read_results(tmp_path / "run" / "replay").extra["validity"]
    (outage,) = validity["outages"]
    # Frozen for 3 s; /healthz is polled twice a second with a 1 s timeout, so the outage seen
    # is 3 s give or take 1.5 s (a poll under way when it froze, the next one after).
    assert 1.5 <= outage["wall_seconds"] <= 4.5, outage
    assert outage["end"] is not None and outage["end"] > outage["start"] > 0
    assert outage["conversations"] > 0
    # Nothing acknowledged was lost: the gateway kept its state while frozen.
    assert validity["lost_inbound"] == 0 and validity["lost_replies"] == 0, validity
    assert replay.returncode in (0, 3), stdout + stderr


@pytest.mark.slow
def test_an_outage_longer_than_the_limit_ends_the_run(tmp_path):
    with replay_of_own_gateway(tmp_path, "--outage-limit", "2") as (gateway, replay):
        time.sleep(1.0)
        os.kill(gateway, signal.SIGSTOP)
        stopped = time.monotonic()
        stdout, stderr = replay.communicate(timeout=90)
        ended_after = time.monotonic() - stopped
    assert replay.returncode == 3, stdout + stderr
    assert "the gateway did not answer /healthz for 2 wall seconds" in stderr, stderr
    assert ended_after < 45, ended_after


@pytest.mark.slow
def test_a_gateway_killed_and_restarted_mid_replay_loses_nothing(tmp_path):
    """SIGKILL of a gateway on its durable store in the middle of a replay (1.5 s into 5 wall
    seconds of arrivals), a restart on the same store and port 1.5 s later: customers redeliver
    what was not acknowledged, agents resume with their tokens and event numbers, every
    conversation ends, nothing acknowledged is lost, and the outage is in the verdict with its
    effect."""
    emulator, port = free_port(), free_port()
    with started_gateway(SMALL, emulator, tmp_path / "first.log", port=port) as first:
        replay = start_replay(
            tmp_path, "--gateway", first.url, "--emulator-port", str(emulator), seconds=1200.0
        )
        try:
            wait_for_agents(first.url, 60)
            time.sleep(1.5)
            assert first.process is not None
            first.process.kill()
            first.process.wait(timeout=10)
            time.sleep(1.5)
            with started_gateway(
                SMALL, emulator, tmp_path / "second.log", port=port, store=tmp_path / "first.db"
            ):
                stdout, stderr = replay.communicate(timeout=150)
        finally:
            if replay.poll() is None:
                replay.kill()
    validity = read_results(tmp_path / "run" / "replay").extra["validity"]
    assert replay.returncode == 0, stdout + stderr + str(validity)
    assert validity["lost_inbound"] == 0 and validity["lost_replies"] == 0
    (outage,) = validity["outages"]
    assert outage["end"] is not None and 1.0 <= outage["wall_seconds"] <= 15.0, outage
    # About one conversation starts every 0.2 wall s: some arrived while it was down, and their
    # webhooks were redelivered until the new process acknowledged them.
    assert outage["conversations"] > 0 and validity["retries"] > 0, validity
    assert "gateway outage:" in stderr


def test_catches_tells_whether_a_process_handles_a_signal_yet():
    previous = signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    try:
        assert not catches(os.getpid(), signal.SIGUSR2)
        signal.signal(signal.SIGUSR2, lambda *_: None)
        assert catches(os.getpid(), signal.SIGUSR2)
    finally:
        signal.signal(signal.SIGUSR2, previous)
