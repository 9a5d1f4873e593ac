"""The messengers' wire protocols: what the gateway and the replay both speak.

A scenario's channel names one of :data:`PROTOCOLS` as its wire format; the reference gateway
parses it and the replay's customers send it. Everything both sides must agree on lives in this
package, so that the replay never needs the reference gateway's own configuration to talk to
somebody else's gateway: the wire formats and default ports (here), the platforms' webhook
signatures (:mod:`~sim.protocols.signatures`) and the credentials both sides share
(:mod:`~sim.protocols.credentials`).
"""

from __future__ import annotations

from typing import Literal, get_args

from sim.protocols.credentials import CREDENTIAL_ENV_VARS, PlatformCredentials
from sim.protocols.signatures import hmac_hex, viber_signature, whatsapp_signature

Protocol = Literal["whatsapp", "telegram", "viber", "webchat"]
"""A wire format: WhatsApp Cloud API, Telegram Bot API, Viber REST API, or chatsim's webchat
JSON."""

PROTOCOLS: tuple[Protocol, ...] = get_args(Protocol)
"""Every wire format, in the order tables list them."""

DEFAULT_GATEWAY_PORT = 8080
"""Where ``chatsim gateway`` listens unless told otherwise."""

DEFAULT_EMULATOR_PORT = 8081
"""Where the replay's provider emulator (the platforms' send APIs) listens by default."""

DEFAULT_PROVIDER_BASE = f"http://127.0.0.1:{DEFAULT_EMULATOR_PORT}"
"""The platforms' base URL a gateway calls by default: the provider emulator on loopback."""

WEBCHAT_SECRET_HEADER = "X-Webchat-Secret"
"""Where a webchat customer sends its session's secret, which the answer to its first message
gave it (``session_secret``): on its later messages, its close event and its long-poll."""

__all__ = [
    "CREDENTIAL_ENV_VARS",
    "DEFAULT_EMULATOR_PORT",
    "DEFAULT_GATEWAY_PORT",
    "DEFAULT_PROVIDER_BASE",
    "PROTOCOLS",
    "WEBCHAT_SECRET_HEADER",
    "PlatformCredentials",
    "Protocol",
    "hmac_hex",
    "viber_signature",
    "whatsapp_signature",
]
