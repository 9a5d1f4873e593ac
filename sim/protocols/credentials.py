"""The credentials a gateway and its callers (the replay) must share: the platforms' and the desk's.

Whoever sends a webhook signs it with the secret the gateway checks it with, and whoever plays
a platform's send API accepts the token the gateway calls it with: both sides read them from
the same ``CHATSIM_*`` environment variables, named once here. The defaults are
``chatsim-dev-...`` strings, so that a gateway and a replay on one machine agree out of the box.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _secret(default: str) -> Any:
    # Secrets stay out of repr, so that logging a configuration never shows them.
    return field(default=default, repr=False)


@dataclass(frozen=True, slots=True)
class PlatformCredentials:
    """The messengers' secrets and tokens, as the platforms' consoles hand them out."""

    whatsapp_app_secret: str = _secret("chatsim-dev-whatsapp-app-secret")
    """Signs inbound WhatsApp webhooks (``X-Hub-Signature-256``)."""
    whatsapp_verify_token: str = _secret("chatsim-dev-whatsapp-verify-token")
    """Expected ``hub.verify_token`` of the subscription handshake."""
    whatsapp_token: str = _secret("chatsim-dev-whatsapp-token")
    """Bearer token of outbound Cloud API calls."""
    telegram_bot_token: str = _secret("chatsim-dev-telegram-bot-token")
    """Part of the outbound URL ``/bot{token}/sendMessage``."""
    telegram_secret_token: str = _secret("chatsim-dev-telegram-secret-token")
    """Repeated in ``X-Telegram-Bot-Api-Secret-Token``; empty disables the check (as in
    Telegram)."""
    viber_auth_token: str = _secret("chatsim-dev-viber-auth-token")
    """Signs inbound Viber callbacks and authenticates outbound ``send_message`` calls."""
    desk_key: str = _secret("chatsim-dev-desk-key")
    """What the agents' desk (the replay's emulated agents) logs agents in with
    (``Authorization: Bearer`` on ``POST /agents/login``); each login returns the agent's own
    session token."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PlatformCredentials:
        """The credentials from their ``CHATSIM_*`` variables; unset ones keep the defaults."""
        env = os.environ if environ is None else environ
        return cls(**{name: env[var] for name, var in CREDENTIAL_ENV_VARS.items() if var in env})

    def secrets(self) -> list[str]:
        """The non-empty values, for redaction in logs."""
        return [value for name in CREDENTIAL_ENV_VARS if (value := getattr(self, name))]


CREDENTIAL_ENV_VARS: Mapping[str, str] = MappingProxyType(
    {
        "whatsapp_app_secret": "CHATSIM_WHATSAPP_APP_SECRET",
        "whatsapp_verify_token": "CHATSIM_WHATSAPP_VERIFY_TOKEN",
        "whatsapp_token": "CHATSIM_WHATSAPP_TOKEN",
        "telegram_bot_token": "CHATSIM_TELEGRAM_BOT_TOKEN",
        "telegram_secret_token": "CHATSIM_TELEGRAM_SECRET_TOKEN",
        "viber_auth_token": "CHATSIM_VIBER_AUTH_TOKEN",
        "desk_key": "CHATSIM_DESK_KEY",
    }
)
"""The environment variable of each credential (field name: variable)."""
