"""Inbound webhooks: one parser and one authentication check per platform protocol.

:data:`PARSERS` maps a protocol to ``parse(body) -> Inbound``; :func:`authenticate` checks the
platform's signature or secret token on the raw body before anything is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..config import GatewayConfig
from . import signatures, telegram, viber, webchat, whatsapp
from .common import Inbound, InboundMessage, MessageChange, PayloadError, SignatureError

PARSERS: dict[str, Callable[[bytes], Inbound]] = {
    "whatsapp": whatsapp.parse,
    "telegram": telegram.parse,
    "viber": viber.parse,
    "webchat": webchat.parse,
}


def authenticate(
    protocol: str, config: GatewayConfig, headers: Mapping[str, str], body: bytes
) -> None:
    """Raise :class:`SignatureError` unless the request carries the platform's proof."""
    if protocol == "whatsapp":
        signatures.check_whatsapp(
            headers.get("x-hub-signature-256"), config.whatsapp_app_secret, body
        )
    elif protocol == "viber":
        signatures.check_viber(
            headers.get("x-viber-content-signature"), config.viber_auth_token, body
        )
    elif protocol == "telegram":
        signatures.check_telegram(
            headers.get("x-telegram-bot-api-secret-token"), config.telegram_secret_token
        )


__all__ = [
    "PARSERS",
    "Inbound",
    "InboundMessage",
    "MessageChange",
    "PayloadError",
    "SignatureError",
    "authenticate",
    "signatures",
]
