"""Gateway configuration: secrets, outbound base URLs, limits and the channels it serves.

:class:`GatewayConfig` is a frozen dataclass. Build it directly (tests), or with
:meth:`GatewayConfig.from_env` from ``CHATSIM_*`` environment variables plus explicit overrides
(the ``chatsim gateway`` command passes its flags as overrides). Defaults are test-friendly: the
secrets are ``chatsim-dev-...`` strings and every platform's outbound base URL points at a
provider emulator on loopback (``http://127.0.0.1:8081``), so that the gateway, a replay and its
emulator work together out of the box and nothing leaves the machine by accident.

Secrets are excluded from ``repr`` so that logging the configuration never shows them.

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

PROTOCOLS = ("whatsapp", "telegram", "viber", "webchat")
"""The wire formats the gateway speaks."""

DEFAULT_CHANNELS: Mapping[str, tuple[str, int]] = MappingProxyType(
    {name: (name, 0) for name in PROTOCOLS}
)
"""One channel per protocol, named after it, all at priority 0."""

DEFAULT_PROVIDER_BASE = "http://127.0.0.1:8081"

#: Environment variable of each configuration field that can come from the environment.
ENV_VARS: Mapping[str, str] = MappingProxyType(
    {
        "whatsapp_app_secret": "CHATSIM_WHATSAPP_APP_SECRET",
        "whatsapp_verify_token": "CHATSIM_WHATSAPP_VERIFY_TOKEN",
        "whatsapp_token": "CHATSIM_WHATSAPP_TOKEN",
        "whatsapp_api_base": "CHATSIM_WHATSAPP_API_BASE",
        "whatsapp_api_version": "CHATSIM_WHATSAPP_API_VERSION",
        "telegram_bot_token": "CHATSIM_TELEGRAM_BOT_TOKEN",
        "telegram_secret_token": "CHATSIM_TELEGRAM_SECRET_TOKEN",
        "telegram_api_base": "CHATSIM_TELEGRAM_API_BASE",
        "viber_auth_token": "CHATSIM_VIBER_AUTH_TOKEN",
        "viber_api_base": "CHATSIM_VIBER_API_BASE",
        "viber_sender_name": "CHATSIM_VIBER_SENDER_NAME",
        "max_body_bytes": "CHATSIM_MAX_BODY_BYTES",
        "outbound_timeout": "CHATSIM_OUTBOUND_TIMEOUT",
        "outbound_attempts": "CHATSIM_OUTBOUND_ATTEMPTS",
        "outbound_backoff": "CHATSIM_OUTBOUND_BACKOFF",
    }
)

SECRET_FIELDS = (
    "whatsapp_app_secret",
    "whatsapp_verify_token",
    "whatsapp_token",
    "telegram_bot_token",
    "telegram_secret_token",
    "viber_auth_token",
)


def _secret(default: str) -> Any:
    return field(default=default, repr=False)


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway needs to know; see the module docstring for the defaults."""

    whatsapp_app_secret: str = _secret("chatsim-dev-whatsapp-app-secret")
    """Signs inbound WhatsApp webhooks (``X-Hub-Signature-256``)."""
    whatsapp_verify_token: str = _secret("chatsim-dev-whatsapp-verify-token")
    """Expected ``hub.verify_token`` of the subscription handshake."""
    whatsapp_token: str = _secret("chatsim-dev-whatsapp-token")
    """Bearer token of outbound Cloud API calls."""
    whatsapp_api_base: str = DEFAULT_PROVIDER_BASE
    whatsapp_api_version: str = "v21.0"
    telegram_bot_token: str = _secret("chatsim-dev-telegram-bot-token")
    """Part of the outbound URL ``/bot{token}/sendMessage``."""
    telegram_secret_token: str = _secret("chatsim-dev-telegram-secret-token")
    """Expected ``X-Telegram-Bot-Api-Secret-Token``; empty disables the check (as in Telegram)."""
    telegram_api_base: str = DEFAULT_PROVIDER_BASE
    viber_auth_token: str = _secret("chatsim-dev-viber-auth-token")
    """Signs inbound Viber callbacks and authenticates outbound ``send_message`` calls."""
    viber_api_base: str = DEFAULT_PROVIDER_BASE
    viber_sender_name: str = "chatsim"
    max_body_bytes: int = 1024 * 1024
    """Larger request bodies get 413."""
    outbound_timeout: float = 5.0
    """Seconds for one outbound call (connect, read, write, pool each)."""
    outbound_attempts: int = 4
    """Tries per outbound message, the first included."""
    outbound_backoff: float = 0.2
    """Seconds before the first retry; doubled for each further one (capped at 5 s)."""
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

    def with_channels(self, channels: Mapping[str, tuple[str, int]]) -> GatewayConfig:
        """A copy serving ``channels`` instead."""
        return replace(self, channels=channels)

    def channels_of(self, protocol: str) -> list[str]:
        """Channel names speaking ``protocol``, in configuration order."""
        return [name for name, (p, _) in self.channels.items() if p == protocol]

    def secrets(self) -> list[str]:
        """Non-empty secret values, for redaction in logs."""
        return [value for name in SECRET_FIELDS if (value := getattr(self, name))]

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
            "telegram_secret_check": bool(self.telegram_secret_token),
        }
