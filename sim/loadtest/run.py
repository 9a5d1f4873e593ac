"""Running a replay end to end: the reference gateway, Locust as a subprocess, the verdict.

Locust (gevent) never runs in the calling process: ``chatsim replay`` and the tests start it as
``python -m locust`` and read back the raw measurements it writes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sim.errors import InvalidRunError
from sim.loadtest.bot import model_results
from sim.loadtest.collect import MAX_LATENESS_MS, Validity, judge, replay_results
from sim.loadtest.desk import REFERENCE_DESK
from sim.loadtest.raw import Responder, read_raw
from sim.loadtest.settings import GATEWAY_DIED, OUTAGE_LIMIT
from sim.protocols import DEFAULT_EMULATOR_PORT
from sim.results import Results, write_results
from sim.scenario import Scenario
from sim.trace import Trace

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, the kernel sends it SIGTERM if chatsim dies
    (killed by a CI timeout, say), so that no gateway or Locust process outlives the run."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def gateway_command(port: int, *options: str) -> list[str]:
    """``chatsim gateway`` on loopback ``port`` as a subprocess command (python -m sim)."""
    return [
        sys.executable,
        "-m",
        "sim",
        "gateway",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` yet (Linux: ``SigCgt`` in
    ``/proc/PID/status``; elsewhere assumed). The Locust master installs its handler for the
    gateway-died signal when it imports the harness; before that the signal would kill it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return True


@dataclass(frozen=True, slots=True)
class RunningGateway:
    """A gateway a replay talks to: its URL, and its process when the replay started it."""

    url: str
    process: subprocess.Popen[bytes] | None = None


@contextmanager
def reference_gateway(scenario_path: Path, emulator_port: int, log: Path) -> Iterator[str]:
    """Start ``chatsim gateway`` on a free loopback port, answering to the emulator; yields its
    URL."""
    with started_gateway(scenario_path, emulator_port, log) as gateway:
        yield gateway.url


@contextmanager
def started_gateway(
    scenario_path: Path,
    emulator_port: int,
    log: Path,
    *,
    port: int | None = None,
    store: Path | None = None,
) -> Iterator[RunningGateway]:
    """:func:`reference_gateway`, yielding its process too (a replay watches it). Its store is
    a fresh file next to ``log`` unless ``store`` names one to carry on with (a restart, on the
    same ``port``)."""
    port = port or free_port()
    emulator = f"http://127.0.0.1:{emulator_port}"
    if store is None:
        # The gateway's store sits next to its log, and each replay starts from an empty one: a
        # replay measures one run, never the state of an earlier one.
        store = log.with_suffix(".db")
        for stale in (
            store,
            store.with_name(store.name + "-wal"),
            store.with_name(store.name + "-shm"),
        ):
            stale.unlink(missing_ok=True)
    env = {
        **os.environ,
        "CHATSIM_WHATSAPP_API_BASE": emulator,
        "CHATSIM_TELEGRAM_API_BASE": emulator,
        "CHATSIM_VIBER_API_BASE": emulator,
        "CHATSIM_GATEWAY_STORE": str(store),
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        process = subprocess.Popen(
            gateway_command(port, "--scenario", str(scenario_path), "--log-level", "warning"),
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, timeout=30.0, process=process)
            yield RunningGateway(url, process)
        finally:
            if process.poll() is None:
                interrupt(process, timeout=10)


def interrupt(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop ``process`` as Ctrl-C would (it may write its last output); kill it after
    ``timeout``."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_healthy(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``GET url/healthz`` answers 200; :class:`InvalidRunError` if it never does."""
    deadline = time.monotonic() + timeout
    # One client for every attempt: a new one per attempt built an SSL context each time
    # (tens of CPU milliseconds, taken from the gateway that is starting on the same cores).
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise InvalidRunError(
                    f"the gateway process exited with code {process.returncode} before it was ready"
                )
            try:
                if http.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise InvalidRunError(
        f"gateway {url} unreachable: /healthz did not answer 200 within {timeout:g} s"
    )


@dataclass(slots=True)
class ReplayOutcome:
    """What a replay measured, what the model predicts for the same trace, and the verdict."""

    replay: Results
    model: Results
    validity: Validity


def run_replay(
    scenario: Scenario,
    scenario_path: Path,
    trace: Trace,
    trace_path: Path,
    *,
    speedup: float,
    out: Path,
    gateway: str | None = None,
    processes: int = 1,
    emulator_port: int | None = None,
    max_lateness_ms: float = MAX_LATENESS_MS,
    limit: float | None = None,
    outage_limit: float = OUTAGE_LIMIT,
    on_tick: Callable[[float], None] | None = None,
    agents: str = REFERENCE_DESK,
    responder: Responder = "agents",
) -> ReplayOutcome:
    """Replay ``trace`` with Locust against ``gateway`` (or a fresh reference gateway, whose
    death ends the run within a second or so: the run is then invalid and says so).

    ``agents`` names the gateway's agent desk (``MODULE:CLASS``, :func:`~.desk.load_desk`);
    with ``responder="bot"`` the gateway's bot answers instead, no agents are emulated, and the
    model side is :func:`~.bot.bot_model` (a bot needs ``gateway``: the reference has none).
    """
    if responder == "bot" and gateway is None:
        raise ValueError("a bot responder needs a gateway whose bot answers (not the reference)")
    out.mkdir(parents=True, exist_ok=True)
    emulator_port = emulator_port or (DEFAULT_EMULATOR_PORT if gateway else free_port())
    expected = scenario.duration / speedup
    limit = limit or max(60.0, 3 * expected + 60.0)
    died: str | None = None
    told = False
    with _gateway(gateway, scenario_path, emulator_port, out) as running:
        url = running.url
        raw_path = out / "replay-raw.json"
        raw_path.unlink(missing_ok=True)
        users = max(1, processes)
        command = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
            "-u", str(users), "-r", str(users), "--host", url,
            "--scenario", str(scenario_path), "--trace", str(trace_path),
            "--speedup", f"{speedup:g}",
            "--emulator-port", str(emulator_port), "--replay-out", str(raw_path),
            "--replay-limit", f"{limit:g}", "--replay-outage-limit", f"{outage_limit:g}",
            "--agents", agents, "--responder", responder,
            "--csv", str(out / "locust"), "--html", str(out / "locust.html"),
            "--loglevel", "WARNING",
        ]  # fmt: skip
        if processes > 1:
            # A port of its own for the master: Locust's default (5557) is one per machine, and
            # two distributed replays at once (CI jobs, test runs) would collide on it.
            master = str(free_port())
            command += ["--processes", str(processes)]
            command += ["--master-bind-port", master, "--master-port", master]
        started = time.monotonic()
        with (out / "locust.log").open("w") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
            while process.poll() is None:
                elapsed = time.monotonic() - started
                if on_tick is not None:
                    on_tick(elapsed)
                own = running.process
                if died is None and own is not None and own.poll() is not None:
                    died = (
                        f"the gateway process died (exit code {own.returncode}) "
                        f"{elapsed:.0f} s into the run, which ended there"
                    )
                if died is not None and not told and catches(process.pid, GATEWAY_DIED):
                    process.send_signal(GATEWAY_DIED)
                    told = True
                if time.monotonic() - started > limit + 60:
                    process.kill()
                    raise InvalidRunError(
                        f"Locust did not finish within {limit + 60:g} s (see {out / 'locust.log'})"
                    )
                time.sleep(0.25)
        if process.returncode not in (0, 1):
            if died is not None:
                raise InvalidRunError(died)
            raise InvalidRunError(
                f"Locust exited with code {process.returncode}: see {out / 'locust.log'}"
            )
    if not raw_path.exists():
        raise InvalidRunError(
            f"Locust ended without writing its measurements: see {out / 'locust.log'}"
        )
    raw = read_raw(raw_path)
    validity = judge(raw, max_lateness_ms, scenario)
    if died is not None:
        validity.reasons.insert(0, died)
    replay, run = replay_results(raw, scenario, trace, validity)
    write_results(replay, out / "replay", run.conversations)
    model, records = model_results(scenario, trace, responder)
    write_results(model, out / "model", records)
    return ReplayOutcome(replay, model, validity)


@contextmanager
def _gateway(
    url: str | None, scenario_path: Path, emulator_port: int, out: Path
) -> Iterator[RunningGateway]:
    if url is not None:
        # A gateway the user says is running answers at once; a few seconds cover a restart.
        wait_healthy(url.rstrip("/"), timeout=5.0)
        yield RunningGateway(url.rstrip("/"))
        return
    with started_gateway(scenario_path, emulator_port, out / "gateway.log") as started:
        yield started
