"""The agent API: log in and out, long-poll events, reply to and close conversations.

A typical agent loop::

    POST /agents/login {"agent_id": "a1", "skills": ["whatsapp", "webchat"], "max_chats": 3}
    GET  /agents/a1/events?timeout=25&after=<last seq seen>      -> [assigned, message, left...]
    POST /conversations/{cid}/reply {"agent_id": "a1", "text": "Hello!"}
    POST /conversations/{cid}/close {"agent_id": "a1"}
    POST /agents/a1/logout                                        -> draining, then gone

``after`` acknowledges events: those up to it are forgotten, and the answer holds the ones after
it, so a poll whose answer was lost can be repeated with the same ``after``. Without ``after``,
each poll acknowledges what the previous one returned.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from .deps import GatewayDep
from .errors import ApiError
from .schemas import (
    AgentEvent,
    AgentStatus,
    CloseRequest,
    CloseResult,
    ConversationView,
    ErrorBody,
    LoginRequest,
    MessageView,
    ReplyRequest,
    ReplyResult,
)
from .views import conversation_view, message_view

router = APIRouter()
_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (403, 404, 409, 422)
}


@router.post("/agents/login", response_model=AgentStatus, responses=_errors, tags=["agents"])
async def login(request: LoginRequest, gateway: GatewayDep) -> AgentStatus:
    """Start taking chats on the skills' channels, at most ``max_chats`` at once."""
    return gateway.service.login(request.agent_id, request.skills, request.max_chats)


@router.post(
    "/agents/{agent_id}/logout", response_model=AgentStatus, responses=_errors, tags=["agents"]
)
async def logout(agent_id: str, gateway: GatewayDep) -> AgentStatus:
    """Drain: no new chats; the agent is gone once its active chats are closed."""
    return gateway.service.logout(agent_id)


@router.get("/agents", response_model=list[AgentStatus], tags=["agents"])
async def agents(gateway: GatewayDep) -> list[AgentStatus]:
    """Every agent that logged in since start, gone ones included."""
    return [gateway.service.status(agent_id) for agent_id in gateway.service.agents]


@router.get("/agents/{agent_id}", response_model=AgentStatus, responses=_errors, tags=["agents"])
async def agent(agent_id: str, gateway: GatewayDep) -> AgentStatus:
    return gateway.service.status(agent_id)


@router.get(
    "/agents/{agent_id}/events", response_model=list[AgentEvent], responses=_errors, tags=["agents"]
)
async def events(
    agent_id: str,
    gateway: GatewayDep,
    timeout: Annotated[float, Query(ge=0, description="Seconds to wait for an event.")] = 0.0,
    after: Annotated[int | None, Query(ge=0, description="Last event seq processed.")] = None,
) -> list[AgentEvent]:
    """The agent's events after ``after``, in ``seq`` order; waits up to ``timeout`` for one."""
    return list(await gateway.service.poll_events(agent_id, after, timeout))


@router.post(
    "/conversations/{conversation_id}/reply",
    response_model=ReplyResult,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_errors, 503: {"model": ErrorBody, "description": "outbox_full: retry later"}},
    tags=["conversations"],
)
async def reply(conversation_id: str, request: ReplyRequest, gateway: GatewayDep) -> ReplyResult:
    """Send a reply to the customer; it goes out in the background, in order.

    Its delivery state (``queued``, ``sent``, ``failed`` with a reason) is on the message; a
    full outbox answers 503 ``outbox_full`` with ``Retry-After`` and stores nothing.
    """
    return gateway.service.reply(conversation_id, request.agent_id, request.text, request.id)


@router.post(
    "/conversations/{conversation_id}/close",
    response_model=CloseResult,
    responses=_errors,
    tags=["conversations"],
)
async def close(conversation_id: str, request: CloseRequest, gateway: GatewayDep) -> CloseResult:
    """End the conversation; the agent's slot takes the next waiting chat."""
    return gateway.service.close(conversation_id, request.agent_id)


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationView,
    responses=_errors,
    tags=["conversations"],
)
async def conversation(conversation_id: str, gateway: GatewayDep) -> ConversationView:
    """A conversation with its messages (for inspection and tests)."""
    found = gateway.store.conversation(conversation_id)
    if found is None:
        raise ApiError(404, "unknown_conversation", f"no conversation {conversation_id}")
    return conversation_view(found, gateway.store.messages(conversation_id))


@router.get(
    "/conversations/{conversation_id}/messages/{index}",
    response_model=MessageView,
    responses=_errors,
    tags=["conversations"],
)
async def message(conversation_id: str, index: int, gateway: GatewayDep) -> MessageView:
    """One message of a conversation (index from 1): for a reply, its delivery state."""
    messages = gateway.store.messages(conversation_id)
    if gateway.store.conversation(conversation_id) is None:
        raise ApiError(404, "unknown_conversation", f"no conversation {conversation_id}")
    if not 1 <= index <= len(messages):
        raise ApiError(
            404,
            "unknown_message",
            f"conversation {conversation_id} has messages 1 to {len(messages)}, not {index}",
        )
    return message_view(messages[index - 1])
