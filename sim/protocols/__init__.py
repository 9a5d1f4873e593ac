"""The messengers' wire protocols: what the gateway and the replay both speak.

A scenario's channel names one of :data:`PROTOCOLS` as its wire format; the reference gateway
parses it and the replay's customers send it. Everything both sides must agree on lives in this
package, so that the replay never needs the reference gateway's own configuration to talk to
somebody else's gateway.
"""

from __future__ import annotations

from typing import Literal, get_args

Protocol = Literal["whatsapp", "telegram", "viber", "webchat"]
"""A wire format: WhatsApp Cloud API, Telegram Bot API, Viber REST API, or chatsim's webchat JSON."""

PROTOCOLS: tuple[Protocol, ...] = get_args(Protocol)
"""Every wire format, in the order tables list them."""

DEFAULT_GATEWAY_PORT = 8080
"""Where ``chatsim gateway`` listens unless told otherwise."""

DEFAULT_EMULATOR_PORT = 8081
"""Where the replay's provider emulator (the platforms' send APIs) listens by default."""

DEFAULT_PROVIDER_BASE = f"http://127.0.0.1:{DEFAULT_EMULATOR_PORT}"
"""The platforms' base URL a gateway calls by default: the provider emulator on loopback."""
