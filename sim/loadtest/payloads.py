"""Inbound webhooks as the platforms send them, signed, built from a trace's customer and text.

Each builder returns the raw body (bytes: the signature covers exactly these bytes) and the
headers. Shapes follow the platforms' documented examples and what the SDKs gateways are built
on read (pywa 4.x, python-telegram-bot 22.x, viberbot 1.0; ``tests/loadtest/test_sdk_*.py``
parse every payload with them): WhatsApp Cloud API notifications, Telegram ``Update`` objects,
Viber ``message`` callbacks, and chatsim's webchat JSON.

* **WhatsApp** names the customer twice: by phone number (``wa_id``, ``from``) and by
  *business-scoped user id* (BSUID: ``contacts[].user_id``, ``messages[].from_user_id``), the id
  Meta introduced for users who hide their number. pywa (since 4.0) requires the BSUID and
  replies to it (``recipient``) rather than to the number, so the replay derives one from the
  customer's number (:func:`business_scoped_user_id`) that the provider emulator can turn back
  into the customer (:func:`wa_id_of_bsuid`), with no table shared between processes.
* **Telegram** update ids increase in send order across the bot
  (:class:`~sim.loadtest.runs.UpdateIds`); message ids increase within a chat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sim.loadtest.runs import UPDATE_IDS, message_serial
from sim.protocols import PlatformCredentials, viber_signature, whatsapp_signature
from sim.texts import Customer

PHONE_NUMBER_ID = "106540352242922"
"""The business phone number id of the replay's WhatsApp account (any digits will do)."""
DISPLAY_PHONE_NUMBER = "79001234567"
WABA_ID = "102290129340398"
"""The WhatsApp Business Account id (``entry[].id``) of the replay's notifications."""

_BSUID_MODULUS = 10**20
_BSUID_FACTOR = 13_491_208_655_302_741_917  # coprime with 10: invertible modulo 10**20
_BSUID_OFFSET = 8_655_302_741_918
_BSUID_COUNTRIES = {"7": "RU", "1": "US"}
"""The BSUID's country prefix by the number's first digit (any two capitals will do)."""


def business_scoped_user_id(wa_id: str) -> str:
    """The business-scoped user id (``RU.<digits>``) of the WhatsApp customer ``wa_id``.

    Stable, unique per number, and not the number itself (as Meta's are not): the digits are
    an invertible affine map of the number modulo 10**20, so :func:`wa_id_of_bsuid` recovers it.
    """
    if not (wa_id.isascii() and wa_id.isdigit()) or int(wa_id) >= _BSUID_MODULUS:
        raise ValueError(f"a WhatsApp customer id is a phone number in digits, not {wa_id!r}")
    mixed = (int(wa_id) * _BSUID_FACTOR + _BSUID_OFFSET) % _BSUID_MODULUS
    return f"{_BSUID_COUNTRIES.get(wa_id[0], 'ZZ')}.{mixed}"


def wa_id_of_bsuid(bsuid: str) -> str | None:
    """The phone number whose :func:`business_scoped_user_id` is ``bsuid``; None if none is."""
    _, _, digits = bsuid.partition(".")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 20:
        return None
    inverse = pow(_BSUID_FACTOR, -1, _BSUID_MODULUS)
    wa_id = str((int(digits) - _BSUID_OFFSET) * inverse % _BSUID_MODULUS)
    return wa_id if business_scoped_user_id(wa_id) == bsuid else None


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
    """A Cloud API notification of one text message, signed with the app secret."""
    bsuid = business_scoped_user_id(customer.id)
    body = _json(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": WABA_ID,
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
                                    {
                                        "profile": {"name": customer.name},
                                        "wa_id": customer.id,
                                        "user_id": bsuid,
                                    }
                                ],
                                "messages": [
                                    {
                                        "from": customer.id,
                                        "from_user_id": bsuid,
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
    """A Telegram ``Update`` with one private-chat text message, and the webhook's secret."""
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
    """A Viber ``message`` callback with a text, signed with the bot's auth token."""
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
    """A webchat customer's message (chatsim's own JSON, unsigned)."""
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
    """A webchat customer leaving the chat."""
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
    worker: int = 0,
) -> Webhook:
    """The webhook of message ``turn`` of a conversation, sent at ``now`` by Locust worker
    ``worker`` (0 in a single process), in its protocol's format.

    Message ids are derived from the conversation's position, the turn and the run
    (:func:`~sim.loadtest.runs.message_serial`), so a later run's are new ones. Telegram's
    ``update_id`` is drawn from the send time and the worker instead
    (:data:`~sim.loadtest.runs.UPDATE_IDS`): each call gives a new one. A retry of the same
    message sends the webhook built once again, so it is the same message with the same ids
    (the gateway deduplicates on them).
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
            update_id=UPDATE_IDS.next(now, worker),
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
