"""Webchat, the gateway's own protocol for site, in-app and partner chat.

``{"session": "s1", "text": "Hello"}`` is a customer message; ``{"session": "s1", "event":
"close"}`` says the customer left. Optional fields: ``channel`` (one of the webchat-protocol
channels, e.g. ``app`` or ``retail``), ``id`` (idempotency key of a message), ``name`` (the
customer's display name), ``type`` (``text``, ``image`` or ``sticker``) and ``media`` (a URL).
The session is the customer id; agents' replies wait for the session's long-poll
``GET /webchat/{session}/messages``.
"""

from __future__ import annotations

from ..schemas import WebchatInbound
from .common import Inbound, InboundMessage, PayloadError, parse_model


def parse(body: bytes) -> Inbound:
    payload = parse_model(WebchatInbound, body)
    result = Inbound(channel=payload.channel)
    if payload.event == "close":
        if payload.text is not None:
            raise PayloadError("a webchat payload carries either text or event, not both")
        result.closes.append(payload.session)
        return result
    if payload.type == "text" and not payload.text:
        raise PayloadError("text: required (or event: close)")
    if payload.type != "text" and not (payload.media or payload.text):
        raise PayloadError(f"{payload.type}: media or text required")
    result.messages.append(
        InboundMessage(
            customer_id=payload.session,
            customer_name=payload.name,
            kind=payload.type,
            native_type=payload.type,
            text=payload.text or "",
            media=payload.media,
            key=payload.id,
            address={"session": payload.session},
        )
    )
    return result
