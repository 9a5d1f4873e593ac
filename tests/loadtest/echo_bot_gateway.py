"""A tiny gateway whose bot answers every customer message: the fixture of ``--responder bot``.

Run as a subprocess (``python tests/loadtest/echo_bot_gateway.py --port P --scenario F
--speedup K``), with the ``CHATSIM_*`` variables of the reference gateway for its secrets and
the provider emulator's base URLs. It accepts the four webhook formats on
``POST /webhooks/{protocol or channel}`` (the reference gateway's parsers and signature checks),
and answers each customer message with an echo after the channel's bot time / speedup
(:func:`sim.loadtest.bot.bot_time`, the one definition the model uses too): through the
platform's send API (the reference gateway's request format) or, for webchat, on the session's
long-poll ``GET /webchat/{session}/messages?after=N&timeout=S``. No sessions' secrets, no
agents, no store: a message id seen before is acknowledged and not answered twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sim.gateway.config import GatewayConfig
from sim.gateway.inbound import PARSERS, InboundMessage, PayloadError, SignatureError, authenticate
from sim.gateway.outbound import build_request
from sim.loadtest.bot import bot_time
from sim.protocols import PROTOCOLS
from sim.scenario import load_scenario


@dataclass
class Session:
    """A webchat session's replies, and who waits for the next one."""

    replies: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def create_app(scenario_path: str, speedup: float) -> FastAPI:
    """The echo bot for the scenario's channels, at ``speedup``."""
    scenario = load_scenario(scenario_path)
    channels = {name: (c.protocol, c.priority) for name, c in scenario.channels.items()}
    config = GatewayConfig.from_env().with_channels(channels)
    delays = {name: bot_time(c) / speedup for name, c in scenario.channels.items()}
    sessions: dict[str, Session] = {}
    seen: set[str] = set()
    pending: set[asyncio.Task[None]] = set()
    state: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            state["client"] = client
            yield
            for task in pending:
                task.cancel()

    app = FastAPI(lifespan=lifespan)

    def resolve(name: str) -> tuple[str, str] | None:
        if name in channels:
            return name, channels[name][0]
        if name in PROTOCOLS:
            served = config.channels_of(name)
            if served:
                return served[0], name
        return None

    async def send(protocol: str, message: InboundMessage, text: str) -> None:
        if protocol == "webchat":
            session = sessions.setdefault(message.customer_id, Session())
            session.replies.append(text)
            session.changed.set()
            session.changed = asyncio.Event()
            return
        url, headers, body = build_request(config, protocol, message.address, text)
        for attempt in range(5):  # the emulator answers at once; a retry covers a hiccup
            try:
                response = await state["client"].post(url, headers=headers, json=body)
                if response.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05 * 2**attempt)

    async def answer(channel: str, protocol: str, message: InboundMessage) -> None:
        await asyncio.sleep(delays[channel])
        await send(protocol, message, f"echo: {message.text}")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/{name}")
    async def webhook(name: str, request: Request) -> JSONResponse:
        found = resolve(name)
        if found is None:
            return JSONResponse({"error": "unknown_channel"}, status_code=404)
        channel, protocol = found
        body = await request.body()
        try:
            authenticate(protocol, config, request.headers, body)
            inbound = PARSERS[protocol](body)
        except SignatureError as error:
            return JSONResponse({"error": "bad_signature"}, status_code=error.status)
        except PayloadError as error:
            return JSONResponse({"error": error.error, "detail": error.detail}, status_code=400)
        if inbound.channel is not None and inbound.channel in channels:
            channel = inbound.channel
        for message in inbound.messages:
            key = message.idempotency_key
            if key is not None:
                if key in seen:
                    continue  # a platform's redelivery: answered once already
                seen.add(key)
            task = asyncio.create_task(answer(channel, protocol, message))
            pending.add(task)
            task.add_done_callback(pending.discard)
        return JSONResponse({"status": "ok"})

    @app.get("/webchat/{session}/messages")
    async def webchat_messages(session: str, after: int = 0, timeout: float = 0.0) -> Any:
        held = sessions.setdefault(session, Session())
        if len(held.replies) <= after and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(held.changed.wait(), timeout=min(timeout, 60.0))
        return [
            {"index": index, "text": text}
            for index, text in enumerate(held.replies, start=1)
            if index > after
        ]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--speedup", type=float, required=True)
    options = parser.parse_args()
    app = create_app(options.scenario, options.speedup)
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning")


if __name__ == "__main__":
    main()
