"""The parts of one gateway, bundled for request handlers (``request.app.state.gateway``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from .auth import Caller, Sessions, identify
from .config import GatewayConfig
from .conversations import ConversationService
from .metrics import GatewayMetrics
from .outbound import Outbox
from .store import Store


@dataclass(frozen=True)
class Gateway:
    config: GatewayConfig
    store: Store
    metrics: GatewayMetrics
    outbox: Outbox
    service: ConversationService
    sessions: Sessions


async def get_gateway(request: Request) -> Gateway:
    """The gateway of the app serving ``request``.

    Async on purpose: FastAPI would run a plain function in a worker thread, per request.
    """
    gateway = request.app.state.gateway
    assert isinstance(gateway, Gateway)
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def get_caller(
    gateway: GatewayDep,
    authorization: Annotated[
        str | None,
        Header(description="Bearer <agent session token> or <desk key> (see POST /agents/login)"),
    ] = None,
) -> Caller:
    """Who calls the agent API (:mod:`.auth`): 401 without credentials, 403 for wrong ones."""
    return identify(authorization, gateway.config.desk_key, gateway.sessions)


CallerDep = Annotated[Caller, Depends(get_caller)]
