"""Payloads shaped like the platforms' documented examples, and an in-process gateway client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from sim.gateway import GatewayConfig, create_app
from sim.protocols import viber_signature, whatsapp_signature

CONFIG = GatewayConfig(outbound_backoff=0.0, shutdown_grace=1.0, store=":memory:")


class CallerAuth(httpx.Auth):
    """The credentials a well-behaved caller would send, picked per request, for tests of
    everything but authentication itself: the desk key to log in and to read, each agent's own
    session token (remembered from its login) for its calls, each webchat session's secret
    (remembered from the answer to its first message). A request that sets ``Authorization``
    or ``X-Webchat-Secret`` itself is left as it is."""

    requires_response_body = True

    def __init__(self, desk_key: str) -> None:
        self.desk_key = desk_key
        self.tokens: dict[str, str] = {}
        self.secrets: dict[str, str] = {}

    def auth_flow(self, request: httpx.Request) -> Any:
        parts = request.url.path.strip("/").split("/")
        streamed = not hasattr(request, "_content")  # a streamed body is not read here
        body = _json_of(request.content) if request.method == "POST" and not streamed else None
        if parts[0] == "webhooks" and isinstance(body, dict):
            session = str(body.get("session", ""))
            if session in self.secrets and "x-webchat-secret" not in request.headers:
                request.headers["X-Webchat-Secret"] = self.secrets[session]
        elif parts[0] == "webchat" and len(parts) > 1 and "x-webchat-secret" not in request.headers:
            request.headers["X-Webchat-Secret"] = self.secrets.get(parts[1], "unknown")
        elif parts[0] in ("agents", "conversations") and "authorization" not in request.headers:
            agent = (
                parts[1]
                if parts[0] == "agents" and len(parts) > 1 and parts[1] != "login"
                else None
            )
            if parts[0] == "conversations" and isinstance(body, dict):
                agent = body.get("agent_id")
            token = self.tokens.get(agent) if isinstance(agent, str) else None
            request.headers["Authorization"] = f"Bearer {token or self.desk_key}"
        response = yield request
        answer = _json_of(response.content)
        if isinstance(answer, dict):
            if parts == ["agents", "login"] and "token" in answer:
                self.tokens[str(answer["agent_id"])] = str(answer["token"])
            if answer.get("session_secret") and isinstance(body, dict):
                self.secrets[str(body.get("session"))] = str(answer["session_secret"])


def _json_of(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None


# -- platform payloads -------------------------------------------------------------------


def wa_payload(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def wa_message(
    wa_id: str = "79161234567",
    msg_id: str = "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    text: str = "Здравствуйте, не работает интернет",
    kind: str = "text",
    name: str = "Анна Смирнова",
    phone_number_id: str = "106540352242922",
) -> dict[str, Any]:
    message: dict[str, Any] = {"from": wa_id, "id": msg_id, "timestamp": "1700000000", "type": kind}
    if kind == "text":
        message["text"] = {"body": text}
    elif kind == "image":
        message["image"] = {
            "caption": text,
            "mime_type": "image/jpeg",
            "sha256": "abc",
            "id": "1479537139650973",
        }
    elif kind == "sticker":
        message["sticker"] = {
            "mime_type": "image/webp",
            "sha256": "def",
            "id": "2345432345",
            "animated": False,
        }
    elif kind == "reaction":
        message["reaction"] = {"message_id": "wamid.x", "emoji": "👍"}
    return wa_payload(
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [message],
        }
    )


def wa_status(msg_id: str = "wamid.out", status: str = "delivered") -> dict[str, Any]:
    return wa_payload(
        {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550783881",
                "phone_number_id": "106540352242922",
            },
            "statuses": [
                {
                    "id": msg_id,
                    "status": status,
                    "timestamp": "1700000001",
                    "recipient_id": "79161234567",
                    "conversation": {"id": "c1", "origin": {"type": "service"}},
                    "pricing": {"billable": True, "category": "service"},
                }
            ],
        }
    )


def tg_update(
    update_id: int = 10000,
    chat_id: int = 1111111,
    text: str | None = "Привет",
    kind: str = "text",
    edited: bool = False,
) -> dict[str, Any]:
    user = {
        "id": chat_id,
        "is_bot": False,
        "first_name": "Иван",
        "last_name": "Петров",
        "username": "ivan",
        "language_code": "ru",
    }
    message: dict[str, Any] = {
        "message_id": 1365,
        "date": 1441645532,
        "from": user,
        "chat": {
            "id": chat_id,
            "type": "private",
            "first_name": "Иван",
            "last_name": "Петров",
            "username": "ivan",
        },
    }
    if kind == "text":
        message["text"] = text
    elif kind == "photo":
        message["photo"] = [
            {
                "file_id": "AgAD-small",
                "file_unique_id": "s",
                "width": 90,
                "height": 67,
                "file_size": 1234,
            },
            {
                "file_id": "AgAD-large",
                "file_unique_id": "l",
                "width": 800,
                "height": 600,
                "file_size": 56789,
            },
        ]
        if text:
            message["caption"] = text
    elif kind == "sticker":
        message["sticker"] = {
            "file_id": "CAACAgIAAxk",
            "file_unique_id": "u",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "😀",
        }
    return {"update_id": update_id, ("edited_message" if edited else "message"): message}


def vb_message(
    token: int = 4912661846655238145,
    sender: str = "01234567890A=",
    text: str = "a message to the service",
    kind: str = "text",
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": kind, "tracking_data": "tracking data"}
    if kind == "text":
        message["text"] = text
    elif kind == "picture":
        message.update(
            text=text,
            media="http://www.images.com/img.jpg",
            thumbnail="http://www.images.com/thumb.jpg",
        )
    elif kind == "sticker":
        message["sticker_id"] = 46105
    return {
        "event": "message",
        "timestamp": 1457764197627,
        "chat_hostname": "SN-376_",
        "message_token": token,
        "sender": {
            "id": sender,
            "name": "John McClane",
            "avatar": "http://avatar.example.com",
            "country": "UK",
            "language": "en",
            "api_version": 1,
        },
        "message": message,
        "silent": False,
    }


def vb_event(event: str, token: int = 4912661846655238145) -> dict[str, Any]:
    if event == "conversation_started":
        return {
            "event": event,
            "timestamp": 1457764197627,
            "message_token": token,
            "type": "open",
            "context": "context information",
            "user": {"id": "01234567890A=", "name": "John McClane", "api_version": 1},
            "subscribed": False,
        }
    return {
        "event": event,
        "timestamp": 1457764197627,
        "chat_hostname": "SN-376_",
        "message_token": token,
        "user_id": "01234567890A=",
    }


# -- in-process gateway ----------------------------------------------------------------------


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


@dataclass
class FakeClock:
    """Routing clock under the test's control."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


@dataclass
class Platform:
    """Records outbound calls; ``responses`` are served first (then 200s)."""

    calls: list[httpx.Request] = field(default_factory=list)
    responses: list[httpx.Response | Exception] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.calls.append(request)
        if self.responses:
            answer = self.responses.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(200, json={"ok": True, "status": 0})

    def bodies(self) -> list[Any]:
        return [json.loads(call.content) for call in self.calls]


class Client:
    """Speaks every protocol to an in-process gateway."""

    def __init__(self, http: httpx.AsyncClient, config: GatewayConfig, app: Any) -> None:
        self.http = http
        self.config = config
        self.app = app
        self.gateway = app.state.gateway
        self.service = self.gateway.service
        auth = http.auth
        if not isinstance(auth, CallerAuth):
            auth = http.auth = CallerAuth(config.desk_key)
        self.tokens = auth.tokens
        """Each logged-in agent's session token."""
        self.secrets = auth.secrets
        """Each webchat session's secret, from the answer to its first message."""

    @property
    def desk(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.desk_key}"}

    def as_agent(self, agent: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.get(agent, 'none')}"}

    async def whatsapp(self, payload: Any, signature: str | None = "auto") -> httpx.Response:
        body = dumps(payload)
        headers = {"content-type": "application/json"}
        if signature == "auto":
            signature = whatsapp_signature(self.config.whatsapp_app_secret, body)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.http.post("/webhooks/whatsapp", content=body, headers=headers)

    async def telegram(self, payload: Any, token: str | None = "auto") -> httpx.Response:
        headers = {"content-type": "application/json"}
        if token == "auto":
            token = self.config.telegram_secret_token
        if token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        return await self.http.post("/webhooks/telegram", content=dumps(payload), headers=headers)

    async def viber(self, payload: Any, signature: str | None = "auto") -> httpx.Response:
        body = dumps(payload)
        headers = {"content-type": "application/json"}
        if signature == "auto":
            signature = viber_signature(self.config.viber_auth_token, body)
        if signature is not None:
            headers["X-Viber-Content-Signature"] = signature
        return await self.http.post("/webhooks/viber", content=body, headers=headers)

    async def webchat(self, session: str, text: str | None = None, **extra: Any) -> httpx.Response:
        payload: dict[str, Any] = {"session": session, **extra}
        if text is not None:
            payload["text"] = text
        headers = {"X-Webchat-Secret": self.secrets[session]} if session in self.secrets else {}
        response = await self.http.post("/webhooks/webchat", json=payload, headers=headers)
        if response.status_code == 200 and response.json().get("session_secret"):
            self.secrets[session] = response.json()["session_secret"]
        return response

    async def webchat_poll(
        self, session: str, after: int = 0, timeout: float = 0.0
    ) -> httpx.Response:
        return await self.http.get(
            f"/webchat/{session}/messages",
            params={"after": after, "timeout": timeout},
            headers={"X-Webchat-Secret": self.secrets.get(session, "none")},
        )

    async def login(self, agent: str, skills: list[str], max_chats: int = 1) -> dict[str, Any]:
        response = await self.http.post(
            "/agents/login",
            json={"agent_id": agent, "skills": skills, "max_chats": max_chats},
            headers=self.desk,
        )
        assert response.status_code == 200, response.text
        self.tokens[agent] = response.json()["token"]
        return dict(response.json())

    async def events(self, agent: str, timeout: float = 0.0, **params: Any) -> list[Any]:
        response = await self.http.get(
            f"/agents/{agent}/events",
            params={"timeout": timeout, **params},
            headers=self.as_agent(agent),
        )
        assert response.status_code == 200, response.text
        return list(response.json())

    async def assigned(self, agent: str) -> list[str]:
        """Conversation ids of the agent's pending ``assigned`` events."""
        return [e["conversation_id"] for e in await self.events(agent) if e["type"] == "assigned"]

    async def reply(self, cid: str, agent: str, text: str = "Добрый день!") -> httpx.Response:
        return await self.http.post(
            f"/conversations/{cid}/reply",
            json={"agent_id": agent, "text": text},
            headers=self.as_agent(agent),
        )

    async def close(self, cid: str, agent: str) -> httpx.Response:
        return await self.http.post(
            f"/conversations/{cid}/close", json={"agent_id": agent}, headers=self.as_agent(agent)
        )

    async def logout(self, agent: str) -> httpx.Response:
        return await self.http.post(f"/agents/{agent}/logout", headers=self.as_agent(agent))

    async def conversation(self, cid: str) -> dict[str, Any]:
        response = await self.http.get(f"/conversations/{cid}", headers=self.desk)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def health(self) -> dict[str, Any]:
        return dict((await self.http.get("/healthz")).json())


@asynccontextmanager
async def gateway(
    config: GatewayConfig = CONFIG,
    channels: Mapping[str, tuple[str, int]] | None = None,
    platform: Platform | None = None,
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[Client]:
    """A running gateway app (lifespan included) and a client for it."""
    platform = platform or Platform()
    kwargs: dict[str, Any] = {
        "channels": channels,
        "transport": httpx.MockTransport(platform.handler),
    }
    if clock is not None:
        kwargs["monotonic"] = clock
    app = create_app(config, **kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway", auth=CallerAuth(config.desk_key)
        ) as http:
            yield Client(http, config, app)
