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

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse

from sim.protocols import PROTOCOLS
from sim.protocols import WEBCHAT_SECRET_HEADER as WEBCHAT_SECRET

from .auth import require, same
from .config import GatewayConfig
from .deps import Gateway, GatewayDep
from .errors import ApiError, error_responses
from .inbound import PARSERS, Inbound, PayloadError, SignatureError, authenticate
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


def admit_webchat(gateway: Gateway, inbound: Inbound, given: str | None) -> str | None:
    """The secret of the webchat session this body speaks for, once it is admitted: a session
    the gateway has never seen is opened by its first message (and learns its secret from the
    answer); any other request needs the secret (401 without it, 403 with a wrong one), and is
    refused before anything changes."""
    sessions = {m.customer_id for m in inbound.messages} | set(inbound.closes)
    if not sessions:
        return None
    require(len(sessions) == 1, 400, "invalid_payload", "one webchat session per request")
    (session,) = sessions
    secret = gateway.sessions.webchat_secret(session)
    if given is not None:
        require(same(given, secret), 403, "bad_session_secret", "wrong webchat session secret")
    else:
        # Only a message may open a session; a close needs the secret of an opened one.
        require(
            bool(inbound.messages)
            and gateway.store.claim_key(f"webchat-session:{session}") is None,
            401,
            "session_secret_required",
            f"this webchat session exists: send its secret in {WEBCHAT_SECRET}",
        )
    gateway.store.claim_key(f"webchat-session:{session}")
    return secret


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
        secret = None
        if protocol == "webchat":
            secret = admit_webchat(gateway, inbound, request.headers.get(WEBCHAT_SECRET))
        ack = gateway.service.receive(channel, inbound)
        return ack if secret is None else ack.model_copy(update={"session_secret": secret})
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
    responses=error_responses(401, 403, 422),
    tags=["inbound"],
)
async def webchat_messages(
    session: str,
    gateway: GatewayDep,
    after: Annotated[int, Query(ge=0, description="Last index already seen.")] = 0,
    timeout: Annotated[float, Query(ge=0, description="Seconds to wait for news.")] = 0.0,
    secret: Annotated[
        str | None, Query(description="The session's secret, if not in X-Webchat-Secret.")
    ] = None,
    header_secret: Annotated[str | None, Header(alias=WEBCHAT_SECRET)] = None,
) -> list[WebchatMessage]:
    """Agent messages to a webchat session with ``index > after``; waits up to ``timeout``.
    Needs the session's secret (from the answer to its first message)."""
    given = header_secret if header_secret is not None else secret
    require(given is not None, 401, "session_secret_required", f"send {WEBCHAT_SECRET}")
    require(
        same(given, gateway.sessions.webchat_secret(session)),
        403,
        "bad_session_secret",
        "wrong webchat session secret",
    )
    messages = await gateway.service.poll_webchat(session, after, timeout)
    return [webchat_view(message) for message in messages]
