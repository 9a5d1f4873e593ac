"""A stub of the platforms' send APIs on 127.0.0.1, optionally flaky, recording every call.

One ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, a thread per connection) answers WhatsApp
``/{version}/{phone_number_id}/messages``, Telegram ``/bot{token}/sendMessage`` and Viber
``/pa/send_message`` in their success shapes. Faults are drawn per call from a seeded generator:

* ``fail``: answer 500 (the platform did not take the message);
* ``slow``: answer 200 after ``slow_seconds`` (keep it under the gateway's timeout, so that the
  answer still arrives);
* ``drop``: read the whole request, then close the connection without answering: the platform
  *took* the message but its acknowledgement is lost, the one case where a sender cannot know;
* ``retry_after``: answer the first ``retry_after_calls`` calls 429 with that ``Retry-After``.

Each call is a :class:`Call` in :attr:`StubPlatform.calls` with what was answered, so a test can
tell a duplicate caused by a lost acknowledgement from any other. Used by the gateway tests and
by ``scripts/soak.py``, which runs it as a process of its own (``python platform_stub.py --port
P [--delay S] [--fail F] [--drop F]``, without recording; ``GET /stats`` gives the counts).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from sim.loadtest.run import free_port, gateway_command


@dataclass(frozen=True)
class Call:
    """One request as the stub saw it: when (monotonic), the body, and what it answered."""

    at: float
    path: str
    body: dict[str, Any]
    outcome: str  # ok, slow, fail, drop, 429

    @property
    def text(self) -> str:
        """The message text, whatever the protocol."""
        text = self.body.get("text")
        return str(text["body"] if isinstance(text, dict) else text)

    @property
    def recipient(self) -> str:
        body = self.body
        return str(body.get("to") or body.get("chat_id") or body.get("receiver"))

    @property
    def delivered(self) -> bool:
        """Did the platform take the message (answered 2xx, or took it and lost the answer)?"""
        return self.outcome in ("ok", "slow", "drop")


@dataclass
class StubPlatform:
    """Fault rates are shares of calls; see the module docstring."""

    fail: float = 0.0
    slow: float = 0.0
    drop: float = 0.0
    slow_seconds: float = 0.2
    delay: float = 0.0
    """Seconds every call takes before its answer (a platform's own latency)."""
    retry_after: str | None = None
    retry_after_calls: int = 0
    seed: int = 1
    record: bool = True
    calls: list[Call] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    count: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _draw(self) -> str:
        with self.lock:
            self.count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.count <= self.retry_after_calls:
                return "429"
            u = self._rng.random()
        if u < self.fail:
            return "fail"
        if u < self.fail + self.drop:
            return "drop"
        if u < self.fail + self.drop + self.slow:
            return "slow"
        return "ok"

    def handle(self, path: str, body: dict[str, Any]) -> tuple[str, int, bytes, dict[str, str]]:
        """(outcome, status, answer body, headers) of one call, recorded."""
        outcome = self._draw()
        try:
            if self.delay:
                time.sleep(self.delay)
            if outcome == "slow":
                time.sleep(self.slow_seconds)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                if self.record:
                    self.calls.append(Call(time.monotonic(), path, body, outcome))
        if outcome == "429":
            return (
                outcome,
                429,
                b'{"error": "rate limited"}',
                {"Retry-After": self.retry_after or "1"},
            )
        if outcome == "fail":
            return outcome, 500, b'{"error": "internal"}', {}
        n = self.count
        if path.endswith("/messages"):
            answer: dict[str, Any] = {"messages": [{"id": f"wamid.stub{n}"}]}
        elif path.endswith("/sendMessage"):
            answer = {"ok": True, "result": {"message_id": n}}
        else:
            answer = {"status": 0, "status_message": "ok", "message_token": n}
        return outcome, 200, json.dumps(answer).encode(), {}


def _handler(platform: StubPlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real send APIs

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            outcome, status, data, headers = platform.handle(self.path, json.loads(raw))
            if outcome == "drop":
                self.close_connection = True  # taken, but the answer never leaves
                return
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with platform.lock:
                stats = {"count": platform.count, "outcomes": dict(platform.outcomes)}
            data = json.dumps(stats).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(platform: StubPlatform) -> Iterator[str]:
    """Run ``platform`` on a free loopback port for the block; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(platform))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class LiveGateway:
    process: subprocess.Popen[bytes]
    url: str


@contextmanager
def gateway_process(platform_base: str, *options: str, log: Any = None) -> Iterator[LiveGateway]:
    """``chatsim gateway OPTIONS`` as a real uvicorn subprocess on a free loopback port, sending
    to ``platform_base``; stopped (SIGTERM, then killed) at the end of the block."""
    root = Path(__file__).resolve().parents[2]
    port = free_port()
    env = {
        **os.environ,
        "CHATSIM_WHATSAPP_API_BASE": platform_base,
        "CHATSIM_TELEGRAM_API_BASE": platform_base,
        "CHATSIM_VIBER_API_BASE": platform_base,
        "PYTHONPATH": str(root),
    }
    # The default durable store, in a directory of its own (never the repository).
    env.setdefault("CHATSIM_GATEWAY_STORE", str(Path(tempfile.mkdtemp()) / "gateway.db"))
    command = gateway_command(port, "--log-level", "error", *options)
    out = subprocess.DEVNULL if log is None else log
    process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gateway exited early with code {process.returncode}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gateway did not start within 20 s")
            time.sleep(0.05)
        yield LiveGateway(process, url)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def main() -> None:
    """Serve a non-recording stub on ``--port`` until killed (``scripts/soak.py`` does)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--fail", type=float, default=0.0)
    parser.add_argument("--drop", type=float, default=0.0)
    args = parser.parse_args()
    platform = StubPlatform(fail=args.fail, drop=args.drop, delay=args.delay, record=False)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(platform))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
