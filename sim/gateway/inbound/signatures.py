"""The platforms' webhook authentication: the gateway's checks of inbound requests.

* WhatsApp Cloud API: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body keyed
  with the app secret.
* Viber: ``X-Viber-Content-Signature: <hex>``, HMAC-SHA256 of the raw body keyed with the bot's
  auth token.
* Telegram: no signature; ``X-Telegram-Bot-Api-Secret-Token`` repeats the ``secret_token`` given
  to ``setWebhook``.

A missing header is 401; anything else that is not the right proof is 403, with a detail that
says what was wrong: a header that is not ASCII, not ``sha256=`` plus hex, not a digest's length,
or a digest that does not match. Signatures are decoded from hex and compared as bytes, in
constant time (:func:`hmac.compare_digest`), with the digest of the body computed by the same
signer the replay's customers use (:mod:`sim.protocols.signatures`).
"""

from __future__ import annotations

import binascii
import hmac

from sim.protocols.signatures import DIGEST_SIZE, WHATSAPP_SIGNATURE_PREFIX, hmac_digest

from .common import SignatureError


def _require(header: str | None, name: str) -> str:
    if not header:
        raise SignatureError(401, f"missing {name} header")
    if not header.isascii():
        # Servers hand header bytes on as latin-1 text: a non-ASCII character is a byte >= 0x80.
        raise SignatureError(403, f"{name} is not ASCII")
    return header.strip()


def _digest(text: str, name: str) -> bytes:
    """The bytes of a hex-written digest; 403 unless it is exactly one SHA-256 digest."""
    try:
        digest = binascii.unhexlify(text)
    except binascii.Error:
        raise SignatureError(403, f"{name} is not a hex digest") from None
    if len(digest) != DIGEST_SIZE:
        raise SignatureError(
            403, f"{name} has {len(digest)} bytes, a SHA-256 digest has {DIGEST_SIZE}"
        )
    return digest


def check_whatsapp(header: str | None, app_secret: str, body: bytes) -> None:
    name = "X-Hub-Signature-256"
    value = _require(header, name)
    prefix = WHATSAPP_SIGNATURE_PREFIX
    if value[: len(prefix)].lower() != prefix:
        raise SignatureError(403, f"{name} must be {prefix}<hex digest>")
    digest = _digest(value[len(prefix) :], name)
    if not hmac.compare_digest(digest, hmac_digest(app_secret, body)):
        raise SignatureError(403, f"{name} does not match the body")


def check_viber(header: str | None, auth_token: str, body: bytes) -> None:
    name = "X-Viber-Content-Signature"
    digest = _digest(_require(header, name), name)
    if not hmac.compare_digest(digest, hmac_digest(auth_token, body)):
        raise SignatureError(403, f"{name} does not match the body")


def check_telegram(header: str | None, secret_token: str) -> None:
    """Telegram's secret token; an empty configured secret disables the check."""
    if not secret_token:
        return
    value = _require(header, "X-Telegram-Bot-Api-Secret-Token")
    if not hmac.compare_digest(value.encode(), secret_token.encode()):
        raise SignatureError(403, "X-Telegram-Bot-Api-Secret-Token is wrong")
