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
caption. Interactive replies are text messages whose text is the title the customer tapped:
``interactive.button_reply.title``, ``interactive.list_reply.title``, or a template's quick
reply ``button.text``. ``edit`` (``edit.original_message_id`` and the new ``edit.message``)
and ``revoke`` (``revoke.original_message_id``) change an earlier message
(:class:`~.common.MessageChange`), they are not new ones. ``statuses[]`` (sent, delivered,
read, failed) are delivery reports, recorded but not messages. Reactions and system or
unsupported messages are acknowledged and ignored; other types (audio, location, ...) are
messages of kind ``other``. Contacts may carry the business-scoped user id (``user_id``);
conversations and replies stay keyed by the phone number (``from``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..store import StatusRecord
from .common import (
    Inbound,
    InboundMessage,
    MessageChange,
    PayloadError,
    describe_errors,
    parse_model,
)

IGNORED_TYPES = frozenset({"reaction", "system", "unsupported", "ephemeral", "request_welcome"})
KINDS = {
    "text": "text",
    "image": "image",
    "sticker": "sticker",
    "interactive": "text",
    "button": "text",
}
INTERACTIVE_REPLIES = ("button_reply", "list_reply")


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


def _content(message_id: str, type: str, part: Any) -> tuple[str, str | None]:
    """Text (body, caption or tapped title) and media id of a message's ``type`` part."""
    if type == "text":
        body = part.get("body") if isinstance(part, dict) else None
        if not isinstance(body, str):
            raise PayloadError(f"message {message_id}: text.body missing")
        return body, None
    if type == "interactive":
        reply = next(
            (part[name] for name in INTERACTIVE_REPLIES if isinstance(part, dict) and name in part),
            None,
        )
        title = reply.get("title") if isinstance(reply, dict) else None
        if not isinstance(title, str):
            raise PayloadError(f"message {message_id}: interactive reply without a title")
        return title, None
    if type == "button":
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise PayloadError(f"message {message_id}: button.text missing")
        return text, None
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
        part = (message.model_extra or {}).get(message.type)
        if message.type in ("edit", "revoke"):
            result.changes.append(_change(message, part))
            continue
        assert value.metadata is not None
        text, media = _content(message.id, message.type, part)
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


def _change(message: Message, part: Any) -> MessageChange:
    """An ``edit`` or ``revoke`` message as the change it makes to the message it names."""
    original = part.get("original_message_id") if isinstance(part, dict) else None
    if not isinstance(original, str) or not original:
        raise PayloadError(f"message {message.id}: {message.type}.original_message_id missing")
    text = ""
    if message.type == "edit":
        edited = part.get("message")
        if not isinstance(edited, dict) or not isinstance(edited.get("type"), str):
            raise PayloadError(f"message {message.id}: edit.message missing")
        text, _ = _content(message.id, edited["type"], edited.get(edited["type"]))
    return MessageChange(
        customer_id=message.from_,
        action="edited" if message.type == "edit" else "deleted",
        original=original,
        text=text,
        native_type=message.type,
        key=message.id,
    )


def _seconds(stamp: str | None) -> float:
    """A status's ``timestamp`` (Unix seconds as a string); 0 when it is not one.

    ``str.isdigit`` alone would let ``"²"`` or Arabic-Indic digits through, which ``float``
    refuses, and a run of hundreds of digits becomes an infinite float.
    """
    if stamp is None or not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 15:
        return 0.0
    return float(stamp)
