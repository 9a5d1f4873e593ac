"""Inbound HTTP: platform webhooks and the webchat customer's long-poll.

``POST /webhooks/{name}``: ``name`` is a protocol (``whatsapp``, ``telegram``, ``viber``,
``webchat``: the first channel speaking it) or a channel name (e.g. ``app``); a webchat body
may also pick its channel with ``"channel"``. Order of checks: known channel (404), body size
(413, middleware), signature (401 missing / 403 wrong), JSON (400 ``malformed_json``), shape
(400 ``invalid_payload``); only then is anything applied, idempotently by platform message id.

``GET /webhooks/whatsapp`` is the Cloud API subscription handshake: ``hub.mode=subscribe`` and
the right ``hub.verify_token`` echo ``hub.challenge`` as text.
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from sim.protocols import PROTOCOLS

from .config import GatewayConfig
from .deps import GatewayDep
from .errors import ApiError, error_responses
from .inbound import PARSERS, PayloadError, SignatureError, authenticate
from .schemas import WebchatMessage, WebhookAck
from .views import webchat_view

router = APIRouter()
_errors: dict[int | str, dict[str, Any]] = error_responses(400, 401, 403, 404, 422)
# The handshake answers text; its refusals are JSON like every other (so not response_class).
_handshake: dict[int | str, dict[str, Any]] = {
    200: {"description": "hub.challenge, echoed", "content": {"text/plain": {"schema": {}}}},
    **error_responses(400, 403, 404, 405, 422),
}


def resolve_channel(config: GatewayConfig, name: str) -> tuple[str, str]:
    """(channel, protocol) that ``/webhooks/{name}`` feeds; 404 if none."""
    if name in config.channels:
        return name, config.channels[name][0]
    if name in PROTOCOLS:
        served = config.channels_of(name)
        if served:
            return served[0], name
    raise ApiError(404, "unknown_channel", f"no channel or protocol {name!r} on this gateway")


def webchat_channel(config: GatewayConfig, requested: str) -> str:
    if config.channels.get(requested, ("", 0))[0] != "webchat":
        choices = ", ".join(config.channels_of("webchat")) or "none"
        raise ApiError(
            404,
            "unknown_channel",
            f"no webchat channel {requested!r} (webchat channels: {choices})",
        )
    return requested


@router.post("/webhooks/{name}", response_model=WebhookAck, responses=_errors, tags=["inbound"])
async def receive_webhook(name: str, request: Request, gateway: GatewayDep) -> WebhookAck:
    """A platform's webhook in its native format and signature (see the module docstring)."""
    started = time.perf_counter()
    protocol = "unknown"
    metrics = gateway.metrics
    try:
        channel, protocol = resolve_channel(gateway.config, name)
        body = await request.body()
        try:
            authenticate(protocol, gateway.config, request.headers, body)
        except SignatureError as error:
            metrics.rejected.labels(protocol, "signature").inc()
            raise ApiError(error.status, "bad_signature", error.detail) from None
        try:
            inbound = PARSERS[protocol](body)
        except PayloadError as error:
            metrics.rejected.labels(protocol, error.error).inc()
            raise ApiError(400, error.error, error.detail) from None
        if inbound.channel is not None:
            channel = webchat_channel(gateway.config, inbound.channel)
        return gateway.service.receive(channel, inbound)
    except ApiError as error:
        if error.error == "unknown_channel":
            metrics.rejected.labels(protocol, "unknown_channel").inc()
        raise
    finally:
        metrics.webhook_latency.labels(protocol).observe(time.perf_counter() - started)


@router.get("/webhooks/{name}", response_class=Response, responses=_handshake, tags=["inbound"])
async def verify_subscription(
    name: str,
    gateway: GatewayDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """WhatsApp's subscription handshake: echo ``hub.challenge`` if the token is right."""
    _, protocol = resolve_channel(gateway.config, name)
    if protocol != "whatsapp":
        raise ApiError(405, "method_not_allowed", f"{protocol} webhooks have no GET handshake")
    if mode != "subscribe" or challenge is None or token is None:
        raise ApiError(
            400, "bad_handshake", "expected hub.mode=subscribe, hub.verify_token and hub.challenge"
        )
    if not hmac.compare_digest(token.encode(), gateway.config.whatsapp_verify_token.encode()):
        raise ApiError(403, "bad_verify_token", "hub.verify_token does not match")
    return PlainTextResponse(challenge)


@router.get(
    "/webchat/{session}/messages",
    response_model=list[WebchatMessage],
    responses=error_responses(422),
    tags=["inbound"],
)
async def webchat_messages(
    session: str,
    gateway: GatewayDep,
    after: Annotated[int, Query(ge=0, description="Last index already seen.")] = 0,
    timeout: Annotated[float, Query(ge=0, description="Seconds to wait for news.")] = 0.0,
) -> list[WebchatMessage]:
    """Agent messages to a webchat session with ``index > after``; waits up to ``timeout``."""
    messages = await gateway.service.poll_webchat(session, after, timeout)
    return [webchat_view(message) for message in messages]
