"""Viber REST bot callbacks: one JSON event per request, discriminated by ``event``.

``message`` is a customer message::

    {"event": "message", "timestamp": 1457764197627, "message_token": 4912661846655238145,
     "sender": {"id": "01234567890A=", "name": "John McClane", "language": "en"},
     "message": {"type": "text", "text": "a message to the service"}}

``picture`` (``media`` URL, optional ``text`` caption) is an image, ``sticker`` (``sticker_id``)
a sticker, other types (video, file, location, contact, url) messages of kind ``other``.
``delivered``, ``seen`` and ``failed`` are delivery reports, recorded; ``webhook`` (the set-up
check), ``conversation_started``, ``subscribed`` and ``unsubscribed`` are acknowledged.
``message_token`` is the idempotency key; replies go to ``sender.id``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..store import StatusRecord
from .common import Inbound, InboundMessage, PayloadError, parse_model

STATUS_EVENTS = frozenset({"delivered", "seen", "failed"})
LATEST_TIMESTAMP = 2**53
"""Largest ``timestamp`` (Unix milliseconds) taken: a float holds it exactly; JSON allows any
integer, which would not fit a float at all."""
KINDS = {"text": "text", "picture": "image", "sticker": "sticker"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class Sender(_Lenient):
    id: str
    name: str | None = None


class Content(_Lenient):
    type: str
    text: str | None = None
    media: str | None = None
    sticker_id: int | None = None


class Callback(_Lenient):
    event: str
    timestamp: int | None = Field(default=None, ge=0, le=LATEST_TIMESTAMP)
    message_token: int | None = None
    sender: Sender | None = None
    message: Content | None = None
    user_id: str | None = None


def parse(body: bytes) -> Inbound:
    callback = parse_model(Callback, body)
    result = Inbound()
    if callback.event in STATUS_EVENTS:
        if callback.message_token is None:
            raise PayloadError(f"{callback.event}: message_token is required")
        ts = (callback.timestamp or 0) / 1000.0
        result.statuses.append(
            StatusRecord("viber", str(callback.message_token), callback.event, callback.user_id, ts)
        )
        return result
    if callback.event != "message":
        result.ignored += 1
        return result
    missing = [
        name for name in ("message_token", "sender", "message") if getattr(callback, name) is None
    ]
    if missing:
        raise PayloadError(f"message event without {', '.join(missing)}")
    assert callback.sender is not None and callback.message is not None
    content = callback.message
    if content.type == "text" and content.text is None:
        raise PayloadError("message.text is required for a text message")
    media = content.media
    if content.type == "sticker" and content.sticker_id is not None:
        media = str(content.sticker_id)
    result.messages.append(
        InboundMessage(
            customer_id=callback.sender.id,
            customer_name=callback.sender.name,
            kind=KINDS.get(content.type, "other"),
            native_type=content.type,
            text=content.text or "",
            media=media,
            key=str(callback.message_token),
            address={"receiver": callback.sender.id},
        )
    )
    return result
