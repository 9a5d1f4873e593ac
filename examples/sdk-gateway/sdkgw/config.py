"""What the gateway is told: channels, platform credentials and base URLs, responder mode.

Credentials come from the ``CHATSIM_*`` variables the replay signs and checks with
(:meth:`sim.protocols.PlatformCredentials.from_env`), base URLs from ``CHATSIM_*_API_BASE``
(default: the replay's provider emulator on ``http://127.0.0.1:8081``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sim.protocols import DEFAULT_PROVIDER_BASE, PROTOCOLS, PlatformCredentials


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel the gateway serves: its name (agents' skills name it), wire protocol and
    priority (higher is served first; FIFO within a priority)."""

    name: str
    protocol: str
    priority: int = 0


def default_channels() -> tuple[Channel, ...]:
    """One channel per protocol, named after it, all of priority 0."""
    return tuple(Channel(protocol, protocol) for protocol in PROTOCOLS)


def channels_of_scenario(path: Path) -> tuple[Channel, ...]:
    """The channels of a chatsim scenario file (names, protocols, priorities)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    channels: dict[str, Any] = document.get("channels") or {}
    return tuple(
        Channel(name, str(spec.get("protocol", "webchat")), int(spec.get("priority", 0)))
        for name, spec in channels.items()
    )


def parse_channel(text: str) -> Channel:
    """``NAME:PROTOCOL[:PRIORITY]`` (or just a protocol) as a :class:`Channel`."""
    parts = text.split(":")
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    if len(parts) not in (2, 3) or parts[1] not in PROTOCOLS:
        raise ValueError(f"expected NAME:PROTOCOL[:PRIORITY] with a protocol of {PROTOCOLS}")
    return Channel(parts[0], parts[1], int(parts[2]) if len(parts) == 3 else 0)


def parse_delays(texts: list[str], default: float = 0.5) -> tuple[float, dict[str, float]]:
    """``SECONDS`` (every channel) and ``CHANNEL=SECONDS`` items: (default, per channel)."""
    per_channel: dict[str, float] = {}
    for text in texts:
        name, equals, seconds = text.strip().rpartition("=")
        if equals:
            per_channel[name] = float(seconds)
        else:
            default = float(seconds)
    return default, per_channel


@dataclass(frozen=True, slots=True)
class Config:
    credentials: PlatformCredentials = field(default_factory=PlatformCredentials)
    channels: tuple[Channel, ...] = field(default_factory=default_channels)
    whatsapp_api_base: str = DEFAULT_PROVIDER_BASE
    whatsapp_api_version: str = "v21.0"
    telegram_api_base: str = DEFAULT_PROVIDER_BASE
    viber_api_base: str = DEFAULT_PROVIDER_BASE
    viber_sender_name: str = "chatsim"
    bot: bool = False
    """Echo-bot mode: a bot answers every customer message, no agents, no queue."""
    bot_delay: float = 0.5
    """Wall seconds the echo bot waits before answering."""
    bot_delays: Mapping[str, float] = field(default_factory=dict)
    """Per channel name, the bot's delay where it differs from ``bot_delay``."""
    send_attempts: int = 4
    """Calls per outbound message before giving up (timeouts, connection errors, refusals)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """From ``CHATSIM_*`` (shared with the replay) and ``SDKGW_*`` (this gateway's own:
        ``SDKGW_SCENARIO`` for the channels, ``SDKGW_BOT=1``, ``SDKGW_BOT_DELAY``)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"credentials": PlatformCredentials.from_env(env)}
        for name, var in {
            "whatsapp_api_base": "CHATSIM_WHATSAPP_API_BASE",
            "whatsapp_api_version": "CHATSIM_WHATSAPP_API_VERSION",
            "telegram_api_base": "CHATSIM_TELEGRAM_API_BASE",
            "viber_api_base": "CHATSIM_VIBER_API_BASE",
            "viber_sender_name": "CHATSIM_VIBER_SENDER_NAME",
        }.items():
            if var in env:
                values[name] = env[var]
        if env.get("SDKGW_SCENARIO"):
            values["channels"] = channels_of_scenario(Path(env["SDKGW_SCENARIO"]))
        if env.get("SDKGW_BOT", "") not in ("", "0", "false"):
            values["bot"] = True
        if env.get("SDKGW_BOT_DELAY"):
            values["bot_delay"], values["bot_delays"] = parse_delays(
                env["SDKGW_BOT_DELAY"].split(",")
            )
        values.update(overrides)
        return cls(**values)

    def delay_of(self, channel: str) -> float:
        """Seconds the echo bot waits before answering a message on ``channel``."""
        return self.bot_delays.get(channel, self.bot_delay)

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    def first_of(self, protocol: str) -> Channel | None:
        """The channel a protocol's webhook feeds: the first one speaking it."""
        return next((c for c in self.channels if c.protocol == protocol), None)
