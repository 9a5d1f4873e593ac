"""A minimal keep-alive HTTP/1.1 client for the load scripts (``gateway_load.py``, ``soak.py``).

httpx spends more CPU per request than the reference gateway does (connection pool bookkeeping,
anyio, h11, cookies), so a load client built on it measures itself. This one writes a request
line and headers by hand over an asyncio stream and reads back the answer (``content-length``
or chunked framing, as uvicorn sends). No TLS, no redirects, no proxies; loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

KEEP_ALIVE = 4.0
"""Seconds an idle pooled connection is reused for: under uvicorn's ``timeout_keep_alive`` (5 s),
so a request never races the server closing the connection it was written to."""


@dataclass(frozen=True)
class Request:
    """What to send: ``body`` goes out as is, with ``headers`` and its ``content-length``."""

    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass(frozen=True)
class Response:
    """A status, the headers (names in lower case) and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def closing(self) -> bool:
        """Whether the server closes the connection after this answer (uvicorn's shed 503s)."""
        return self.headers.get("connection", "").lower() == "close"

    def json(self) -> Any:
        return json.loads(self.body)


class RawConnection:
    """One keep-alive HTTP/1.1 connection: a request at a time, answered in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        return cls(reader, writer)

    async def request(self, request: Request) -> Response:
        """Send ``request`` and read its answer; raises ``OSError``, ``ValueError`` (a malformed
        or missing status line) or ``asyncio.IncompleteReadError`` if the connection breaks."""
        head = [
            f"{request.method} {request.path} HTTP/1.1",
            "host: gateway",
            f"content-length: {len(request.body)}",
        ]
        head += [f"{name}: {value}" for name, value in request.headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + request.body)
        await self.writer.drain()
        status_line = (await self.reader.readline()).split()
        if len(status_line) < 2:
            raise ValueError("connection closed before a status line")
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunks()
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        self.idle_since = time.monotonic()
        return Response(int(status_line[1]), headers, body)

    async def _chunks(self) -> bytes:
        """A chunked body (uvicorn's framing of a response without a length), trailers skipped."""
        parts = []
        while size := int((await self.reader.readline()).split(b";", 1)[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)  # the CRLF after each chunk
        while await self.reader.readline() not in (b"\r\n", b""):
            pass
        return b"".join(parts)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):  # the peer went first: closed either way
            await self.writer.wait_closed()


ERRORS = (OSError, ValueError, asyncio.IncompleteReadError)
"""What :meth:`RawConnection.request` raises when a connection breaks."""


class RawPool:
    """Keep-alive connections to one server, opened on demand and reused while fresh.

    A connection goes back to the pool only after a complete answer that does not close it; one
    idle for :data:`KEEP_ALIVE` seconds is closed instead of reused.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: list[RawConnection] = []

    async def send(self, request: Request, timeout: float = 30.0) -> Response:
        """Send ``request`` on a pooled connection. Raises :data:`ERRORS` or ``TimeoutError``
        (and the connection is closed)."""
        connection = await self._take()
        try:
            response = await asyncio.wait_for(connection.request(request), timeout)
        except BaseException:
            await connection.close()
            raise
        if response.closing:
            await connection.close()
        else:
            self._idle.append(connection)
        return response

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Response:
        """:meth:`send` with ``body`` (if not None) as JSON."""
        sent_headers = dict(headers or {})
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            sent_headers["content-type"] = "application/json"
        return await self.send(Request(path, payload, sent_headers, method), timeout)

    async def _take(self) -> RawConnection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < KEEP_ALIVE:
                return connection
            await connection.close()
        return await RawConnection.open(self.url)

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()
