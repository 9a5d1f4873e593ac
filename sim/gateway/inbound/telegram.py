"""Telegram Bot API webhooks: one ``Update`` per request.

An update with a new ``message`` in it is a customer message::

    {"update_id": 10000,
     "message": {"message_id": 1365, "date": 1441645532,
                 "from": {"id": 1111111, "is_bot": false, "first_name": "Ivan"},
                 "chat": {"id": 1111111, "type": "private", "first_name": "Ivan"},
                 "text": "Hello"}}

``photo`` (an array of sizes, with an optional ``caption``) is an image, ``sticker`` a
sticker, other content (voice, document, location, ...) a message of kind ``other``. Service
messages, ``edited_message`` and every other update type (callback queries, chat member
changes, channel posts, ...) are acknowledged and ignored. ``update_id`` is the idempotency key.
Replies go to ``chat.id``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .common import Inbound, InboundMessage, parse_model

OTHER_CONTENT = (
    "animation",
    "audio",
    "document",
    "video",
    "video_note",
    "voice",
    "contact",
    "dice",
    "game",
    "poll",
    "venue",
    "location",
    "story",
)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class User(_Lenient):
    id: int
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None


class Chat(_Lenient):
    id: int
    type: str = "private"
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None


class PhotoSize(_Lenient):
    file_id: str


class Sticker(_Lenient):
    file_id: str
    emoji: str | None = None


class Message(_Lenient):
    message_id: int
    date: int
    chat: Chat
    from_: User | None = Field(default=None, alias="from")
    text: str | None = None
    caption: str | None = None
    photo: list[PhotoSize] | None = None
    sticker: Sticker | None = None


class Update(_Lenient):
    update_id: int
    message: Message | None = None


def _name(message: Message) -> str | None:
    person = message.from_ or message.chat
    parts = [person.first_name or "", person.last_name or ""]
    name = " ".join(part for part in parts if part)
    return name or message.chat.title


def parse(body: bytes) -> Inbound:
    update = parse_model(Update, body)
    result = Inbound()
    message = update.message
    if message is None:
        result.ignored += 1
        return result
    extra = message.model_extra or {}
    media: str | None = None
    if message.text is not None:
        kind = native = "text"
        text = message.text
    elif message.photo:
        kind, native = "image", "photo"
        text = message.caption or ""
        media = message.photo[-1].file_id
    elif message.sticker is not None:
        kind, native = "sticker", "sticker"
        text = message.sticker.emoji or ""
        media = message.sticker.file_id
    else:
        native = next((name for name in OTHER_CONTENT if name in extra), "")
        if not native:
            result.ignored += 1  # a service message (member joined, pinned, ...)
            return result
        kind, text = "other", message.caption or ""
    result.messages.append(
        InboundMessage(
            customer_id=str(message.chat.id),
            customer_name=_name(message),
            kind=kind,
            native_type=native,
            text=text,
            media=media,
            key=str(update.update_id),
            address={"chat_id": message.chat.id},
        )
    )
    return result
