"""The provider emulator: the platforms' send APIs, which the gateway calls to answer customers.

It answers like the real services (WhatsApp Cloud API ``messages`` with a ``wamid``, Telegram
``{"ok": true, "result": Message}``, Viber ``{"status": 0, "message_token": ...}``), checks
their credentials, timestamps every outbound message on arrival and hands it to ``deliver``,
which passes it to the customer waiting for it (in distributed mode: to the worker that owns
the customer). It is a plain WSGI app served by gevent inside the Locust process.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sim.loadtest.payloads import customer_key
from sim.protocols import PlatformCredentials


@dataclass(frozen=True, slots=True)
class Outbound:
    """One agent message as the platform received it: who it is for, and when it arrived."""

    key: str
    text: str
    received: float


Deliver = Callable[[Outbound], None]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_WHATSAPP = re.compile(r"^/v[\d.]+/(?P<phone>[^/]+)/messages$")
_TELEGRAM = re.compile(r"^/bot(?P<token>[^/]+)/sendMessage$")
_VIBER = "/pa/send_message"


class ProviderEmulator:
    """WSGI application playing WhatsApp, Telegram and Viber send endpoints."""

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

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        received = self.clock()
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST":
            return self._answer(start_response, 405, {"error": "method not allowed"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except (ValueError, KeyError):
            return self._answer(start_response, 400, {"error": "invalid JSON"})
        if not isinstance(body, dict):
            return self._answer(start_response, 400, {"error": "expected a JSON object"})
        if match := _WHATSAPP.match(path):
            return self._whatsapp(environ, body, received, start_response, match.group("phone"))
        if match := _TELEGRAM.match(path):
            return self._telegram(body, received, start_response, match.group("token"))
        if path == _VIBER:
            return self._viber(environ, body, received, start_response)
        return self._answer(start_response, 404, {"error": f"no such endpoint {path}"})

    def _whatsapp(
        self,
        environ: dict[str, Any],
        body: dict[str, Any],
        received: float,
        start_response: StartResponse,
        phone: str,
    ) -> Iterable[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {self.credentials.whatsapp_token}":
            return self._answer(
                start_response,
                401,
                {
                    "error": {
                        "message": "Invalid OAuth access token.",
                        "type": "OAuthException",
                        "code": 190,
                    }
                },
            )
        to, text = body.get("to"), (body.get("text") or {}).get("body")
        if (
            body.get("messaging_product") != "whatsapp"
            or not isinstance(to, str)
            or not isinstance(text, str)
        ):
            return self._answer(
                start_response,
                400,
                {
                    "error": {
                        "message": "(#100) Invalid parameter",
                        "type": "OAuthException",
                        "code": 100,
                    }
                },
            )
        self._deliver(Outbound(customer_key("whatsapp", to), text, received))
        wamid = f"wamid.emulated.{next(self._ids)}"
        return self._answer(
            start_response,
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid}],
            },
        )

    def _telegram(
        self, body: dict[str, Any], received: float, start_response: StartResponse, token: str
    ) -> Iterable[bytes]:
        if token != self.credentials.telegram_bot_token:
            return self._answer(
                start_response, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        chat_id, text = body.get("chat_id"), body.get("text")
        if chat_id is None or not isinstance(text, str):
            return self._answer(
                start_response,
                400,
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: message text is empty",
                },
            )
        self._deliver(Outbound(customer_key("telegram", str(chat_id)), text, received))
        message = {
            "message_id": next(self._ids),
            "date": int(received),
            "chat": {"id": chat_id, "type": "private"},
            "text": text,
        }
        return self._answer(start_response, 200, {"ok": True, "result": message})

    def _viber(
        self,
        environ: dict[str, Any],
        body: dict[str, Any],
        received: float,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        if environ.get("HTTP_X_VIBER_AUTH_TOKEN") != self.credentials.viber_auth_token:
            return self._answer(
                start_response, 200, {"status": 2, "status_message": "invalidAuthToken"}
            )
        receiver, text = body.get("receiver"), body.get("text")
        if not isinstance(receiver, str) or not isinstance(text, str):
            return self._answer(start_response, 200, {"status": 3, "status_message": "badData"})
        self._deliver(Outbound(customer_key("viber", receiver), text, received))
        return self._answer(
            start_response,
            200,
            {
                "status": 0,
                "status_message": "ok",
                "message_token": 4_000_000_000 + next(self._ids),
                "chat_hostname": "SN-EMULATOR",
            },
        )

    def _deliver(self, message: Outbound) -> None:
        self.received += 1
        self.deliver(message)

    def _answer(
        self, start_response: StartResponse, status: int, body: dict[str, Any]
    ) -> Iterable[bytes]:
        if status >= 400:
            self.rejected += 1
        data = json.dumps(body).encode()
        reason = {
            200: "OK",
            400: "Bad Request",
            401: "Unauthorized",
            404: "Not Found",
            405: "Method Not Allowed",
        }[status]
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]
