"""WhatsApp Cloud API webhooks: ``entry[].changes[].value.messages[]`` and ``statuses[]``.

A notification looks like (trimmed)::

    {"object": "whatsapp_business_account",
     "entry": [{"id": "WABA_ID", "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1234567"},
         "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551234"}],
         "messages": [{"from": "16315551234", "id": "wamid.ABGG...", "timestamp": "1603059201",
                       "type": "text", "text": {"body": "Hello"}}]}}]}]}

Images and stickers carry a media id (``image.id``, ``sticker.id``) and images an optional
caption. ``statuses[]`` (sent, delivered, read, failed) are delivery reports, recorded but not
messages. Reactions and system or unsupported messages are acknowledged and ignored; other
types (audio, location, ...) are messages of kind ``other``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..store import StatusRecord
from .common import Inbound, InboundMessage, PayloadError, describe_errors, parse_model

IGNORED_TYPES = frozenset({"reaction", "system", "unsupported", "ephemeral", "request_welcome"})
KINDS = {"text": "text", "image": "image", "sticker": "sticker"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class Metadata(_Lenient):
    phone_number_id: str
    display_phone_number: str | None = None


class Profile(_Lenient):
    name: str | None = None


class Contact(_Lenient):
    wa_id: str
    profile: Profile | None = None


class Message(_Lenient):
    from_: str = Field(alias="from")
    id: str
    type: str
    timestamp: str | None = None


class Status(_Lenient):
    id: str
    status: str
    recipient_id: str | None = None
    timestamp: str | None = None


class Value(_Lenient):
    metadata: Metadata | None = None
    contacts: list[Contact] = []
    messages: list[Message] = []
    statuses: list[Status] = []


class Change(_Lenient):
    field: str
    value: dict[str, Any]


class Entry(_Lenient):
    id: str | None = None
    changes: list[Change] = []


class Notification(_Lenient):
    object: str
    entry: list[Entry]


def _content(message: Message) -> tuple[str, str | None]:
    """Text (body or caption) and media id of a message."""
    extra = message.model_extra or {}
    part = extra.get(message.type)
    if message.type == "text":
        body = part.get("body") if isinstance(part, dict) else None
        if not isinstance(body, str):
            raise PayloadError(f"message {message.id}: text.body missing")
        return body, None
    if isinstance(part, dict):
        caption = part.get("caption")
        media = part.get("id") or part.get("link")
        return (caption if isinstance(caption, str) else ""), (str(media) if media else None)
    return "", None


def parse(body: bytes) -> Inbound:
    notification = parse_model(Notification, body)
    result = Inbound()
    for e, entry in enumerate(notification.entry):
        for c, change in enumerate(entry.changes):
            if change.field != "messages":
                result.ignored += 1
                continue
            try:
                value = Value.model_validate(change.value)
            except ValidationError as error:
                raise PayloadError(
                    f"entry.{e}.changes.{c}.value: {describe_errors(error)}"
                ) from None
            _parse_value(value, result)
    return result


def _parse_value(value: Value, result: Inbound) -> None:
    names = {
        contact.wa_id: contact.profile.name if contact.profile else None
        for contact in value.contacts
    }
    if value.messages and value.metadata is None:
        raise PayloadError("value.metadata.phone_number_id is required with messages")
    for message in value.messages:
        if message.type in IGNORED_TYPES:
            result.ignored += 1
            continue
        assert value.metadata is not None
        text, media = _content(message)
        result.messages.append(
            InboundMessage(
                customer_id=message.from_,
                customer_name=names.get(message.from_),
                kind=KINDS.get(message.type, "other"),
                native_type=message.type,
                text=text,
                media=media,
                key=message.id,
                address={"wa_id": message.from_, "phone_number_id": value.metadata.phone_number_id},
            )
        )
    for status in value.statuses:
        result.statuses.append(
            StatusRecord(
                "whatsapp",
                status.id,
                status.status,
                status.recipient_id,
                _seconds(status.timestamp),
            )
        )


def _seconds(stamp: str | None) -> float:
    """A status's ``timestamp`` (Unix seconds as a string); 0 when it is not one.

    ``str.isdigit`` alone would let ``"²"`` or Arabic-Indic digits through, which ``float``
    refuses, and a run of hundreds of digits becomes an infinite float.
    """
    if stamp is None or not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 15:
        return 0.0
    return float(stamp)
