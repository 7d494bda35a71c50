"""Signing secrets: the signature format, encryption at rest, key rotation, back-off."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from bookstore_api.webhooks.delivery import BACKOFF_CAP_SECONDS, backoff_seconds
from bookstore_api.webhooks.signing import SecretBox, new_secret, secret_box, signature_header


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    header = signature_header("whsec_abc", 1700000000, b'{"a":1}')
    expected = hmac.new(b"whsec_abc", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_secrets_are_random_and_encrypted():
    first, second = new_secret(), new_secret()
    assert first != second and first.startswith("whsec_")
    box = SecretBox(["key one"])
    sealed = box.encrypt(first)
    assert first not in sealed and first[6:] not in sealed
    assert box.encrypt(first) != sealed  # a fresh nonce every time
    assert box.decrypt(sealed) == first


def test_keys_rotate_and_tampering_is_detected():
    old = SecretBox(["old key"])
    sealed = old.encrypt("whsec_x")
    rotated = SecretBox(["new key", "old key"])
    assert rotated.decrypt(sealed) == "whsec_x"
    assert rotated.decrypt(rotated.encrypt("whsec_y")) == "whsec_y"
    with pytest.raises(ValueError, match="not configured"):
        SecretBox(["new key"]).decrypt(sealed)
    version, key_id, payload = sealed.split(".")
    tampered = f"{version}.{key_id}.{payload[:-4]}{'AAAA' if payload[-4:] != 'AAAA' else 'BBBB'}"
    with pytest.raises(ValueError):
        old.decrypt(tampered)


def test_production_has_no_default_key():
    assert secret_box({"bookstore.env": "production"}) is None
    assert secret_box({"bookstore.env": "production", "webhooks.secret_key": "k1, k2"}) is not None
    assert secret_box({"bookstore.env": "development"}) is not None


def test_backoff_doubles_with_jitter_up_to_the_cap():
    rng = random.Random(1)
    for attempts in range(1, 20):
        step = min(BACKOFF_CAP_SECONDS, 30 * 2 ** (attempts - 1))
        for _ in range(20):
            assert step / 2 <= backoff_seconds(attempts, rng) <= step
