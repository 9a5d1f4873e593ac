"""How the platforms sign their webhooks: the signer the replay uses and the gateway checks.

* WhatsApp Cloud API: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body keyed
  with the app secret.
* Viber: ``X-Viber-Content-Signature: <hex>``, HMAC-SHA256 of the raw body keyed with the bot's
  auth token.
* Telegram signs nothing; its webhooks repeat a secret token instead (see
  :class:`~sim.protocols.credentials.PlatformCredentials`).
"""

from __future__ import annotations

import hashlib
import hmac


def hmac_hex(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body`` keyed with ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body``."""
    return "sha256=" + hmac_hex(app_secret, body)


def viber_signature(auth_token: str, body: bytes) -> str:
    """The ``X-Viber-Content-Signature`` header value for ``body``."""
    return hmac_hex(auth_token, body)
