"""The gateway's HTTP side: webhooks through the SDKs, webchat, the desk API, health.

Inbound, each platform through its SDK:

* ``POST /webhooks/telegram``: the ``X-Telegram-Bot-Api-Secret-Token`` header, then
  python-telegram-bot's ``Update.de_json``.
* ``GET|POST /webhooks/whatsapp``: pywa's challenge handler, signature validator
  (``X-Hub-Signature-256`` with the app secret) and update handler, which calls our message
  handler before the 200.
* ``POST /webhooks/viber``: viberbot's ``verify_signature`` (``X-Viber-Content-Signature``)
  and ``parse_request``.
* ``POST /webhooks/webchat``: ``{session, text, channel?, id?}`` or ``{session, event:
  "close"}``; ``GET /webchat/{session}/messages?after=N&timeout=S`` long-polls the replies.

The desk API (agents; ``Authorization: Bearer``: the desk key to open a session, then the
session's token):

* ``POST /desk/sessions`` ``{agent, channels, capacity}`` → 201 ``{agent, token}``
* ``PUT /desk/agents/{id}/status`` ``{available}`` → the agent's status
* ``GET /desk/agents/{id}`` → ``{agent, available, chats, present}``
* ``GET /desk/inbox?wait=S&since=N`` → ``{items: [{n, kind, chat, ...}], last}``
* ``POST /desk/chats/{id}/messages`` ``{text, key}`` → 202 (200 for a key seen before; 410
  when the chat has ended)
* ``DELETE /desk/chats/{id}`` → 204

In echo-bot mode (``Config.bot``) there is no queue and no desk: every customer message is
answered with ``Echo: <text>``, ``bot_delay`` seconds later (or the channel's own delay).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from pywa.types.message import Message
from pywa_async.handlers import MessageHandler
from telegram import Update
from viberbot.api.viber_requests import ViberMessageRequest  # type: ignore[import-untyped]

from .config import Channel, Config
from .floor import Agent, Chat, Floor, Reply
from .messengers import Messengers

log = logging.getLogger("sdkgw")


class Problem(Exception):
    """A refusal: answered as ``{"error": ...}`` with its status."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class SessionRequest(BaseModel):
    agent: str = Field(min_length=1, max_length=128)
    channels: list[str]
    capacity: int = Field(ge=1, le=100)


class StatusRequest(BaseModel):
    available: bool


class ReplyRequest(BaseModel):
    text: str = Field(min_length=1)
    key: str = Field(default="", max_length=200)


class Gateway:
    """Everything a request handler needs: configuration, state, the SDK clients."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.messengers = Messengers(config)
        self.floor = Floor(self.messengers.send)
        self._bot_tasks: set[asyncio.Task[None]] = set()
        self.messengers.whatsapp.add_handlers(MessageHandler(self._whatsapp_message))

    # -- a customer message, whichever the platform ------------------------------------------

    def received(
        self,
        protocol: str,
        channel: Channel | None,
        customer: str,
        message_id: str,
        text: str,
        address: dict[str, str] | None = None,
    ) -> None:
        if channel is None:
            raise Problem(404, f"no {protocol} channel on this gateway")
        if message_id and self.floor.seen(protocol, customer, message_id):
            return  # the platform's redelivery
        if self.config.bot:
            chat = Chat(f"bot:{channel.name}:{customer}", channel, customer, dict(address or {}), 0)
            task = asyncio.get_running_loop().create_task(self._echo(chat, text))
            self._bot_tasks.add(task)
            task.add_done_callback(self._bot_tasks.discard)
            return
        self.floor.customer_message(channel, customer, text, address)

    async def _echo(self, chat: Chat, text: str) -> None:
        await asyncio.sleep(self.config.delay_of(chat.channel.name))
        self.messengers.send(chat, f"Echo: {text}")

    async def _whatsapp_message(self, _: object, message: Message) -> None:
        """pywa's handler: called inside ``webhook_update_handler``, before the 200."""
        user = message.from_user
        self.received(
            "whatsapp",
            self.config.first_of("whatsapp"),
            user.wa_id or user.bsuid,
            message.id,
            message.text or message.caption or f"[{message.type}]",
            {"phone_id": message.metadata.phone_number_id, "user_id": user.bsuid},
        )


def _bearer(authorization: str | None) -> str:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise Problem(401, "missing Authorization: Bearer")
    return credential


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(_gateway)]


def _agent(gw: GatewayDep, authorization: Annotated[str | None, Header()] = None) -> Agent:
    agent = gw.floor.agent_of(_bearer(authorization))
    if agent is None:
        raise Problem(401, "unknown or retired session token")
    return agent


AgentDep = Annotated[Agent, Depends(_agent)]


def create_app(config: Config | None = None) -> FastAPI:
    """The gateway, configured from the environment unless ``config`` is given."""
    settings = config or Config.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway = Gateway(settings)
        app.state.gateway = gateway
        try:
            yield
        finally:
            await gateway.messengers.aclose()

    app = FastAPI(title="sdk-gateway", lifespan=lifespan)

    @app.exception_handler(Problem)
    async def problem(_: Request, error: Problem) -> JSONResponse:
        return JSONResponse({"error": error.error}, status_code=error.status)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # -- webhooks ----------------------------------------------------------------------------

    @app.post("/webhooks/telegram")
    async def telegram(
        request: Request,
        gw: GatewayDep,
        secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
    ) -> dict[str, bool]:
        expected = gw.config.credentials.telegram_secret_token
        if expected and not hmac.compare_digest((secret or "").encode(), expected.encode()):
            raise Problem(401 if secret is None else 403, "bad secret token")
        try:
            update = Update.de_json(json.loads(await request.body()), gw.messengers.telegram)
        except (ValueError, TypeError, KeyError) as error:
            raise Problem(400, f"not a Telegram Update: {error}") from None
        message = update.message
        if message is not None:  # edited messages, callbacks...: acknowledged, ignored
            gw.received(
                "telegram",
                gw.config.first_of("telegram"),
                str(message.chat.id),
                str(message.message_id),
                message.text or message.caption or "[media]",
            )
        return {"ok": True}

    @app.get("/webhooks/whatsapp")
    async def whatsapp_challenge(
        gw: GatewayDep,
        mode: Annotated[str | None, Query(alias="hub.mode")] = None,
        token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
        challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
    ) -> PlainTextResponse:
        if mode != "subscribe" or challenge is None:
            raise Problem(400, "expected hub.mode=subscribe and hub.challenge")
        content, status = await gw.messengers.whatsapp.webhook_challenge_handler(
            vt=token, ch=challenge
        )
        return PlainTextResponse(content or "", status_code=status)

    @app.post("/webhooks/whatsapp")
    async def whatsapp(
        request: Request,
        gw: GatewayDep,
        signature: Annotated[str | None, Header(alias="X-Hub-Signature-256")] = None,
    ) -> PlainTextResponse:
        body = await request.body()
        client = gw.messengers.whatsapp
        refused = await client.webhook_update_validator(update=body, hmac_header=signature)
        if refused is not None:
            return PlainTextResponse(refused[0], status_code=refused[1])
        content, status = await client.webhook_update_handler(update=body)
        return PlainTextResponse(content, status_code=status)

    @app.post("/webhooks/viber")
    async def viber(
        request: Request,
        gw: GatewayDep,
        signature: Annotated[str | None, Header(alias="X-Viber-Content-Signature")] = None,
    ) -> dict[str, int]:
        body = await request.body()
        api = gw.messengers.viber
        if signature is None:
            raise Problem(401, "missing X-Viber-Content-Signature")
        if not api.verify_signature(body, signature):
            raise Problem(403, "wrong X-Viber-Content-Signature")
        try:
            callback = api.parse_request(body)
        except Exception as error:  # viberbot raises bare Exceptions for unknown events
            raise Problem(400, f"not a Viber callback: {error}") from None
        if isinstance(callback, ViberMessageRequest):
            message = callback.message
            gw.received(
                "viber",
                gw.config.first_of("viber"),
                callback.sender.id,
                str(callback.message_token),
                getattr(message, "text", None) or f"[{getattr(message, '_message_type', '?')}]",
            )
        return {"status": 0}

    @app.post("/webhooks/webchat")
    async def webchat(request: Request, gw: GatewayDep) -> dict[str, bool]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise Problem(400, "malformed JSON") from None
        session = body.get("session") if isinstance(body, dict) else None
        if not isinstance(session, str) or not session or len(session) > 128:
            raise Problem(400, "expected {session, text} or {session, event: 'close'}")
        requested = body.get("channel")
        channel = (
            gw.config.channel(requested)
            if isinstance(requested, str)
            else gw.config.first_of("webchat")
        )
        if channel is None or channel.protocol != "webchat":
            raise Problem(404, f"no webchat channel {requested!r}")
        if body.get("event") == "close":
            gw.floor.customer_left(channel, session)
            return {"ok": True}
        text = body.get("text")
        if not isinstance(text, str):
            raise Problem(400, "expected text")
        gw.received("webchat", channel, session, str(body.get("id") or ""), text)
        return {"ok": True}

    @app.get("/webchat/{session}/messages")
    async def webchat_messages(
        session: str,
        gw: GatewayDep,
        after: Annotated[int, Query(ge=0)] = 0,
        timeout: Annotated[float, Query(ge=0, le=60)] = 0.0,
    ) -> list[dict[str, Any]]:
        return await gw.messengers.webchat_after(session, after, timeout)

    # -- the desk ----------------------------------------------------------------------------

    def status_of(agent: Agent) -> dict[str, Any]:
        return {
            "agent": agent.id,
            "available": agent.available,
            "chats": len(agent.chats),
            "present": agent.available or bool(agent.chats),
        }

    @app.post("/desk/sessions", status_code=201)
    async def open_session(
        body: SessionRequest,
        gw: GatewayDep,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, str]:
        desk_key = gw.config.credentials.desk_key
        if desk_key and not hmac.compare_digest(_bearer(authorization).encode(), desk_key.encode()):
            raise Problem(403, "wrong desk key")
        if gw.config.bot:
            raise Problem(409, "this gateway answers with its echo bot: no agents")
        agent = gw.floor.sign_in(body.agent, body.channels, body.capacity)
        return {"agent": agent.id, "token": agent.token}

    def own(agent: Agent, agent_id: str) -> None:
        if agent.id != agent_id:
            raise Problem(403, "another agent")

    @app.put("/desk/agents/{agent_id}/status")
    async def set_status(
        agent_id: str, body: StatusRequest, agent: AgentDep, gw: GatewayDep
    ) -> dict[str, Any]:
        own(agent, agent_id)
        gw.floor.set_available(agent, body.available)
        return status_of(agent)

    @app.get("/desk/agents/{agent_id}")
    async def get_status(agent_id: str, agent: AgentDep) -> dict[str, Any]:
        own(agent, agent_id)
        return status_of(agent)

    @app.get("/desk/inbox")
    async def inbox(
        agent: AgentDep,
        gw: GatewayDep,
        since: Annotated[int, Query(ge=0)] = 0,
        wait: Annotated[float, Query(ge=0, le=60)] = 0.0,
    ) -> dict[str, Any]:
        items = gw.floor.inbox(agent, since)
        if not items and wait > 0:
            agent.news.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(agent.news.wait(), wait)
            current = gw.floor.agents.get(agent.id)
            if current is None or current.token != agent.token:
                raise Problem(401, "session replaced")
            items = gw.floor.inbox(agent, since)
        return {"items": items, "last": items[-1]["n"] if items else since}

    @app.post("/desk/chats/{chat_id}/messages")
    async def reply(
        chat_id: str, body: ReplyRequest, agent: AgentDep, gw: GatewayDep
    ) -> JSONResponse:
        outcome = gw.floor.reply(agent, chat_id, body.text, body.key)
        status = {
            Reply.ACCEPTED: 202,
            Reply.DUPLICATE: 200,
            Reply.ENDED: 410,
            Reply.NOT_YOURS: 403,
            Reply.UNKNOWN: 404,
        }[outcome]
        return JSONResponse({"chat": chat_id, "key": body.key, "result": outcome.value}, status)

    @app.delete("/desk/chats/{chat_id}", status_code=204)
    async def close(chat_id: str, agent: AgentDep, gw: GatewayDep) -> Response:
        outcome = gw.floor.close(agent, chat_id)
        if outcome is Reply.NOT_YOURS:
            raise Problem(403, "another agent's chat")
        if outcome is Reply.UNKNOWN:
            raise Problem(404, "no such chat")
        return Response(status_code=204)

    return app


def create_bot_app() -> FastAPI:
    """The echo-bot variant (``uvicorn --factory sdkgw.app:create_bot_app``): the environment's
    configuration with the bot answering every message (``SDKGW_BOT_DELAY`` seconds later)."""
    return create_app(Config.from_env(bot=True))
