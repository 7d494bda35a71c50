"""The profile: name, password and e-mail address of the signed-in account."""

from __future__ import annotations

import pytest

from tests.helpers.accounts import mailed_token, mails
from tests.helpers.clients import Client, register_and_login, unique_email

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


def log_in(testapp, email: str, password: str = PASSWORD) -> Client:
    return Client(testapp, Client(testapp).post("/auth/tokens", {"email": email, "password": password}).json["token"])


def test_rename(testapp):
    client, _ = register_and_login(testapp)
    client.get("/me")  # caches the token's identity
    renamed = client.patch("/me", {"name": "  Ada   King "}).json
    assert renamed["name"] == "Ada King" and set(renamed) >= {"id", "email", "role", "email_verified"}
    assert client.get("/me").json["name"] == "Ada King"
    client.patch("/me", {"name": "   "}, status=400)
    client.patch("/me", {"name": "X", "role": "admin"}, status=400)
    Client(testapp).patch("/me", {"name": "Nobody"}, status=401)


def test_change_password_keeps_this_session_and_ends_the_others(testapp):
    client, email = register_and_login(testapp, password=PASSWORD)
    other = log_in(testapp, email)
    wrong = client.post(
        "/me/password", {"current_password": "not my password", "new_password": NEW_PASSWORD}, status=403
    )
    assert wrong.json["error"]["code"] == "wrong_password"
    weak = client.post("/me/password", {"current_password": PASSWORD, "new_password": "password1234"}, status=400)
    assert "password" in weak.json["error"]["details"]["fields"]
    other.get("/me", status=200)

    client.post("/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, status=204)
    client.get("/me", status=200)
    other.get("/me", status=401)
    Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}, status=401)
    log_in(testapp, email, NEW_PASSWORD).get("/me", status=200)


def test_wrong_current_passwords_are_throttled_like_log_ins(testapp):
    client, _ = register_and_login(testapp, password=PASSWORD)
    body = {"current_password": "guess guess guess", "new_password": NEW_PASSWORD}
    statuses = [client.post("/me/password", body, status="*").status_int for _ in range(8)]
    assert statuses[:5] == [403] * 5 and 429 in statuses
    limited = client.post("/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, status=429)
    assert int(limited.headers["Retry-After"]) > 0


@pytest.mark.needs_db
def test_change_email_applies_once_the_new_address_is_confirmed(testapp, dbsession):
    client, old = register_and_login(testapp, password=PASSWORD)
    new = unique_email("moved")
    client.post("/me/email", {"password": "wrong password!", "new_email": new}, status=403)
    accepted = client.post("/me/email", {"password": PASSWORD, "new_email": new.upper()}, status=202)
    assert accepted.json["message"]
    assert client.get("/me").json["email"] == old  # not yet
    (notice,) = mails(dbsession, old, "email_change_notice")
    assert new in notice.body and notice.html_body
    (link,) = mails(dbsession, new, "verify_email")
    assert link.subject == "Confirm your new e-mail address"

    Client(testapp).post(f"/email-verifications/{mailed_token(dbsession, new, 'verify_email')}", None, status=204)
    me = client.get("/me").json
    assert (me["email"], me["email_verified"]) == (new, True)
    log_in(testapp, new).get("/me", status=200)
    Client(testapp).post("/auth/tokens", {"email": old, "password": PASSWORD}, status=401)


@pytest.mark.needs_db
def test_change_email_fails_cleanly_when_the_address_was_taken_meanwhile(testapp, dbsession):
    client, old = register_and_login(testapp, password=PASSWORD)
    wanted = unique_email("wanted")
    client.post("/me/email", {"password": PASSWORD, "new_email": wanted}, status=202)
    token = mailed_token(dbsession, wanted, "verify_email")
    Client(testapp).post("/users", {"email": wanted, "password": PASSWORD, "name": "Quick"})
    taken = Client(testapp).post(f"/email-verifications/{token}", None, status=409)
    assert taken.json["error"]["code"] == "email_taken"
    assert client.get("/me").json["email"] == old


def test_change_email_to_a_taken_or_the_same_address_is_refused(testapp):
    client, email = register_and_login(testapp, password=PASSWORD)
    _, other = register_and_login(testapp)
    assert (
        client.post("/me/email", {"password": PASSWORD, "new_email": other}, status=409).json["error"]["code"]
        == "email_taken"
    )
    client.post("/me/email", {"password": PASSWORD, "new_email": email}, status=400)
    client.post("/me/email", {"password": PASSWORD, "new_email": "not an address"}, status=400)


@pytest.mark.needs_db
def test_a_newer_change_replaces_an_older_one(testapp, dbsession):
    client, _ = register_and_login(testapp, password=PASSWORD)
    first, second = unique_email("first"), unique_email("second")
    client.post("/me/email", {"password": PASSWORD, "new_email": first}, status=202)
    stale = mailed_token(dbsession, first, "verify_email")
    client.post("/me/email", {"password": PASSWORD, "new_email": second}, status=202)
    Client(testapp).post(f"/email-verifications/{stale}", None, status=400)
    client.post("/email-verifications", None, status=202)  # a resend goes to the pending new address
    assert len(mails(dbsession, second, "verify_email")) == 2
