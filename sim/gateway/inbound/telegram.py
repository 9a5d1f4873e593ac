"""Telegram Bot API webhooks: one ``Update`` per request.

An update with a new ``message`` in it is a customer message::

    {"update_id": 10000,
     "message": {"message_id": 1365, "date": 1441645532,
                 "from": {"id": 1111111, "is_bot": false, "first_name": "Ivan"},
                 "chat": {"id": 1111111, "type": "private", "first_name": "Ivan"},
                 "text": "Hello"}}

``photo`` (an array of sizes, with an optional ``caption``) is an image, ``sticker`` a
sticker, other content (voice, document, location, ...) a message of kind ``other``.
``edited_message`` is an edit of the message with that ``message_id``
(:class:`~.common.MessageChange`), not a new message. A ``callback_query`` (the customer tapped
an inline-keyboard button) is a text message whose text is the button's title, found by its
``callback_data`` in the keyboard of the message it came with (the data itself if the keyboard
is not there). Service messages and every other update type (chat member changes, channel
posts, ...) are acknowledged and ignored. ``message_id`` is the idempotency key (with the
chat: Telegram numbers messages per chat; a redelivered update repeats it, and an edit names
it); a callback query's key is its ``id``. Replies go to ``chat.id``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .common import Inbound, InboundMessage, MessageChange, parse_model

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


class CallbackQuery(_Lenient):
    id: str
    from_: User = Field(alias="from")
    message: Message | None = None
    data: str | None = None


class Update(_Lenient):
    update_id: int
    message: Message | None = None
    edited_message: Message | None = None
    callback_query: CallbackQuery | None = None


def _name(message: Message) -> str | None:
    person = message.from_ or message.chat
    parts = [person.first_name or "", person.last_name or ""]
    name = " ".join(part for part in parts if part)
    return name or message.chat.title


def _button_title(query: CallbackQuery) -> str:
    """The title of the inline button whose ``callback_data`` the query carries."""
    data = query.data or ""
    markup = (query.message.model_extra or {}).get("reply_markup") if query.message else None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, dict) and button.get("callback_data") == data:
                title = button.get("text")
                if isinstance(title, str):
                    return title
    return data


def _callback(query: CallbackQuery) -> InboundMessage:
    chat_id = query.message.chat.id if query.message is not None else query.from_.id
    name = " ".join(part for part in (query.from_.first_name, query.from_.last_name) if part)
    return InboundMessage(
        customer_id=str(chat_id),
        customer_name=name or None,
        kind="text",
        native_type="callback_query",
        text=_button_title(query),
        media=None,
        key=f"callback:{query.id}",
        address={"chat_id": chat_id},
    )


def parse(body: bytes) -> Inbound:
    update = parse_model(Update, body)
    result = Inbound()
    if update.callback_query is not None:
        result.messages.append(_callback(update.callback_query))
        return result
    if update.edited_message is not None:
        edited = update.edited_message
        result.changes.append(
            MessageChange(
                customer_id=str(edited.chat.id),
                action="edited",
                original=str(edited.message_id),
                text=edited.text if edited.text is not None else edited.caption or "",
                native_type="edited_message",
                key=f"update:{update.update_id}",
            )
        )
        return result
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
            key=str(message.message_id),
            address={"chat_id": message.chat.id},
        )
    )
    return result
