"""What every inbound parser produces, and the errors it raises.

A parser turns one webhook body (already signature-checked) into an :class:`Inbound`: customer
messages in the platform-neutral :class:`InboundMessage`, edits and deletions of earlier
messages (:class:`MessageChange`), delivery statuses, customers who left, and a count of what
was acknowledged but ignored (subscription events, reactions, service messages). A parser never
changes state: the whole body is parsed before anything is applied, so a body that fails half
way leaves nothing behind.

**One rule on every protocol.** A customer message is something the customer said: text,
media, or an *interactive reply* (a WhatsApp button or list reply, a Telegram inline-keyboard
callback, a Viber keyboard press), whose text is what the customer saw on the button (its
title). An *edit* or a *deletion* (WhatsApp ``edit`` and ``revoke``, Telegram
``edited_message``) is not a new message: it is a :class:`MessageChange` of the message it
names, recorded on the customer's open conversation as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from ..store import StatusRecord

M = TypeVar("M", bound=BaseModel)


class PayloadError(Exception):
    """The body is not JSON (``error="malformed_json"``) or not the platform's shape."""

    def __init__(self, detail: str, error: str = "invalid_payload") -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


class SignatureError(Exception):
    """Missing (401) or wrong (403) signature or secret token."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message, whatever the platform.

    ``kind`` is ``text``, ``image``, ``sticker`` or ``other``; ``native_type`` is the
    platform's word for it (``photo`` on Telegram, ``picture`` on Viber). ``key`` is the
    platform's id of the message, used for idempotency (see :attr:`idempotency_key`).
    ``address`` is what an outbound reply needs (e.g. WhatsApp's ``phone_number_id``).
    """

    customer_id: str
    customer_name: str | None
    kind: str
    native_type: str
    text: str
    media: str | None
    key: str | None
    address: dict[str, Any]

    @property
    def idempotency_key(self) -> str | None:
        """What makes a repeat of this message a duplicate: its sender and its id together.

        A message id is only trusted within its sender: a platform's retry repeats both, while
        another customer (a webchat session can choose any id it likes) reusing the id sends a
        message of its own. The pair is JSON-encoded, so no choice of id and customer id can
        spell another sender's key. ``None`` when the message has no id (nothing to repeat).
        """
        if self.key is None:
            return None
        return json.dumps([self.customer_id, self.key], ensure_ascii=False)


@dataclass(frozen=True)
class MessageChange:
    """A customer edited (``action="edited"``, ``text`` the new text) or deleted
    (``action="deleted"``, ``text`` empty) their message ``original`` (the platform's id of it,
    as :attr:`InboundMessage.key` had it). ``key`` is the platform's id of the change itself,
    for idempotency; ``native_type`` the platform's word (``edit``, ``revoke``,
    ``edited_message``)."""

    customer_id: str
    action: Literal["edited", "deleted"]
    original: str
    text: str
    native_type: str
    key: str | None

    @property
    def idempotency_key(self) -> str | None:
        """Like :attr:`InboundMessage.idempotency_key`, in a namespace of its own."""
        if self.key is None:
            return None
        return json.dumps([self.customer_id, "change", self.key], ensure_ascii=False)


@dataclass
class Inbound:
    """Everything one webhook body carries. ``channel`` is set by webchat's ``channel`` field."""

    messages: list[InboundMessage] = field(default_factory=list)
    changes: list[MessageChange] = field(default_factory=list)
    statuses: list[StatusRecord] = field(default_factory=list)
    closes: list[str] = field(default_factory=list)
    ignored: int = 0
    channel: str | None = None


def describe_errors(error: ValidationError) -> str:
    """pydantic's errors as ``path: problem; ...`` (at most five)."""
    parts = []
    for item in error.errors()[:5]:
        loc = ".".join(str(part) for part in item["loc"])
        parts.append(f"{loc}: {item['msg']}" if loc else item["msg"])
    return "; ".join(parts)


def parse_model(model: type[M], body: bytes) -> M:
    """Validate a JSON body against ``model``, with :class:`PayloadError` on failure."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise PayloadError("request body is not valid JSON", "malformed_json") from None
        raise PayloadError(describe_errors(error)) from None
