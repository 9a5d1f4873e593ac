"""How the platforms sign their webhooks: the signer the replay uses and the gateway checks.

* WhatsApp Cloud API: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body keyed
  with the app secret.
* Viber: ``X-Viber-Content-Signature: <hex>``, HMAC-SHA256 of the raw body keyed with the bot's
  auth token.
* Telegram signs nothing; its webhooks repeat a secret token instead (see
  :class:`~sim.protocols.credentials.PlatformCredentials`).

A signature is a digest: 32 bytes, written in a header as 64 hex digits. The signer writes the
hex; a checker decodes the header back to bytes and compares digests (:func:`hmac_digest`), so
that the comparison never depends on what text a caller put in the header.
"""

from __future__ import annotations

import hashlib
import hmac

WHATSAPP_SIGNATURE_PREFIX = "sha256="
"""What precedes the hex digest in ``X-Hub-Signature-256``."""

DIGEST_SIZE = hashlib.sha256().digest_size
"""Bytes in a signature (32: HMAC-SHA256)."""


def hmac_digest(secret: str, body: bytes) -> bytes:
    """HMAC-SHA256 of ``body`` keyed with ``secret``: the signature as bytes."""
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def hmac_hex(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body`` keyed with ``secret``."""
    return hmac_digest(secret, body).hex()


def whatsapp_signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body``."""
    return WHATSAPP_SIGNATURE_PREFIX + hmac_hex(app_secret, body)


def viber_signature(auth_token: str, body: bytes) -> str:
    """The ``X-Viber-Content-Signature`` header value for ``body``."""
    return hmac_hex(auth_token, body)
