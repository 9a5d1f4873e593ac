"""JSON shapes of the gateway's own API (agents, conversations, webchat), as pydantic models.

These models are the documentation: FastAPI puts them in the OpenAPI schema at ``/openapi.json``
(and ``/docs``). Agent events are a tagged union on ``type``:

* ``assigned``: a conversation is now the agent's; carries the customer and the message history
  so far (the customer's first message is always there);
* ``message``: the customer of one of the agent's conversations wrote again;
* ``left``: the customer left (webchat close); the slot is already free, replies are refused;
* ``delivery``: one of the agent's replies was given up on (``state`` ``failed``, ``reason``).

Every event has ``seq``, increasing across the whole gateway (so also per agent, and across a
logout and a new login with the same id), and ``ts``, the gateway's wall clock (Unix seconds)
when the event was created.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Text = Annotated[str, Field(min_length=1, max_length=65536)]
Ident = Annotated[str, Field(min_length=1, max_length=256)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldError(_Model):
    """One problem pydantic found in a request: where (``loc``), what, and its error type."""

    loc: list[str] = Field(examples=[["body", "max_chats"]])
    msg: str = Field(examples=["Input should be greater than or equal to 1"])
    type: str = Field(examples=["greater_than_equal"])


class ErrorBody(_Model):
    """Body of every 4xx answer: a stable code and a sentence for people.

    Requests the agent API validates against its models (400 ``malformed_json``, 422
    ``invalid_request``) also list each problem under ``errors``.
    """

    error: str = Field(examples=["not_your_conversation"])
    detail: str = Field(examples=["conversation cv-000001 is assigned to agent a2, not a1"])
    errors: list[FieldError] | None = Field(
        default=None, description="Validation failures only: every problem found."
    )


class LoginRequest(_Model):
    agent_id: Ident
    skills: list[Ident] = Field(min_length=1, description="Channels the agent can serve.")
    max_chats: int = Field(ge=1, le=1000, description="Concurrent conversations at most.")


class AgentStatus(_Model):
    """An agent as the gateway sees it. ``draining``: logged out, finishing its chats."""

    agent_id: str
    state: Literal["active", "draining", "gone"]
    skills: list[str]
    max_chats: int
    active: int
    conversations: list[str]


class LoginResult(AgentStatus):
    """The agent's status and the session token of this login: send it as
    ``Authorization: Bearer <token>`` on the agent's every call."""

    token: str


class ReplyRequest(_Model):
    agent_id: Ident | None = Field(
        default=None, description="The acting agent; optional, must be the token's if given."
    )
    text: Text
    id: Ident | None = Field(
        default=None, description="Optional idempotency key: a retried reply with it is sent once."
    )


class ReplyResult(_Model):
    conversation_id: str
    index: int = Field(description="Index of the reply in the conversation's messages.")
    status: Literal["queued", "duplicate"]


class CloseRequest(_Model):
    agent_id: Ident | None = Field(
        default=None, description="The acting agent; optional, must be the token's if given."
    )


class CloseResult(_Model):
    conversation_id: str
    state: Literal["closed"]


class MessageView(_Model):
    """One message of a conversation, customer's or agent's."""

    index: int
    sender: Literal["customer", "agent"]
    kind: str = Field(description="text, image, sticker or other")
    native_type: str | None = Field(
        default=None, description="The platform's own type name, e.g. photo (Telegram)."
    )
    text: str
    media: str | None = None
    ts: float
    delivery: Literal["queued", "sent", "failed"] | None = Field(
        default=None, description="An agent reply's delivery state to the platform."
    )
    delivery_error: str | None = Field(
        default=None, description="Why a failed reply was given up on, e.g. http_500, timeout."
    )
    attempts: int | None = Field(default=None, description="Platform calls made for a reply.")


class Customer(_Model):
    id: str
    name: str | None = None


class AssignedEvent(_Model):
    type: Literal["assigned"] = "assigned"
    seq: int
    ts: float
    conversation_id: str
    channel: str
    customer: Customer
    queued_at: float
    messages: list[MessageView]


class MessageEvent(_Model):
    type: Literal["message"] = "message"
    seq: int
    ts: float
    conversation_id: str
    channel: str
    message: MessageView


class LeftEvent(_Model):
    type: Literal["left"] = "left"
    seq: int
    ts: float
    conversation_id: str
    channel: str
    reason: str = "customer left"


class DeliveryEvent(_Model):
    """A reply of the agent's was given up on; ``index`` is its index in the conversation."""

    type: Literal["delivery"] = "delivery"
    seq: int
    ts: float
    conversation_id: str
    channel: str
    index: int
    state: Literal["failed"] = "failed"
    reason: str


AgentEvent = Annotated[
    AssignedEvent | MessageEvent | LeftEvent | DeliveryEvent, Field(discriminator="type")
]


class ConversationView(_Model):
    id: str
    channel: str
    protocol: str
    customer: Customer
    state: Literal["queued", "assigned", "closed", "left"]
    agent_id: str | None
    queued_at: float
    assigned_at: float | None
    first_reply_at: float | None
    ended_at: float | None
    messages: list[MessageView]


class WebchatInbound(_Model):
    """A webchat customer's message ``{session, text}`` or close ``{session, event: "close"}``.

    ``channel`` picks one of several webchat-protocol channels (default: ``webchat``, else the
    first one); ``id`` makes a retry idempotent.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    session: Ident
    text: str | None = Field(default=None, max_length=65536)
    event: Literal["close"] | None = None
    channel: Ident | None = None
    id: Ident | None = None
    name: str | None = Field(default=None, max_length=256)
    type: Literal["text", "image", "sticker"] = "text"
    media: str | None = Field(default=None, max_length=4096)


class WebchatMessage(_Model):
    """An agent message to a webchat session; ``index`` counts from 1 per session."""

    index: int
    conversation_id: str
    text: str
    ts: float


class WebhookAck(_Model):
    """Answer to an accepted webhook: what became of its content."""

    ok: Literal[True] = True
    messages: int = 0
    duplicates: int = 0
    statuses: int = 0
    ignored: int = 0
    closed: int = 0
    conversation_ids: list[str] = Field(default_factory=list)
    session_secret: str | None = Field(
        default=None,
        description="Webchat: the session's secret; later messages, the close event and the "
        "long-poll need it (X-Webchat-Secret).",
    )
