"""The platforms' webhook authentication, and helpers to sign test and replay traffic.

* WhatsApp Cloud API: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body keyed
  with the app secret.
* Viber: ``X-Viber-Content-Signature: <hex>``, HMAC-SHA256 of the raw body keyed with the bot's
  auth token.
* Telegram: no signature; ``X-Telegram-Bot-Api-Secret-Token`` repeats the ``secret_token`` given
  to ``setWebhook``.

A missing header is 401, a wrong one 403. Comparisons run in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from .common import SignatureError


def hmac_hex(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body`` keyed with ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body``."""
    return "sha256=" + hmac_hex(app_secret, body)


def viber_signature(auth_token: str, body: bytes) -> str:
    """The ``X-Viber-Content-Signature`` header value for ``body``."""
    return hmac_hex(auth_token, body)


def _require(header: str | None, name: str) -> str:
    if not header:
        raise SignatureError(401, f"missing {name} header")
    return header


def check_whatsapp(header: str | None, app_secret: str, body: bytes) -> None:
    value = _require(header, "X-Hub-Signature-256")
    if not hmac.compare_digest(value.strip().lower(), whatsapp_signature(app_secret, body)):
        raise SignatureError(403, "X-Hub-Signature-256 does not match the body")


def check_viber(header: str | None, auth_token: str, body: bytes) -> None:
    value = _require(header, "X-Viber-Content-Signature")
    if not hmac.compare_digest(value.strip().lower(), viber_signature(auth_token, body)):
        raise SignatureError(403, "X-Viber-Content-Signature does not match the body")


def check_telegram(header: str | None, secret_token: str) -> None:
    """Telegram's secret token; an empty configured secret disables the check."""
    if not secret_token:
        return
    value = _require(header, "X-Telegram-Bot-Api-Secret-Token")
    if not hmac.compare_digest(value.encode(), secret_token.encode()):
        raise SignatureError(403, "X-Telegram-Bot-Api-Secret-Token is wrong")
