"""``chatsim gateway`` as a real uvicorn process on a free loopback port, for tests that need
real sockets: one process per test module, stopped (SIGTERM, then SIGKILL) when it is done."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sim.loadtest.run import free_port, gateway_command

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveGateway:
    """A running gateway: where it listens and where its log goes."""

    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def live_gateway(
    log: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[LiveGateway]:
    """Start ``chatsim gateway OPTIONS`` with ``env`` added to the environment; yield once it
    answers ``/healthz``."""
    port = free_port()
    environ = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    # The default durable store, next to the log (never in the repository).
    environ.setdefault("CHATSIM_GATEWAY_STORE", str(log.with_suffix(".db")))
    with log.open("w") as stderr:
        process = subprocess.Popen(
            gateway_command(port, "--log-level", "warning", *options),
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        live = LiveGateway("127.0.0.1", port, log)
        try:
            deadline = time.monotonic() + 20
            while True:
                assert process.poll() is None, f"gateway exited early:\n{live.log_text()}"
                try:
                    if httpx.get(f"{live.url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.1)
            yield live
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
