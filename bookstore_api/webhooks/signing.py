"""Signing secrets: made, signed with, and kept encrypted at rest.

Each endpoint's secret (``whsec_`` and 32 random bytes) is shown to staff once,
when the endpoint is made, and stored encrypted with AES-256-GCM under a key
derived from ``BOOKSTORE_WEBHOOK_SECRET_KEY``. The setting may list several keys,
separated by commas: the first encrypts, all decrypt (so a key can be rotated
without losing the endpoints). A database dump alone never reveals a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as random_tokens

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
#: used when no key is configured outside production (never in production)
DEVELOPMENT_KEY = "bookstore-development-webhook-key-not-for-production"
_AAD = b"bookstore webhook signing secret"


def new_secret() -> str:
    return SECRET_PREFIX + random_tokens.token_urlsafe(32)


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: the value of ``Bookstore-Signature``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class SecretBox:
    """Encrypts and decrypts signing secrets with the configured key(s)."""

    def __init__(self, keys: list[str]):
        if not keys:
            raise ValueError("at least one webhook secret key is needed")
        self._keys = [(self._key_id(key), AESGCM(self._derive(key))) for key in keys]

    @staticmethod
    def _derive(key: str) -> bytes:
        return hashlib.sha256(b"bookstore webhook secrets\x00" + key.encode()).digest()

    @staticmethod
    def _key_id(key: str) -> str:
        return hashlib.sha256(b"bookstore webhook key id\x00" + key.encode()).hexdigest()[:8]

    def encrypt(self, secret: str) -> str:
        key_id, aead = self._keys[0]
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, secret.encode(), _AAD)
        return f"v1.{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str) -> str:
        version, key_id, payload = stored.split(".", 2)
        if version != "v1":
            raise ValueError("unknown secret format")
        raw = base64.urlsafe_b64decode(payload)
        for candidate_id, aead in self._keys:
            if candidate_id == key_id:
                try:
                    return aead.decrypt(raw[:12], raw[12:], _AAD).decode()
                except InvalidTag as exc:
                    raise ValueError("the webhook secret does not decrypt with its key") from exc
        raise ValueError("the key this webhook secret was encrypted with is not configured")


def secret_box(settings: dict) -> SecretBox | None:
    """The box for these settings; None in production when no key is configured (webhooks unavailable)."""
    configured = [key.strip() for key in str(settings.get("webhooks.secret_key") or "").split(",") if key.strip()]
    if not configured:
        if settings.get("bookstore.env") == "production":
            return None
        configured = [DEVELOPMENT_KEY]
    return SecretBox(configured)
