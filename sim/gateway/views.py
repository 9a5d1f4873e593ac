"""Stored records rendered as API models (the shapes in :mod:`sim.gateway.schemas`)."""

from __future__ import annotations

from .schemas import ConversationView, Customer, MessageView, WebchatMessage
from .store import Conversation, Message, WebchatOut


def message_view(message: Message) -> MessageView:
    return MessageView(
        index=message.index,
        sender=message.sender,
        kind=message.kind,
        native_type=message.native_type,
        text=message.text,
        media=message.media,
        ts=message.ts,
        delivery=message.delivery,
        delivery_error=message.delivery_error,
        attempts=message.attempts if message.sender == "agent" else None,
    )


def conversation_view(conversation: Conversation, messages: list[Message]) -> ConversationView:
    return ConversationView(
        id=conversation.id,
        channel=conversation.channel,
        protocol=conversation.protocol,
        customer=Customer(id=conversation.customer_id, name=conversation.customer_name),
        state=conversation.state,
        agent_id=conversation.agent_id,
        queued_at=conversation.queued_at,
        assigned_at=conversation.assigned_at,
        first_reply_at=conversation.first_reply_at,
        ended_at=conversation.ended_at,
        messages=[message_view(message) for message in messages],
    )


def webchat_view(message: WebchatOut) -> WebchatMessage:
    return WebchatMessage(
        index=message.index,
        conversation_id=message.conversation_id,
        text=message.text,
        ts=message.ts,
    )
