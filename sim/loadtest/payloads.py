"""Inbound webhooks as the platforms send them, signed, built from a trace's customer and text.

Each builder returns the raw body (bytes: the signature covers exactly these bytes) and the
headers. Shapes follow the platforms' documented examples: WhatsApp Cloud API notifications,
Telegram ``Update`` objects, Viber ``message`` callbacks, and chatsim's webchat JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sim.loadtest.runs import message_serial
from sim.protocols import PlatformCredentials, viber_signature, whatsapp_signature
from sim.texts import Customer

PHONE_NUMBER_ID = "106540352242922"
"""The business phone number id of the replay's WhatsApp account (any digits will do)."""
DISPLAY_PHONE_NUMBER = "79001234567"


@dataclass(frozen=True, slots=True)
class Webhook:
    """One HTTP request to the gateway: path, raw body and headers."""

    path: str
    body: bytes
    headers: dict[str, str]


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def whatsapp_message(
    credentials: PlatformCredentials, customer: Customer, text: str, message_id: str, timestamp: int
) -> Webhook:
    body = _json(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": DISPLAY_PHONE_NUMBER,
                                    "phone_number_id": PHONE_NUMBER_ID,
                                },
                                "contacts": [
                                    {"profile": {"name": customer.name}, "wa_id": customer.id}
                                ],
                                "messages": [
                                    {
                                        "from": customer.id,
                                        "id": message_id,
                                        "timestamp": str(timestamp),
                                        "type": "text",
                                        "text": {"body": text},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    )
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": whatsapp_signature(credentials.whatsapp_app_secret, body),
    }
    return Webhook("/webhooks/whatsapp", body, headers)


def telegram_message(
    credentials: PlatformCredentials,
    customer: Customer,
    text: str,
    update_id: int,
    message_id: int,
    timestamp: int,
) -> Webhook:
    first, _, last = customer.name.partition(" ")
    person = {
        "id": int(customer.id),
        "is_bot": False,
        "first_name": first,
        **({"last_name": last} if last else {}),
        "language_code": "ru",
    }
    body = _json(
        {
            "update_id": update_id,
            "message": {
                "message_id": message_id,
                "from": person,
                "chat": {
                    "id": int(customer.id),
                    "type": "private",
                    "first_name": first,
                    **({"last_name": last} if last else {}),
                },
                "date": timestamp,
                "text": text,
            },
        }
    )
    headers = {"Content-Type": "application/json"}
    if credentials.telegram_secret_token:
        headers["X-Telegram-Bot-Api-Secret-Token"] = credentials.telegram_secret_token
    return Webhook("/webhooks/telegram", body, headers)


def viber_message(
    credentials: PlatformCredentials, customer: Customer, text: str, token: int, timestamp_ms: int
) -> Webhook:
    body = _json(
        {
            "event": "message",
            "timestamp": timestamp_ms,
            "chat_hostname": "SN-CHAT-01_",
            "message_token": token,
            "sender": {
                "id": customer.id,
                "name": customer.name,
                "language": "ru",
                "country": "RU",
                "api_version": 10,
            },
            "message": {"type": "text", "text": text},
            "silent": False,
        }
    )
    headers = {
        "Content-Type": "application/json",
        "X-Viber-Content-Signature": viber_signature(credentials.viber_auth_token, body),
    }
    return Webhook("/webhooks/viber", body, headers)


def webchat_message(customer: Customer, text: str, channel: str, message_id: str) -> Webhook:
    body = _json(
        {
            "session": customer.id,
            "text": text,
            "channel": channel,
            "id": message_id,
            "name": customer.name,
        }
    )
    return Webhook("/webhooks/webchat", body, {"Content-Type": "application/json"})


def webchat_close(customer: Customer, channel: str) -> Webhook:
    body = _json({"session": customer.id, "event": "close", "channel": channel})
    return Webhook("/webhooks/webchat", body, {"Content-Type": "application/json"})


def customer_message(
    credentials: PlatformCredentials,
    protocol: str,
    channel: str,
    customer: Customer,
    text: str,
    conversation_index: int,
    turn: int,
    now: float,
    run: int = 1,
) -> Webhook:
    """The webhook of message ``turn`` of a conversation, in its protocol's format.

    Message ids are derived from the conversation's position, the turn and the run
    (:func:`~sim.loadtest.runs.message_serial`), so a retry of the same message is recognisably
    the same message (the gateway deduplicates on them) and a later run's are new ones.
    """
    serial = message_serial(conversation_index, turn, run)
    if protocol == "whatsapp":
        return whatsapp_message(
            credentials, customer, text, f"wamid.chatsim.{serial:012d}", int(now)
        )
    if protocol == "telegram":
        return telegram_message(
            credentials,
            customer,
            text,
            update_id=serial + 1,
            message_id=serial + 1,
            timestamp=int(now),
        )
    if protocol == "viber":
        return viber_message(
            credentials,
            customer,
            text,
            token=5_000_000_000_000_000_000 + serial,
            timestamp_ms=int(now * 1000),
        )
    if protocol == "webchat":
        return webchat_message(customer, text, channel, f"web-{serial}")
    raise ValueError(f"unknown protocol {protocol!r}")


def customer_key(protocol: str, customer_id: str) -> str:
    """How an outbound message names its customer, per protocol (the provider emulator's key)."""
    return f"{protocol}:{customer_id}"
