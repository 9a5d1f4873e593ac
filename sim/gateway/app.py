"""The FastAPI application of the reference gateway.

``create_app(config)`` wires the parts: the store ``config.store`` names (an SQLite file by
default, :func:`~sim.gateway.store.open_store`), the
:class:`~sim.gateway.conversations.ConversationService` around the shared router, the
:class:`~sim.gateway.outbound.Outbox` with its ``httpx.AsyncClient`` (made and closed by the
lifespan), metrics in a registry of the app's own, the request body limits (size and time, see
:mod:`sim.gateway.limits`), the ops guard (:mod:`sim.gateway.auth`) and the error handlers.
The store is opened here and the service restores its state from it; the lifespan resumes
unconfirmed outbound replies and closes the store at the end. Run one worker process. The limit
on header time is the server's: ``chatsim gateway`` runs uvicorn with
:class:`~sim.gateway.limits.HeaderTimeoutProtocol` (``uvicorn --http
sim.gateway.limits:HeaderTimeoutProtocol`` does the same).

``create_app_from_env`` is a zero-argument factory for ``uvicorn --factory``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Response
from prometheus_client import disable_created_metrics

from sim.protocols import PROTOCOLS

from . import agents_api, webhooks
from .auth import OpsGuard, Sessions
from .config import GatewayConfig
from .conversations import ConversationService
from .deps import Gateway, GatewayDep
from .errors import error_responses, install_error_handlers
from .limits import BodyLimit
from .logs import register_secrets
from .metrics import CONTENT_TYPE, GatewayMetrics
from .outbound import Outbox
from .store import Store, open_store

log = logging.getLogger("sim.gateway")

DESCRIPTION = """\
The chatsim reference chat gateway: platform webhooks in (WhatsApp Cloud API, Telegram Bot API,
Viber, webchat), routing to agents as in chatsim's model, agents' replies out to the platforms'
send APIs. Agents work through the JSON API below; errors are `{"error", "detail"}` with a 4xx.
"""


def create_app(
    config: GatewayConfig | None = None,
    *,
    channels: Mapping[str, tuple[str, int]] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    store: Store | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> FastAPI:
    """A gateway app. ``config`` defaults to :meth:`GatewayConfig.from_env`; ``channels``
    (name -> (protocol, priority)) replaces its channels; ``transport`` is the outbound
    client's (tests pass an ``httpx.MockTransport``); ``monotonic``/``wall`` are the clocks.
    """
    config = GatewayConfig.from_env() if config is None else config
    if channels is not None:
        config = config.with_channels(channels)
    register_secrets(config.secrets())
    disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide: no *_created
    metrics = GatewayMetrics()
    if store is None:
        store = open_store(
            config.store, synchronous=config.store_sync, retain_ended=config.retain_ended
        )
    outbox = Outbox(config, metrics, store, transport)
    service = ConversationService(config, store, metrics, outbox, monotonic, wall)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        outbox.clients  # noqa: B018  (made here, on the server's event loop)
        service.start()
        log.info("gateway started", extra={"fields": config.summary()})
        try:
            yield
        finally:
            service.shutdown()
            await outbox.aclose()
            store.close()
            log.info("gateway stopped")

    app = FastAPI(
        title="chatsim reference gateway",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        responses=error_responses(408, 413),  # any request, from BodyLimit
    )
    app.state.gateway = Gateway(
        config, store, metrics, outbox, service, Sessions(config.gateway_secret)
    )
    install_error_handlers(app)
    app.include_router(webhooks.router)
    app.include_router(agents_api.router)

    @app.get("/healthz", tags=["operations"])
    async def healthz(gateway: GatewayDep) -> dict[str, object]:
        """Liveness, with a few numbers."""
        service = gateway.service
        return {
            "status": "ok",
            "queued": service.router.waiting(),
            "agents": service.agent_counts(),
            "outbound_pending": gateway.outbox.pending(),
        }

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics_endpoint(gateway: GatewayDep) -> Response:
        """Prometheus text exposition format."""
        return Response(gateway.metrics.exposition(), media_type=CONTENT_TYPE)

    def rejected(path: str, reason: str) -> None:
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "webhooks":
            name = parts[1]
            known = name in config.channels or name in PROTOCOLS
            metrics.rejected.labels(name if known else "unknown", reason).inc()

    app.add_middleware(
        BodyLimit,
        max_bytes=config.max_body_bytes,
        drain_bytes=config.max_drain_bytes,
        body_timeout=config.body_timeout,
        on_reject=rejected,
    )
    app.add_middleware(OpsGuard, key=config.ops_key)
    return app


def create_app_from_env() -> FastAPI:
    """``uvicorn --factory sim.gateway.app:create_app_from_env``: configuration from env."""
    return create_app(GatewayConfig.from_env())
