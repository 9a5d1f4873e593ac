"""The provider emulator: the platforms' APIs the gateway calls to answer customers.

It serves what the SDKs gateways are built on call (python-telegram-bot, pywa, viberbot: the
tests in ``tests/loadtest/test_sdk_*.py`` run their clients against it), as the real services
answer them:

* **WhatsApp Cloud API** ``POST /v{NN.N}/{phone_number_id}/messages`` (any Graph API version),
  ``Authorization: Bearer <token>``, addressed by phone number (``to``) or by business-scoped
  user id (``recipient``, which pywa prefers; mapped back to the customer by
  :func:`~sim.loadtest.payloads.wa_id_of_bsuid`); answers ``{"messaging_product", "contacts",
  "messages": [{"id": "wamid..."}]}``.
* **Telegram Bot API** ``/bot{token}/{method}``, GET or POST, parameters in the query string,
  JSON, form-encoded (python-telegram-bot's way) or multipart: ``getMe``, ``setWebhook``,
  ``deleteWebhook``, ``getWebhookInfo``, ``answerCallbackQuery`` and ``sendMessage`` (a whole
  ``Message`` back), all ``{"ok": true, "result": ...}``; an unknown method is 404 and a wrong
  token 401, as Telegram answers.
* **Viber REST API** ``POST /pa/send_message``, ``/pa/set_webhook``, ``/pa/get_account_info``,
  with the token in ``X-Viber-Auth-Token`` or as ``auth_token`` in the body (viberbot's way);
  answers ``{"status": 0, ...}`` (HTTP 200 even for errors, as Viber does).

Every message sent to a customer is timestamped on arrival and handed to ``deliver`` as an
:class:`Outbound` naming its customer (:func:`~sim.loadtest.payloads.customer_key`), which
passes it to the customer waiting for it (in distributed mode: to the worker that owns the
customer). It is a plain WSGI app served by gevent inside the Locust process.
"""

from __future__ import annotations

import email.parser
import email.policy
import http
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sim.loadtest.payloads import customer_key, wa_id_of_bsuid
from sim.protocols import PlatformCredentials


@dataclass(frozen=True, slots=True)
class Outbound:
    """One agent message as the platform received it: who it is for, and when it arrived."""

    key: str
    text: str
    received: float


Deliver = Callable[[Outbound], None]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Answer = tuple[int, dict[str, Any]]

_WHATSAPP = re.compile(r"^/v\d+(?:\.\d+)?/(?P<phone>[^/]+)/messages$")
_TELEGRAM = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_VIBER = re.compile(r"^/pa/(?P<method>[a-z_]+)$")
BOT_USER_ID = 7_000_000_001
"""The Telegram bot's own user id (``getMe``, ``from`` of what it sends)."""
BOT_USERNAME = "chatsim_bot"
VIBER_EVENT_TYPES = [
    "delivered",
    "seen",
    "failed",
    "subscribed",
    "unsubscribed",
    "conversation_started",
]


def _whatsapp_error(status: int, message: str, code: int) -> Answer:
    return status, {"error": {"message": message, "type": "OAuthException", "code": code}}


def _telegram_error(status: int, description: str) -> Answer:
    return status, {"ok": False, "error_code": status, "description": description}


def _viber_error(status: int, message: str) -> Answer:
    return 200, {"status": status, "status_message": message}


class ProviderEmulator:
    """WSGI application playing the WhatsApp, Telegram and Viber APIs (module docstring)."""

    def __init__(
        self,
        credentials: PlatformCredentials,
        deliver: Deliver,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.deliver = deliver
        self.clock = clock
        self.received = 0
        self.rejected = 0
        self._ids = itertools.count(1)
        self.telegram_webhook = ""
        """The URL the last ``setWebhook`` gave (``deleteWebhook`` clears it)."""
        self.viber_webhook = ""

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        received = self.clock()
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        if match := _TELEGRAM.match(path):
            if method not in ("GET", "POST"):
                status, body = _telegram_error(405, "Method Not Allowed")
            else:
                status, body = self._telegram(environ, raw, received, match)
        elif method != "POST":
            status, body = 405, {"error": "method not allowed"}
        elif match := _WHATSAPP.match(path):
            status, body = self._whatsapp(environ, raw, received)
        elif match := _VIBER.match(path):
            status, body = self._viber(environ, raw, received, match.group("method"))
        else:
            status, body = 404, {"error": f"no such endpoint {path}"}
        return self._answer(start_response, status, body)

    # -- WhatsApp -------------------------------------------------------------------------

    def _whatsapp(self, environ: dict[str, Any], raw: bytes, received: float) -> Answer:
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {self.credentials.whatsapp_token}":
            return _whatsapp_error(401, "Invalid OAuth access token.", 190)
        body = _json_object(raw)
        if body is None:
            return _whatsapp_error(400, "(#100) The request body is not a JSON object", 100)
        to, recipient = body.get("to"), body.get("recipient")
        text = (body.get("text") or {}).get("body") if isinstance(body.get("text"), dict) else None
        if body.get("messaging_product") != "whatsapp" or not isinstance(text, str):
            return _whatsapp_error(400, "(#100) Invalid parameter", 100)
        if isinstance(to, str) and to:
            wa_id: str | None = to.lstrip("+")
            contact = {"input": to, "wa_id": wa_id}
        elif isinstance(recipient, str) and recipient:
            wa_id = wa_id_of_bsuid(recipient)
            contact = {"input": recipient, "user_id": recipient}
        else:
            return _whatsapp_error(400, "(#100) The parameter to or recipient is required", 100)
        if wa_id is None:
            return _whatsapp_error(400, f"(#100) Invalid parameter: recipient {recipient}", 100)
        self._deliver(Outbound(customer_key("whatsapp", wa_id), text, received))
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{"id": f"wamid.emulated.{next(self._ids)}"}],
        }

    # -- Telegram -------------------------------------------------------------------------

    def _telegram(
        self, environ: dict[str, Any], raw: bytes, received: float, match: re.Match[str]
    ) -> Answer:
        if match.group("token") != self.credentials.telegram_bot_token:
            return _telegram_error(401, "Unauthorized")
        params = _telegram_parameters(environ, raw)
        if params is None:
            return _telegram_error(400, "Bad Request: can't parse request parameters")
        method = match.group("method").lower()  # Telegram's method names ignore case
        if method == "getme":
            return 200, {"ok": True, "result": self.bot_user()}
        if method == "setwebhook":
            self.telegram_webhook = str(params.get("url", ""))
            return 200, {"ok": True, "result": True, "description": "Webhook was set"}
        if method == "deletewebhook":
            self.telegram_webhook = ""
            return 200, {"ok": True, "result": True, "description": "Webhook was deleted"}
        if method == "getwebhookinfo":
            info = {"url": self.telegram_webhook, "has_custom_certificate": False}
            return 200, {"ok": True, "result": info | {"pending_update_count": 0}}
        if method == "answercallbackquery":
            return 200, {"ok": True, "result": True}
        if method == "sendmessage":
            return self._telegram_send(params, received)
        return _telegram_error(404, "Not Found")

    def bot_user(self) -> dict[str, Any]:
        """The bot as ``getMe`` describes it (a Telegram ``User``)."""
        return {
            "id": BOT_USER_ID,
            "is_bot": True,
            "first_name": "chatsim",
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _telegram_send(self, params: dict[str, Any], received: float) -> Answer:
        chat_id, text = params.get("chat_id"), params.get("text")
        if chat_id is None or chat_id == "":
            return _telegram_error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text:
            return _telegram_error(400, "Bad Request: message text is empty")
        chat: int | str = chat_id if isinstance(chat_id, int) else str(chat_id)
        if isinstance(chat, str) and chat.lstrip("-").isdigit():
            chat = int(chat)
        self._deliver(Outbound(customer_key("telegram", str(chat)), text, received))
        message = {
            "message_id": next(self._ids),
            "from": self.bot_user(),
            "date": int(received),
            "chat": {"id": chat, "type": "private"},
            "text": text,
        }
        return 200, {"ok": True, "result": message}

    # -- Viber ----------------------------------------------------------------------------

    def _viber(self, environ: dict[str, Any], raw: bytes, received: float, method: str) -> Answer:
        body = _json_object(raw)
        if body is None:
            return 400, {"status": 3, "status_message": "badData: the body is not a JSON object"}
        token = environ.get("HTTP_X_VIBER_AUTH_TOKEN") or body.get("auth_token")
        if token != self.credentials.viber_auth_token:
            return _viber_error(2, "invalidAuthToken")
        if method == "send_message":
            receiver, text = body.get("receiver"), body.get("text")
            if not isinstance(receiver, str) or not isinstance(text, str):
                return _viber_error(3, "badData")
            self._deliver(Outbound(customer_key("viber", receiver), text, received))
            return 200, {
                "status": 0,
                "status_message": "ok",
                "message_token": 4_000_000_000 + next(self._ids),
                "chat_hostname": "SN-EMULATOR",
            }
        if method == "set_webhook":
            self.viber_webhook = str(body.get("url") or "")
            events = body.get("event_types") or VIBER_EVENT_TYPES
            return 200, {"status": 0, "status_message": "ok", "event_types": events}
        if method == "get_account_info":
            return 200, {
                "status": 0,
                "status_message": "ok",
                "id": "pa:5000000000000000001",
                "name": "chatsim",
                "uri": "chatsim",
                "webhook": self.viber_webhook,
                "event_types": VIBER_EVENT_TYPES,
                "subscribers_count": 0,
                "members": [],
            }
        return 404, {"status": 13, "status_message": f"no such method {method}"}

    def _deliver(self, message: Outbound) -> None:
        self.received += 1
        self.deliver(message)

    def _answer(
        self, start_response: StartResponse, status: int, body: dict[str, Any]
    ) -> Iterable[bytes]:
        if status >= 400:
            self.rejected += 1
        data = json.dumps(body).encode()
        start_response(
            f"{status} {http.HTTPStatus(status).phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]


def _json_object(raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object; None if it is not one. (viberbot sends no Content-Type.)"""
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _telegram_parameters(environ: dict[str, Any], raw: bytes) -> dict[str, Any] | None:
    """A Bot API call's parameters, wherever the client put them (None: unreadable).

    Telegram takes them from the query string and from a JSON, form-encoded or multipart body;
    python-telegram-bot sends forms whose values are JSON for objects and plain for strings.
    """
    params: dict[str, Any] = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    content_type = environ.get("CONTENT_TYPE", "")
    kind = content_type.split(";")[0].strip().lower()
    if not raw:
        return params
    if kind == "application/json":
        body = _json_object(raw)
        if body is None:
            return None
        return params | body
    if kind == "application/x-www-form-urlencoded":
        try:
            return params | dict(parse_qsl(raw.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            return None
    if kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                params[name] = payload.decode(errors="replace")
        return params
    return None
