"""The agent API: log in and out, long-poll events, reply to and close conversations.

A typical agent loop (:mod:`.auth` says who may call what)::

    POST /agents/login {"agent_id": "a1", "skills": ["whatsapp", "webchat"], "max_chats": 3}
         Authorization: Bearer <desk key>                        -> {..., "token": T}
    GET  /agents/a1/events?timeout=25&after=<last seq seen>      -> [assigned, message, left...]
    POST /conversations/{cid}/reply {"text": "Hello!"}
    POST /conversations/{cid}/close
    POST /agents/a1/logout                                        -> draining, then gone

with ``Authorization: Bearer T`` on every call after the login.

``after`` acknowledges events: those up to it are forgotten, and the answer holds the ones after
it, so a poll whose answer was lost can be repeated with the same ``after``. Without ``after``,
each poll acknowledges what the previous one returned.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from .auth import require
from .deps import CallerDep, GatewayDep
from .errors import ApiError, error_responses
from .schemas import (
    AgentEvent,
    AgentStatus,
    CloseRequest,
    CloseResult,
    ConversationView,
    LoginRequest,
    LoginResult,
    MessageView,
    ReplyRequest,
    ReplyResult,
)
from .views import conversation_view, message_view

router = APIRouter()
_errors: dict[int | str, dict[str, Any]] = error_responses(400, 401, 403, 404, 409, 422)


def _may_act_as(caller: CallerDep, agent_id: str) -> None:
    require(
        caller.may_act_as(agent_id),
        403,
        "not_this_agent",
        f"the token is agent {caller.agent}'s, not agent {agent_id}'s",
    )


@router.post("/agents/login", response_model=LoginResult, responses=_errors, tags=["agents"])
async def login(request: LoginRequest, gateway: GatewayDep, caller: CallerDep) -> LoginResult:
    """Start taking chats on the skills' channels, at most ``max_chats`` at once (with the desk
    key); the answer carries the agent's session token."""
    require(caller.desk, 403, "desk_key_required", "agents are logged in with the desk key")
    status = gateway.service.login(request.agent_id, request.skills, request.max_chats)
    return LoginResult(**status.model_dump(), token=gateway.sessions.issue(request.agent_id))


@router.post(
    "/agents/{agent_id}/logout", response_model=AgentStatus, responses=_errors, tags=["agents"]
)
async def logout(agent_id: str, gateway: GatewayDep, caller: CallerDep) -> AgentStatus:
    """Drain: no new chats; the agent is gone once its active chats are closed."""
    _may_act_as(caller, agent_id)
    return gateway.service.logout(agent_id)


@router.get("/agents", response_model=list[AgentStatus], responses=_errors, tags=["agents"])
async def agents(gateway: GatewayDep, caller: CallerDep) -> list[AgentStatus]:
    """Every agent that logged in since start, gone ones included (for the desk)."""
    require(caller.desk, 403, "desk_key_required", "the list of agents is for the desk")
    return [gateway.service.status(agent_id) for agent_id in gateway.service.agents]


@router.get("/agents/{agent_id}", response_model=AgentStatus, responses=_errors, tags=["agents"])
async def agent(agent_id: str, gateway: GatewayDep, caller: CallerDep) -> AgentStatus:
    """The agent's status (for itself or the desk)."""
    _may_act_as(caller, agent_id)
    return gateway.service.status(agent_id)


@router.get(
    "/agents/{agent_id}/events", response_model=list[AgentEvent], responses=_errors, tags=["agents"]
)
async def events(
    agent_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    timeout: Annotated[float, Query(ge=0, description="Seconds to wait for an event.")] = 0.0,
    after: Annotated[int | None, Query(ge=0, description="Last event seq processed.")] = None,
) -> list[AgentEvent]:
    """The agent's events after ``after``, in ``seq`` order; waits up to ``timeout`` for one.
    Only the agent itself reads them (reading acknowledges)."""
    require(
        caller.agent == agent_id,
        403,
        "not_this_agent",
        f"only agent {agent_id} reads its events, with its own token",
    )
    return list(await gateway.service.poll_events(agent_id, after, timeout))


@router.post(
    "/conversations/{conversation_id}/reply",
    response_model=ReplyResult,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_errors, **error_responses(503)},
    tags=["conversations"],
)
async def reply(
    conversation_id: str, request: ReplyRequest, gateway: GatewayDep, caller: CallerDep
) -> ReplyResult:
    """Send a reply to the customer; it goes out in the background, in order.

    Its delivery state (``queued``, ``sent``, ``failed`` with a reason) is on the message; a
    full outbox answers 503 ``outbox_full`` with ``Retry-After`` and stores nothing.
    """
    agent = caller.acting_agent(request.agent_id)
    return gateway.service.reply(conversation_id, agent, request.text, request.id)


@router.post(
    "/conversations/{conversation_id}/close",
    response_model=CloseResult,
    responses=_errors,
    tags=["conversations"],
)
async def close(
    conversation_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    request: CloseRequest | None = None,
) -> CloseResult:
    """End the conversation; the agent's slot takes the next waiting chat."""
    agent = caller.acting_agent(request.agent_id if request is not None else None)
    return gateway.service.close(conversation_id, agent)


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationView,
    responses=_errors,
    tags=["conversations"],
)
async def conversation(
    conversation_id: str, gateway: GatewayDep, caller: CallerDep
) -> ConversationView:
    """A conversation with its messages, for the desk or the agent it is assigned to."""
    found = gateway.store.conversation(conversation_id)
    if found is None:
        raise ApiError(404, "unknown_conversation", f"no conversation {conversation_id}")
    require(
        caller.desk or (caller.agent is not None and found.agent_id == caller.agent),
        403,
        "not_your_conversation",
        f"conversation {conversation_id} is not assigned to agent {caller.agent}",
    )
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
