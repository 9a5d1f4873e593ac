"""Bounds on what one request may cost the gateway: body size, body time and header time.

A caller the gateway cannot trust (every webhook comes from the internet, webchat from anybody)
may send too much, or send it too slowly. Three bounds hold, each answered so that the caller
can tell what happened:

* **Body size** (:class:`BodyLimit`, an ASGI middleware). A body over ``max_bytes`` gets 413.
  HTTP clients mostly write the whole body before they read the answer; a server that answers
  and closes while the body still arrives makes the kernel reset the connection, and the client
  sees the reset instead of the 413. So an oversized body is *drained*, read and thrown away,
  up to ``drain_bytes``, and the 413 follows with ``Connection: close``. A body declared (by
  ``Content-Length``) or found to be larger than the drain bound is refused at once and the
  connection closed: past that bound the gateway will not spend the bandwidth. A client that
  sent ``Expect: 100-continue`` is refused before it sends anything, so it is not drained.
* **Body time** (also :class:`BodyLimit`). The whole body, drained or kept, must arrive within
  ``body_timeout`` seconds of the request's headers; a slower one gets 408 and the connection
  is closed.
* **Header time** (:class:`HeaderTimeoutProtocol`, uvicorn's HTTP protocol with a timer). uvicorn
  bounds the idle time between requests on a kept-alive connection (``timeout_keep_alive``) but
  not the time a client takes to send a request line and headers: a client that trickles one
  header byte a second keeps its connection forever. The protocol starts a timer when a
  connection opens or a new request begins and closes the connection (with 408 if part of a
  request had arrived) when the headers are not complete ``header_timeout`` seconds later.

Accepted bodies are buffered and handed on unchanged, so handlers still see the exact raw bytes
that signatures cover. Refusals have the gateway's error body ``{"error", "detail"}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, ClassVar

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState


def error_bytes(error: str, detail: str) -> bytes:
    """The gateway's error body, encoded."""
    return json.dumps({"error": error, "detail": detail}).encode()


async def _refuse(send: Send, status: int, error: str, detail: str) -> None:
    body = error_bytes(error, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (413) or slower than ``body_timeout`` (408).

    Oversized bodies are drained up to ``drain_bytes`` first (default: ``max_bytes``, i.e. no
    draining), so that clients which write their whole body before reading see the 413 (see the
    module docstring). ``body_timeout`` of ``None`` waits for ever. ``on_reject(path, reason)``
    is told of every refusal, ``reason`` being ``too_large`` or ``timeout``.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        *,
        drain_bytes: int | None = None,
        body_timeout: float | None = None,
        on_reject: Callable[[str, str], None] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_bytes = max(max_bytes, drain_bytes or 0)
        self.body_timeout = body_timeout
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        expects_continue = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _refuse(send, 400, "bad_request", "Content-Length is not a number")
                    return
            elif name == b"expect":
                expects_continue = value.lower() == b"100-continue"
        too_large = f"request body larger than {self.max_bytes} bytes"
        if declared is not None and (
            declared > self.drain_bytes or (declared > self.max_bytes and expects_continue)
        ):
            self._rejected(scope, "too_large")
            await _refuse(send, 413, "body_too_large", too_large)
            return
        reader = _BodyReader(receive, self.max_bytes, self.drain_bytes)
        try:
            with anyio.fail_after(self.body_timeout):
                body = await reader.read()
        except TimeoutError:
            if reader.oversized:
                self._rejected(scope, "too_large")
                await _refuse(send, 413, "body_too_large", too_large)
            else:
                self._rejected(scope, "timeout")
                await _refuse(
                    send,
                    408,
                    "request_timeout",
                    f"request body not received within {self.body_timeout:g} s",
                )
            return
        if reader.disconnected:
            return  # the client went away before sending its body: nobody to answer
        if body is None:
            self._rejected(scope, "too_large")
            await _refuse(send, 413, "body_too_large", too_large)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _rejected(self, scope: Scope, reason: str) -> None:
        if self.on_reject is not None:
            self.on_reject(str(scope.get("path", "")), reason)


class _BodyReader:
    """Reads one request body: keeps it up to ``max_bytes``, discards it up to ``drain_bytes``.

    :meth:`read` returns the body, or ``None`` when it was too large (then ``oversized``).
    """

    def __init__(self, receive: Receive, max_bytes: int, drain_bytes: int) -> None:
        self.receive = receive
        self.max_bytes = max_bytes
        self.drain_bytes = drain_bytes
        self.size = 0
        self.oversized = False
        self.disconnected = False

    async def read(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                self.disconnected = True
                return None
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size > self.max_bytes:
                self.oversized = True
                chunks.clear()
                if self.size > self.drain_bytes:
                    return None  # stop reading: the connection will be closed
            else:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return None if self.oversized else b"".join(chunks)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol, with a deadline for each request's headers.

    The timer starts when the connection is made and when the parser sees the first byte of a
    further request on a kept-alive connection (the idle time before it is uvicorn's
    ``timeout_keep_alive``), and stops when the headers are complete. If it fires, the
    connection is closed; when some of a request had arrived and no earlier response is still
    being written, a 408 goes out first. Make a subclass with its own bound with
    :func:`with_header_timeout` and hand it to uvicorn as ``http=``.
    """

    header_timeout: ClassVar[float] = 10.0
    """Seconds from the start of a request (or of the connection) to its last header."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timer: asyncio.TimerHandle | None = None
        self._request_begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        self._request_begun = False
        super().on_headers_complete()

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        idle = self.cycle is None or self.cycle.response_complete
        if self._request_begun and idle:
            body = error_bytes(
                "request_timeout", f"request headers not received within {self.header_timeout:g} s"
            )
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
        self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderTimeoutProtocol]:
    """A :class:`HeaderTimeoutProtocol` whose requests have ``seconds`` for their headers."""

    class Bounded(HeaderTimeoutProtocol):
        header_timeout = seconds

    return Bounded
