"""Live processes and servers for the tests that need real sockets.

* :func:`live_process` runs any command that serves ``/healthz`` on a free loopback port (the
  example SDK gateway, the echo-bot gateway) and :func:`chatsim_gateway` runs ``chatsim
  gateway`` that way: started, waited for until ``/healthz`` answers 200, stopped at the end of
  the block (a signal, then SIGKILL).
* :class:`StubPlatform` is the platforms' send APIs on loopback, optionally down or flaky,
  recording every call; :func:`serve` runs it in a thread. ``tests/gateway/platform_stub.py``
  runs it as a process of its own for ``scripts/soak.py``.
* :func:`serve_emulator` runs the replay's provider emulator in a thread.
* :func:`chatsim` runs the command line in this process (the end-to-end tests' replays and
  comparisons; Locust and the gateways they start are still processes of their own).

One ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, a thread per connection) answers WhatsApp
``/{version}/{phone_number_id}/messages``, Telegram ``/bot{token}/sendMessage`` and Viber
``/pa/send_message`` in their success shapes, detailed enough for the messengers' SDKs too
(python-telegram-bot reads the sent message back; it posts a form, not JSON). Faults are drawn
per call from a seeded generator:

* ``fail``: answer 500 (the platform did not take the message);
* ``slow``: answer 200 after ``slow_seconds`` (keep it under the gateway's timeout, so that the
  answer still arrives);
* ``drop``: read the whole request, then close the connection without answering: the platform
  *took* the message but its acknowledgement is lost, the one case where a sender cannot know;
* ``retry_after``: answer the first ``retry_after_calls`` calls 429 with that ``Retry-After``;
* ``up=False``: answer every call 503 (``down``) until ``up`` is set again.

Each call is a :class:`Call` in :attr:`StubPlatform.calls` with what was answered, so a test can
tell a duplicate caused by a lost acknowledgement from any other.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import threading
import time
import wsgiref.simple_server
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl

import httpx

from sim.loadtest.emulator import Outbound, ProviderEmulator
from sim.loadtest.run import free_port, gateway_command
from sim.protocols import PlatformCredentials

__all__ = [
    "ROOT",
    "Call",
    "LiveProcess",
    "Ran",
    "StubPlatform",
    "chatsim",
    "chatsim_gateway",
    "free_port",
    "live_process",
    "platform_env",
    "serve",
    "serve_emulator",
    "stop",
]

ROOT = Path(__file__).resolve().parents[1]


def platform_env(base: str) -> dict[str, str]:
    """The variables that point a gateway's outbound calls of every platform at ``base``."""
    return {
        "CHATSIM_WHATSAPP_API_BASE": base,
        "CHATSIM_TELEGRAM_API_BASE": base,
        "CHATSIM_VIBER_API_BASE": base,
    }


# -- processes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveProcess:
    """A running server process: where it listens and where its output goes."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def stop(process: subprocess.Popen[bytes], how: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Stop ``process`` with the signal ``how``; SIGKILL it if it is not gone after
    ``timeout`` seconds. Nothing happens to a process that has already exited."""
    if process.poll() is not None:
        return
    process.send_signal(how)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def live_process(
    command: Sequence[str],
    port: int,
    *,
    log: Path,
    env: dict[str, str] | None = None,
    stdout_to_log: bool = False,
    append: bool = False,
    timeout: float = 30.0,
    stop_with: int = signal.SIGTERM,
) -> Iterator[LiveProcess]:
    """Run ``command`` (which serves on 127.0.0.1:``port``) from the repository root with
    ``env`` added to the environment and its stderr (and stdout with ``stdout_to_log``, else
    it is dropped) written to ``log``; yield once ``/healthz`` answers 200, stop it with
    ``stop_with`` at the end of the block. It failing to start fails the test, with its log."""
    environ = {**os.environ, **(env or {})}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab" if append else "wb") as handle:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=environ,
            stdout=handle if stdout_to_log else subprocess.DEVNULL,
            stderr=handle,
        )
    live = LiveProcess(process, "127.0.0.1", port, log)
    what = " ".join(command[1:4])
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, (
                f"{what} exited early with code {process.returncode}:\n{live.log_text()}"
            )
            try:
                if httpx.get(f"{live.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (
                f"{what} did not answer /healthz within {timeout:g} s:\n{live.log_text()}"
            )
            time.sleep(0.05)
        yield live
    finally:
        stop(process, stop_with)


def chatsim_gateway(
    log: Path,
    *options: str,
    env: dict[str, str] | None = None,
    platform: str | None = None,
    log_level: str = "warning",
    stop_with: int = signal.SIGTERM,
    append: bool = False,
) -> AbstractContextManager[LiveProcess]:
    """``chatsim gateway --log-level LOG_LEVEL OPTIONS`` as a :func:`live_process`, its outbound
    calls at ``platform`` (a base URL) when given. Its store is ``CHATSIM_GATEWAY_STORE`` of
    ``env`` or of this process (the gateway tests' conftest points it at the test's temporary
    directory), else a file next to ``log``: never the repository's."""
    port = free_port()
    environ = {
        **(platform_env(platform) if platform is not None else {}),
        **(env or {}),
        "PYTHONPATH": str(ROOT),
    }
    if "CHATSIM_GATEWAY_STORE" not in environ and "CHATSIM_GATEWAY_STORE" not in os.environ:
        environ["CHATSIM_GATEWAY_STORE"] = str(log.with_suffix(".db"))
    return live_process(
        gateway_command(port, "--log-level", log_level, *options),
        port,
        log=log,
        env=environ,
        append=append,
        stop_with=stop_with,
    )


# -- a stub of the platforms' send APIs ----------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request as the stub saw it: when (monotonic), the body, what it answered, and the
    request's headers."""

    at: float
    path: str
    body: dict[str, Any]
    outcome: str  # ok, slow, fail, drop, 429, down
    headers: dict[str, str] = field(default_factory=dict)

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

    @property
    def acknowledged(self) -> bool:
        """Was the message taken and the 200 answer sent?"""
        return self.outcome in ("ok", "slow")


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
    up: bool = True
    """While false, every call is answered 503 (``down``): the platform is out."""
    seed: int = 1
    record: bool = True
    calls: list[Call] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    count: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _draw(self) -> str:
        with self.lock:
            self.count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if not self.up:
                return "down"
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

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Call]:
        """The calls so far, once there are ``count`` (or ``timeout`` seconds have passed)."""
        with self.lock:
            self.lock.wait_for(lambda: len(self.calls) >= count, timeout)
            return list(self.calls)

    def acknowledged(self, count: int = 0, timeout: float = 10.0) -> list[Call]:
        """The calls answered 200 so far, once there are ``count`` (or ``timeout`` passed)."""
        with self.lock:
            self.lock.wait_for(lambda: sum(c.acknowledged for c in self.calls) >= count, timeout)
            return [call for call in self.calls if call.acknowledged]

    def handle(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[str, int, bytes, dict[str, str]]:
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
                    self.calls.append(Call(time.monotonic(), path, body, outcome, headers or {}))
                self.lock.notify_all()
        if outcome == "429":
            return (
                outcome,
                429,
                b'{"error": "rate limited"}',
                {"Retry-After": self.retry_after or "1"},
            )
        if outcome == "fail":
            return outcome, 500, b'{"error": "internal"}', {}
        if outcome == "down":
            return outcome, 503, b'{"error": "unavailable"}', {}
        n = self.count
        if path.endswith("/messages"):
            to = body.get("to") or body.get("recipient")
            answer: dict[str, Any] = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.stub{n}"}],
            }
        elif path.endswith("/sendMessage"):
            chat = body.get("chat_id")
            chat_id = int(chat) if str(chat).lstrip("-").isdigit() else chat
            answer = {
                "ok": True,
                "result": {
                    "message_id": n,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private"},
                    "text": body.get("text"),
                },
            }
        else:
            answer = {"status": 0, "status_message": "ok", "message_token": n}
        return outcome, 200, json.dumps(answer).encode(), {}


def _handler(platform: StubPlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real send APIs
        # An answer's headers and body leave at once: with Nagle's algorithm, the body of an
        # answer on a kept-alive connection waits for the caller's delayed ACK (40 ms).
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:  # viberbot posts JSON without saying so; python-telegram-bot posts a form
                body = json.loads(raw or b"{}")
            except ValueError:
                body = dict(parse_qsl(raw.decode()))
            outcome, status, data, headers = platform.handle(self.path, body, dict(self.headers))
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


def platform_server(platform: StubPlatform, port: int = 0) -> ThreadingHTTPServer:
    """A server of ``platform`` on 127.0.0.1:``port`` (any free one by default), not started."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(platform))
    server.daemon_threads = True
    return server


@contextmanager
def serve(platform: StubPlatform) -> Iterator[str]:
    """Run ``platform`` on a free loopback port for the block; yields its base URL."""
    server = platform_server(platform)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- the replay's provider emulator --------------------------------------------------------------


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True


@contextmanager
def serve_emulator(
    credentials: PlatformCredentials | None = None,
) -> Iterator[tuple[str, ProviderEmulator, list[Outbound]]]:
    """The provider emulator on a free loopback port, served by :mod:`wsgiref` in threads (no
    gevent in the pytest process): (base URL, the app, what it delivered)."""
    delivered: list[Outbound] = []
    app = ProviderEmulator(credentials or PlatformCredentials(), delivered.append)
    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app, delivered
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- the command line, in this process -----------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """What ``chatsim ARGS`` did: its exit code and output (as :class:`subprocess.CompletedProcess`
    names them)."""

    returncode: int
    stdout: str
    stderr: str


def chatsim(*args: object, cwd: Path | None = None) -> Ran:
    """``chatsim ARGS`` through the command line's own entry point (:func:`sim.cli.main`, which
    ``python -m sim`` calls) in this process, from ``cwd``: no interpreter start-up and no
    second import of sim. Whatever it starts (a gateway, Locust) is still a process of its own.
    """
    from sim.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            main([str(arg) for arg in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        os.chdir(here)
    return Ran(code, out.getvalue(), err.getvalue())
