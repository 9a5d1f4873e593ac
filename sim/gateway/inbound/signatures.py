"""The platforms' webhook authentication: the gateway's checks of inbound requests.

* WhatsApp Cloud API: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body keyed
  with the app secret.
* Viber: ``X-Viber-Content-Signature: <hex>``, HMAC-SHA256 of the raw body keyed with the bot's
  auth token.
* Telegram: no signature; ``X-Telegram-Bot-Api-Secret-Token`` repeats the ``secret_token`` given
  to ``setWebhook``.

A missing header is 401, a wrong one 403. Comparisons run in constant time. The signers
themselves are shared with the replay's customers: :mod:`sim.protocols.signatures`.
"""

from __future__ import annotations

import hmac

from sim.protocols.signatures import viber_signature, whatsapp_signature

from .common import SignatureError


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
