"""Gateway configuration: secrets, outbound base URLs, limits and the channels it serves.

:class:`GatewayConfig` is a frozen dataclass. Build it directly (tests), or with
:meth:`GatewayConfig.from_env` from ``CHATSIM_*`` environment variables plus explicit overrides
(the ``chatsim gateway`` command passes its flags as overrides). Defaults are test-friendly: the
secrets are ``chatsim-dev-...`` strings and every platform's outbound base URL points at a
provider emulator on loopback (:data:`sim.protocols.DEFAULT_PROVIDER_BASE`), so that the
gateway, a replay and its emulator work together out of the box and nothing leaves the machine
by accident. The state is durable by default: ``store`` is an SQLite file in the working
directory unless told otherwise (``:memory:`` for throwaway runs).

The secrets are the platform credentials the replay shares
(:class:`sim.protocols.PlatformCredentials`: their defaults and variable names are defined
there); :attr:`GatewayConfig.credentials` gives them as such. They are excluded from ``repr`` so
that logging the configuration never shows them.

Channels map a scenario channel name to ``(protocol, priority)``. The protocol is the wire
format (``whatsapp``, ``telegram``, ``viber`` or ``webchat``); several channels may share one
protocol (e.g. ``app`` and ``retail`` both speak webchat).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from sim.protocols import CREDENTIAL_ENV_VARS, DEFAULT_PROVIDER_BASE, PROTOCOLS, PlatformCredentials

DEFAULT_CHANNELS: Mapping[str, tuple[str, int]] = MappingProxyType(
    {name: (name, 0) for name in PROTOCOLS}
)
"""One channel per protocol, named after it, all at priority 0."""

#: Environment variable of each configuration field that can come from the environment.
ENV_VARS: Mapping[str, str] = MappingProxyType(
    {
        **CREDENTIAL_ENV_VARS,
        "whatsapp_api_base": "CHATSIM_WHATSAPP_API_BASE",
        "whatsapp_api_version": "CHATSIM_WHATSAPP_API_VERSION",
        "telegram_api_base": "CHATSIM_TELEGRAM_API_BASE",
        "viber_api_base": "CHATSIM_VIBER_API_BASE",
        "viber_sender_name": "CHATSIM_VIBER_SENDER_NAME",
        "gateway_secret": "CHATSIM_GATEWAY_SECRET",
        "ops_key": "CHATSIM_OPS_KEY",
        "max_body_bytes": "CHATSIM_MAX_BODY_BYTES",
        "max_drain_bytes": "CHATSIM_MAX_DRAIN_BYTES",
        "header_timeout": "CHATSIM_HEADER_TIMEOUT",
        "body_timeout": "CHATSIM_BODY_TIMEOUT",
        "outbound_timeout": "CHATSIM_OUTBOUND_TIMEOUT",
        "outbound_attempts": "CHATSIM_OUTBOUND_ATTEMPTS",
        "outbound_backoff": "CHATSIM_OUTBOUND_BACKOFF",
        "store": "CHATSIM_GATEWAY_STORE",
        "store_sync": "CHATSIM_GATEWAY_STORE_SYNC",
        "agent_poll_timeout": "CHATSIM_AGENT_POLL_TIMEOUT",
        "agent_forget_after": "CHATSIM_AGENT_FORGET_AFTER",
        "retain_ended": "CHATSIM_GATEWAY_RETAIN_ENDED",
        "outbound_concurrency": "CHATSIM_OUTBOUND_CONCURRENCY",
        "outbound_queue_limit": "CHATSIM_OUTBOUND_QUEUE_LIMIT",
    }
)

DEFAULT_STORE = "chatsim-gateway.db"
"""The store unless told otherwise: an SQLite file in the working directory."""

SECRET_FIELDS = tuple(CREDENTIAL_ENV_VARS)
"""The fields holding platform credentials (see :class:`~sim.protocols.PlatformCredentials`)."""

_DEFAULTS = PlatformCredentials()  # the credentials' defaults are defined once, in sim.protocols


def _secret(default: str) -> Any:
    return field(default=default, repr=False)


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway needs to know; see the module docstring for the defaults."""

    # The secrets' meanings are documented once, in sim.protocols.PlatformCredentials.
    whatsapp_app_secret: str = _secret(_DEFAULTS.whatsapp_app_secret)
    whatsapp_verify_token: str = _secret(_DEFAULTS.whatsapp_verify_token)
    whatsapp_token: str = _secret(_DEFAULTS.whatsapp_token)
    whatsapp_api_base: str = DEFAULT_PROVIDER_BASE
    whatsapp_api_version: str = "v21.0"
    telegram_bot_token: str = _secret(_DEFAULTS.telegram_bot_token)
    telegram_secret_token: str = _secret(_DEFAULTS.telegram_secret_token)
    telegram_api_base: str = DEFAULT_PROVIDER_BASE
    viber_auth_token: str = _secret(_DEFAULTS.viber_auth_token)
    viber_api_base: str = DEFAULT_PROVIDER_BASE
    viber_sender_name: str = "chatsim"
    desk_key: str = _secret(_DEFAULTS.desk_key)
    gateway_secret: str = _secret("chatsim-dev-gateway-secret")
    """Signs agents' session tokens and webchat sessions' secrets (:mod:`.auth`); keep it
    across restarts, or every session must log in again."""
    ops_key: str = _secret("")
    """When set, ``/metrics``, ``/docs`` and the OpenAPI schema need ``Authorization: Bearer``
    with it; empty leaves them open (development)."""
    max_body_bytes: int = 1024 * 1024
    """Larger request bodies get 413."""
    max_drain_bytes: int = 64 * 1024 * 1024
    """An oversized body up to this size is read and discarded before its 413, so that a client
    writing it whole sees the answer; a larger one is refused at once and its connection closed
    (see :mod:`sim.gateway.limits`)."""
    header_timeout: float = 10.0
    """Seconds a client has to send a request line and headers (then 408 and close)."""
    body_timeout: float = 30.0
    """Seconds a client has to send a request body once its headers are in (then 408)."""
    outbound_timeout: float = 5.0
    """Seconds for one outbound call (connect, read, write each; waiting for a connection is
    not part of a call)."""
    outbound_attempts: int = 4
    """Tries per outbound message, the first included."""
    outbound_backoff: float = 0.2
    """Seconds before the first retry; doubled for each further one (capped at 5 s), with full
    jitter; a platform's ``Retry-After`` on 429/503 wins."""
    outbound_concurrency: int = 64
    """Outbound sends in flight at most: sender workers, and connections of the HTTP pool."""
    outbound_queue_limit: int = 10_000
    """Agent replies accepted but not yet sent or given up at most; past it a reply gets 503."""
    max_poll_timeout: float = 60.0
    """Upper bound of a long-poll's ``timeout``."""
    shutdown_grace: float = 5.0
    """Seconds that shutdown waits for queued outbound messages."""
    channels: Mapping[str, tuple[str, int]] = field(default_factory=lambda: DEFAULT_CHANNELS)
    """Channel name -> (protocol, priority)."""
    store: str = DEFAULT_STORE
    """The SQLite file keeping the gateway's state (``:memory:`` or ``memory``: process memory,
    lost at exit). Relative paths are relative to the working directory."""
    store_sync: str = "normal"
    """SQLite ``synchronous``: ``normal`` survives a process crash, ``full`` an OS crash too."""
    agent_poll_timeout: float = 60.0
    """Seconds without an events poll after which an agent's chats go back to the front of the
    queue and the agent is gone (0: never). An open long-poll counts as polling."""
    agent_forget_after: float = 300.0
    """Seconds after which a gone agent is forgotten (no longer listed, its events dropped)."""
    retain_ended: int = 10_000
    """Memory store only: how many ended conversations stay readable."""

    def __post_init__(self) -> None:
        channels = {str(name): (str(p), int(prio)) for name, (p, prio) in self.channels.items()}
        if not channels:
            raise ValueError("channels: at least one channel is needed")
        for name, (protocol, _) in channels.items():
            if protocol not in PROTOCOLS:
                raise ValueError(
                    f"channels.{name}.protocol: unknown protocol {protocol!r} "
                    f"(expected one of {', '.join(PROTOCOLS)})"
                )
        object.__setattr__(self, "channels", MappingProxyType(channels))
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes: must be positive, got {self.max_body_bytes}")
        for name in ("outbound_concurrency", "outbound_queue_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.outbound_attempts < 1:
            raise ValueError(f"outbound_attempts: must be at least 1, got {self.outbound_attempts}")
        if self.max_drain_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_drain_bytes: must be at least max_body_bytes ({self.max_body_bytes}), "
                f"got {self.max_drain_bytes}"
            )
        for name in ("outbound_timeout", "max_poll_timeout", "header_timeout", "body_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        if self.store_sync not in ("normal", "full"):
            raise ValueError(f"store_sync: expected normal or full, got {self.store_sync!r}")
        if not self.store:
            raise ValueError("store: a file path, or :memory:")
        if self.retain_ended < 0:
            raise ValueError(f"retain_ended: must not be negative, got {self.retain_ended}")
        for name in (
            "outbound_backoff",
            "shutdown_grace",
            "agent_poll_timeout",
            "agent_forget_after",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative, got {getattr(self, name)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> GatewayConfig:
        """A configuration from ``CHATSIM_*`` variables; ``overrides`` (not None) win.

        Raises ``ValueError`` naming the variable when a value does not parse.
        """
        env = os.environ if environ is None else environ
        kinds: dict[str, type[Any]] = {f.name: type(f.default) for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            raw = env.get(var)
            if raw is None:
                continue
            kind = kinds[name]
            try:
                values[name] = kind(raw)
            except ValueError:
                raise ValueError(f"{var}: expected {kind.__name__}, got {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def credentials(self) -> PlatformCredentials:
        """The platform credentials, as the replay's customers and provider emulator need them."""
        return PlatformCredentials(**{name: getattr(self, name) for name in SECRET_FIELDS})

    def with_channels(self, channels: Mapping[str, tuple[str, int]]) -> GatewayConfig:
        """A copy serving ``channels`` instead."""
        return replace(self, channels=channels)

    def channels_of(self, protocol: str) -> list[str]:
        """Channel names speaking ``protocol``, in configuration order."""
        return [name for name, (p, _) in self.channels.items() if p == protocol]

    def secrets(self) -> list[str]:
        """Non-empty secret values, for redaction in logs."""
        own = [value for value in (self.gateway_secret, self.ops_key) if value]
        return self.credentials.secrets() + own

    def summary(self) -> dict[str, Any]:
        """The configuration without secrets, fit for a log line."""
        return {
            "channels": {name: list(spec) for name, spec in self.channels.items()},
            "whatsapp_api_base": self.whatsapp_api_base,
            "whatsapp_api_version": self.whatsapp_api_version,
            "telegram_api_base": self.telegram_api_base,
            "viber_api_base": self.viber_api_base,
            "max_body_bytes": self.max_body_bytes,
            "max_drain_bytes": self.max_drain_bytes,
            "header_timeout": self.header_timeout,
            "body_timeout": self.body_timeout,
            "outbound_attempts": self.outbound_attempts,
            "outbound_timeout": self.outbound_timeout,
            "outbound_concurrency": self.outbound_concurrency,
            "outbound_queue_limit": self.outbound_queue_limit,
            "telegram_secret_check": bool(self.telegram_secret_token),
            "store": self.store,
            "store_sync": self.store_sync,
            "agent_poll_timeout": self.agent_poll_timeout,
        }
