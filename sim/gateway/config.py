"""Gateway configuration: secrets, outbound base URLs, limits and the channels it serves.

:class:`GatewayConfig` is a frozen dataclass. Build it directly (tests), or with
:meth:`GatewayConfig.from_env` from ``CHATSIM_*`` environment variables plus explicit overrides
(the ``chatsim gateway`` command passes its flags as overrides). Defaults are test-friendly: the
secrets are ``chatsim-dev-...`` strings and every platform's outbound base URL points at a
provider emulator on loopback (:data:`sim.protocols.DEFAULT_PROVIDER_BASE`), so that the
gateway, a replay and its emulator work together out of the box and nothing leaves the machine
by accident.

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
        "max_body_bytes": "CHATSIM_MAX_BODY_BYTES",
        "outbound_timeout": "CHATSIM_OUTBOUND_TIMEOUT",
        "outbound_attempts": "CHATSIM_OUTBOUND_ATTEMPTS",
        "outbound_backoff": "CHATSIM_OUTBOUND_BACKOFF",
        "outbound_concurrency": "CHATSIM_OUTBOUND_CONCURRENCY",
        "outbound_queue_limit": "CHATSIM_OUTBOUND_QUEUE_LIMIT",
    }
)

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
    max_body_bytes: int = 1024 * 1024
    """Larger request bodies get 413."""
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
        for name in ("outbound_timeout", "max_poll_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")
        for name in ("outbound_backoff", "shutdown_grace"):
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
        return self.credentials.secrets()

    def summary(self) -> dict[str, Any]:
        """The configuration without secrets, fit for a log line."""
        return {
            "channels": {name: list(spec) for name, spec in self.channels.items()},
            "whatsapp_api_base": self.whatsapp_api_base,
            "whatsapp_api_version": self.whatsapp_api_version,
            "telegram_api_base": self.telegram_api_base,
            "viber_api_base": self.viber_api_base,
            "max_body_bytes": self.max_body_bytes,
            "outbound_attempts": self.outbound_attempts,
            "outbound_timeout": self.outbound_timeout,
            "outbound_concurrency": self.outbound_concurrency,
            "outbound_queue_limit": self.outbound_queue_limit,
            "telegram_secret_check": bool(self.telegram_secret_token),
        }
