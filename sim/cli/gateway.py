"""``chatsim gateway``: run the reference chat gateway on uvicorn.

Every secret and base URL is an option that also reads its ``CHATSIM_*`` environment variable;
unset ones keep the gateway's loopback-friendly defaults (see :mod:`sim.gateway.config`).
State is kept in an SQLite file (``--store``, default ``chatsim-gateway.db`` in the working
directory) and comes back after a restart; the server runs a single worker process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sim.cli.app import app, console
from sim.errors import InputError
from sim.protocols import CREDENTIAL_ENV_VARS, DEFAULT_GATEWAY_PORT, DEFAULT_PROVIDER_BASE

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _secret(envvar: str, help: str) -> Any:
    return typer.Option(envvar=envvar, help=help, show_default=False, show_envvar=True)


def scenario_channels(path: Path) -> dict[str, tuple[str, int]]:
    """``{channel: (protocol, priority)}`` of a scenario file."""
    from sim.scenario import load_scenario  # lazily: the gateway does not need the model

    scenario = load_scenario(path)
    return {
        name: (channel.protocol, channel.priority) for name, channel in scenario.channels.items()
    }


@app.command("gateway")
def gateway(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port to listen on.", min=0, max=65535)
    ] = DEFAULT_GATEWAY_PORT,
    scenario: Annotated[
        Path | None,
        typer.Option(
            help="Scenario YAML: serve its channels (names, protocols, priorities) "
            "instead of one channel per protocol."
        ),
    ] = None,
    whatsapp_app_secret: Annotated[
        str | None,
        _secret(CREDENTIAL_ENV_VARS["whatsapp_app_secret"], "Signs inbound WhatsApp webhooks."),
    ] = None,
    whatsapp_verify_token: Annotated[
        str | None,
        _secret(CREDENTIAL_ENV_VARS["whatsapp_verify_token"], "WhatsApp hub.verify_token."),
    ] = None,
    whatsapp_token: Annotated[
        str | None,
        _secret(CREDENTIAL_ENV_VARS["whatsapp_token"], "Bearer token of WhatsApp sends."),
    ] = None,
    whatsapp_api_base: Annotated[
        str | None,
        _secret(
            "CHATSIM_WHATSAPP_API_BASE",
            f"WhatsApp Cloud API base URL (default {DEFAULT_PROVIDER_BASE}).",
        ),
    ] = None,
    telegram_bot_token: Annotated[
        str | None, _secret(CREDENTIAL_ENV_VARS["telegram_bot_token"], "Telegram bot token.")
    ] = None,
    telegram_secret_token: Annotated[
        str | None,
        _secret(
            CREDENTIAL_ENV_VARS["telegram_secret_token"],
            "Expected X-Telegram-Bot-Api-Secret-Token.",
        ),
    ] = None,
    telegram_api_base: Annotated[
        str | None,
        _secret(
            "CHATSIM_TELEGRAM_API_BASE",
            f"Telegram Bot API base URL (default {DEFAULT_PROVIDER_BASE}).",
        ),
    ] = None,
    viber_auth_token: Annotated[
        str | None, _secret(CREDENTIAL_ENV_VARS["viber_auth_token"], "Viber bot auth token.")
    ] = None,
    viber_api_base: Annotated[
        str | None,
        _secret(
            "CHATSIM_VIBER_API_BASE", f"Viber REST API base URL (default {DEFAULT_PROVIDER_BASE})."
        ),
    ] = None,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(
            envvar="CHATSIM_MAX_BODY_BYTES",
            show_envvar=True,
            min=1,
            help="Largest request body accepted (default 1 MiB).",
        ),
    ] = None,
    max_drain_bytes: Annotated[
        int | None,
        typer.Option(
            envvar="CHATSIM_MAX_DRAIN_BYTES",
            show_envvar=True,
            min=1,
            help="An oversized body up to this size is read before its 413 (default 64 MiB).",
        ),
    ] = None,
    header_timeout: Annotated[
        float | None,
        typer.Option(
            envvar="CHATSIM_HEADER_TIMEOUT",
            show_envvar=True,
            min=0.001,
            help="Seconds a client has for a request's line and headers (default 10).",
        ),
    ] = None,
    body_timeout: Annotated[
        float | None,
        typer.Option(
            envvar="CHATSIM_BODY_TIMEOUT",
            show_envvar=True,
            min=0.001,
            help="Seconds a client has for a request's body (default 30).",
        ),
    ] = None,
    whatsapp_api_version: Annotated[
        str | None,
        _secret(
            "CHATSIM_WHATSAPP_API_VERSION", "Graph API version of WhatsApp sends (default v21.0)."
        ),
    ] = None,
    viber_sender_name: Annotated[
        str | None,
        _secret("CHATSIM_VIBER_SENDER_NAME", "Sender name on Viber sends (default chatsim)."),
    ] = None,
    outbound_timeout: Annotated[
        float | None,
        typer.Option(
            envvar="CHATSIM_OUTBOUND_TIMEOUT",
            show_envvar=True,
            min=0.001,
            help="Seconds per outbound send attempt (default 5).",
        ),
    ] = None,
    outbound_attempts: Annotated[
        int | None,
        typer.Option(
            envvar="CHATSIM_OUTBOUND_ATTEMPTS",
            show_envvar=True,
            min=1,
            help="Attempts per outbound send, retrying 429, 5xx, timeouts and connection errors "
            "(default 4).",
        ),
    ] = None,
    outbound_backoff: Annotated[
        float | None,
        typer.Option(
            envvar="CHATSIM_OUTBOUND_BACKOFF",
            show_envvar=True,
            min=0.0,
            help="First retry delay in seconds, doubling per attempt, with full jitter; a "
            "platform's Retry-After wins (default 0.2).",
        ),
    ] = None,
    outbound_concurrency: Annotated[
        int | None,
        typer.Option(
            envvar="CHATSIM_OUTBOUND_CONCURRENCY",
            show_envvar=True,
            min=1,
            help="Outbound sends in flight at most: workers and pooled connections (default 64).",
        ),
    ] = None,
    outbound_queue_limit: Annotated[
        int | None,
        typer.Option(
            envvar="CHATSIM_OUTBOUND_QUEUE_LIMIT",
            show_envvar=True,
            min=1,
            help="Replies accepted but not yet delivered at most; past it a reply gets 503 "
            "outbox_full with Retry-After (default 10000).",
        ),
    ] = None,
    limit_concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="HTTP requests in progress at most (long-polls included); uvicorn answers "
            "503 past it, shedding load instead of queueing it (default: no limit).",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            envvar="CHATSIM_GATEWAY_STORE",
            show_envvar=True,
            help="SQLite file keeping the gateway's state across restarts "
            "(default chatsim-gateway.db in the working directory); :memory: keeps it in "
            "memory only, for throwaway runs.",
        ),
    ] = None,
    store_sync: Annotated[
        str | None,
        typer.Option(
            envvar="CHATSIM_GATEWAY_STORE_SYNC",
            show_envvar=True,
            help="normal: commits survive a crash of the gateway process (default); "
            "full: also of the machine, one fsync per acknowledged request.",
        ),
    ] = None,
    agent_poll_timeout: Annotated[
        float | None,
        typer.Option(
            envvar="CHATSIM_AGENT_POLL_TIMEOUT",
            show_envvar=True,
            min=0.0,
            help="Seconds without an events poll before an agent's chats go back to the "
            "queue and the agent is gone (default 60; 0: never).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = (
        "info"
    ),
    access_log: Annotated[bool, typer.Option(help="Log every HTTP request.")] = False,
) -> None:
    """Run the reference chat gateway (webhooks in, agent API, platform send APIs out)."""
    import uvicorn

    from sim.gateway import GatewayConfig, create_app
    from sim.gateway.limits import with_header_timeout
    from sim.gateway.logs import configure_logging
    from sim.gateway.sqlite_store import StoreError
    from sim.gateway.store import MEMORY

    level = log_level.lower()
    if level not in LOG_LEVELS:
        raise InputError(f"--log-level: expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    if scenario is not None and not scenario.is_file():
        raise InputError("no such file", file=scenario)
    channels = scenario_channels(scenario) if scenario is not None else None
    try:
        config = GatewayConfig.from_env(
            whatsapp_app_secret=whatsapp_app_secret,
            whatsapp_verify_token=whatsapp_verify_token,
            whatsapp_token=whatsapp_token,
            whatsapp_api_base=whatsapp_api_base,
            telegram_bot_token=telegram_bot_token,
            telegram_secret_token=telegram_secret_token,
            telegram_api_base=telegram_api_base,
            viber_auth_token=viber_auth_token,
            viber_api_base=viber_api_base,
            max_body_bytes=max_body_bytes,
            max_drain_bytes=max_drain_bytes,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            whatsapp_api_version=whatsapp_api_version,
            viber_sender_name=viber_sender_name,
            outbound_timeout=outbound_timeout,
            outbound_attempts=outbound_attempts,
            outbound_backoff=outbound_backoff,
            store=store,
            store_sync=store_sync,
            agent_poll_timeout=agent_poll_timeout,
            outbound_concurrency=outbound_concurrency,
            outbound_queue_limit=outbound_queue_limit,
        )
        if channels is not None:
            config = config.with_channels(channels)
    except ValueError as error:
        raise InputError(str(error), file=scenario) from None
    configure_logging(level)
    served = ", ".join(f"{name} ({protocol})" for name, (protocol, _) in config.channels.items())
    kept = "in memory only" if config.store in MEMORY else f"in {config.store}"
    console.print(
        f"chatsim gateway on http://{host}:{port} serving {served}; state {kept}",
        highlight=False,
        soft_wrap=True,
    )
    try:
        gateway_app = create_app(config)
    except (ValueError, StoreError) as error:
        raise InputError(str(error)) from None
    uvicorn.run(
        gateway_app,
        host=host,
        port=port,
        log_config=None,
        log_level=level,
        access_log=access_log,
        timeout_graceful_shutdown=3,
        http=with_header_timeout(config.header_timeout),
        limit_concurrency=limit_concurrency,
    )
