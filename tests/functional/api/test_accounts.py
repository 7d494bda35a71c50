"""Accounts: registration, bearer tokens, /me and login rate limiting."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from bookstore_api.accounts.models import AuthToken, User
from tests.helpers.clients import Client, register_and_login, unique_email

PASSWORD = "a long enough password"


def test_register_creates_a_customer(anon):
    email = unique_email()
    response = anon.post("/users", {"email": email.upper(), "password": PASSWORD, "name": "  Ada Lovelace "})
    assert response.status_int == 201
    assert response.json == {
        "id": response.json["id"],
        "email": email.lower(),
        "name": "Ada Lovelace",
        "role": "customer",
        "email_verified": False,
    }


def test_a_client_cannot_choose_its_role(anon):
    response = anon.post(
        "/users", {"email": unique_email(), "password": PASSWORD, "name": "Eve", "role": "admin"}, status=400
    )
    assert response.json["error"]["code"] == "invalid_input"


def test_duplicate_email_is_409_whatever_the_case(anon):
    email = unique_email()
    anon.post("/users", {"email": email, "password": PASSWORD, "name": "One"})
    response = anon.post("/users", {"email": email.upper(), "password": PASSWORD, "name": "Two"}, status=409)
    assert response.json["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "name": "X"}, "email"),
        ({"email": "a@b", "password": PASSWORD, "name": "X"}, "email"),
        ({"email": "x@example.com", "password": "short", "name": "X"}, "password"),
        ({"email": "x@example.com", "password": "123456789", "name": "X"}, "password"),
        ({"email": "x@example.com", "password": PASSWORD, "name": ""}, "name"),
    ],
)
def test_bad_registration_names_the_field(anon, body, field):
    response = anon.post("/users", body, status=400)
    assert field in response.json["error"]["details"]["fields"]


@pytest.mark.needs_db
def test_passwords_are_argon2id_and_tokens_stored_only_as_hashes(anon, dbsession):
    email = unique_email()
    anon.post("/users", {"email": email, "password": PASSWORD, "name": "Hashed"})
    token = anon.post("/auth/tokens", {"email": email, "password": PASSWORD}).json["token"]
    user = dbsession.scalar(select(User).where(User.email == email))
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    stored = dbsession.scalars(select(AuthToken.token_hash).where(AuthToken.user_id == user.id)).all()
    assert stored == [hashlib.sha256(token.encode()).digest()]
    assert len(token) >= 43  # 256 random bits, base64url


def test_login_returns_a_working_token(anon):
    email = unique_email()
    anon.post("/users", {"email": email, "password": PASSWORD, "name": "Grace"})
    response = anon.post("/auth/tokens", {"email": email, "password": PASSWORD})
    assert response.status_int == 201
    assert response.json["user"]["email"] == email
    assert response.json["expires_at"]
    me = Client(anon.app, response.json["token"]).get("/me").json
    assert me == response.json["user"]


def test_wrong_password_and_unknown_email_are_the_same_401(anon):
    email = unique_email()
    anon.post("/users", {"email": email, "password": PASSWORD, "name": "Grace"})
    wrong = anon.post("/auth/tokens", {"email": email, "password": "not the password"}, status=401).json
    unknown = anon.post("/auth/tokens", {"email": unique_email(), "password": PASSWORD}, status=401).json
    assert wrong == unknown
    assert wrong["error"]["code"] == "invalid_credentials"


def test_me_needs_a_valid_token(anon):
    assert anon.get("/me", status=401).json["error"]["code"] == "not_authenticated"
    bad = Client(anon.app, "x" * 43).get("/me", status=401)
    assert bad.json["error"]["code"] == "not_authenticated"
    assert anon.get("/me", status=401, headers={"Authorization": "Basic abc"}).status_int == 401


def test_logout_revokes_the_token_at_once(testapp):
    client, _ = register_and_login(testapp)
    client.get("/me")  # now cached in Redis
    client.delete("/auth/tokens/current")
    assert client.get("/me", status=401).json["error"]["code"] == "not_authenticated"
    client.delete("/auth/tokens/current", status=401)


def test_other_tokens_survive_a_logout(testapp):
    email = unique_email()
    Client(testapp).post("/users", {"email": email, "password": PASSWORD, "name": "Two Devices"})
    first = Client(testapp, Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}).json["token"])
    second = Client(testapp, Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}).json["token"])
    first.delete("/auth/tokens/current")
    assert second.get("/me").json["email"] == email


def test_repeated_failures_for_one_email_are_rate_limited(anon):
    email = unique_email()
    anon.post("/users", {"email": email, "password": PASSWORD, "name": "Target"})
    for _ in range(5):
        anon.post("/auth/tokens", {"email": email, "password": "guess guess guess"}, status=401)
    limited = anon.post("/auth/tokens", {"email": email, "password": PASSWORD}, status=429)
    assert limited.json["error"]["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    # another account from the same address is not locked out by this one
    other = unique_email()
    anon.post("/users", {"email": other, "password": PASSWORD, "name": "Bystander"})
    anon.post("/auth/tokens", {"email": other, "password": PASSWORD}, status=201)


def spray_failed_logins(client: Client, headers: dict[str, str]) -> None:
    """50 failed log-ins, each for another account: the per-address limit, not the per-email one."""
    for i in range(50):
        client.post(
            "/auth/tokens",
            {"email": f"spray-{i}@example.com", "password": "guess guess"},
            status=401,
            headers=headers,
        )


@pytest.mark.needs_db  # would lock the QA machine's address out of a live shop
def test_repeated_failures_from_one_address_are_rate_limited(testapp):
    client = Client(testapp)
    spray_failed_logins(client, {"X-Test": "1"})
    response = client.post("/auth/tokens", {"email": "spray-x@example.com", "password": "guess guess"}, status=429)
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.needs_db
def test_tokens_are_served_from_redis_after_first_use(testapp, api_app):
    client, _ = register_and_login(testapp)
    client.get("/me")
    store = api_app.registry["redis"]
    key = store.key("tok", hashlib.sha256(client.token.encode()).hexdigest())
    assert store.client.get(key) is not None
    assert 0 < store.client.ttl(key) <= 300


@pytest.mark.needs_db  # would lock the QA machine's address out of a live shop
def test_address_limit_follows_the_shopper_behind_trusted_proxies(testapp):
    """The storefront calls the API for every shopper: the limit must count shoppers, not it."""
    client = Client(testapp)
    spray_failed_logins(client, {"X-Forwarded-For": "203.0.113.7"})
    limited = client.post(
        "/auth/tokens",
        {"email": "x@example.com", "password": "guess guess"},
        status=429,
        headers={"X-Forwarded-For": "203.0.113.7"},
    )
    assert limited.json["error"]["code"] == "rate_limited"
    # another shopper behind the same storefront is not locked out
    client.post(
        "/auth/tokens",
        {"email": "x@example.com", "password": "guess guess"},
        status=401,
        headers={"X-Forwarded-For": "198.51.100.9"},
    )
    # a forged left-most entry does not help the attacker
    client.post(
        "/auth/tokens",
        {"email": "x@example.com", "password": "guess guess"},
        status=429,
        headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.7"},
    )


@pytest.mark.needs_db  # would lock the QA machine's address out of a live shop
def test_forwarded_for_from_an_untrusted_peer_is_ignored(testapp):
    untrusted = {"REMOTE_ADDR": "192.0.2.50"}
    for i in range(50):
        testapp.post_json(
            "/api/v1/auth/tokens",
            {"email": f"z-{i}@example.com", "password": "guess guess"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
            extra_environ=untrusted,
            status=401,
        )
    testapp.post_json(
        "/api/v1/auth/tokens",
        {"email": "z@example.com", "password": "guess guess"},
        headers={"X-Forwarded-For": "203.0.113.200"},
        extra_environ=untrusted,
        status=429,
    )
