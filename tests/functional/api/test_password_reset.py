"""Password resets: one mailed link, used once within the hour, that signs the account out everywhere;
the same answer for addresses with and without an account; limits that stop abuse but not the owner."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from bookstore_api.accounts.models import AccountToken
from bookstore_api.mail.models import OutboxMessage
from tests.helpers.accounts import mailed_token, mails
from tests.helpers.clients import Client, register_and_login, unique_email

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"

pytestmark = pytest.mark.needs_db  # the link is read from the outbox


def ask(anon: Client, email: str, client_address: str = "198.51.100.7", status: int = 202):
    return anon.post("/password-resets", {"email": email}, status=status, headers={"X-Forwarded-For": client_address})


def test_a_reset_link_sets_the_password_once_and_signs_out_everywhere(testapp, dbsession):
    client, email = register_and_login(testapp, password=PASSWORD)
    other_session = Client(
        testapp, Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}).json["token"]
    )
    anon = Client(testapp)
    assert ask(anon, email).json == {"message": ask(anon, unique_email()).json["message"]}
    (mail,) = mails(dbsession, email, "password_reset")
    assert "/reset-password/" in mail.body and mail.html_body and "/reset-password/" in mail.html_body
    token = mailed_token(dbsession, email, "password_reset")
    stored = dbsession.scalars(select(AccountToken.token_hash).where(AccountToken.email == email)).all()
    assert token.encode() not in b"".join(stored) and len(token) >= 43  # 256 bits; only a hash is kept

    anon.post(f"/password-resets/{token}", {"password": NEW_PASSWORD}, status=204)

    client.get("/me", status=401)  # every bearer token of the account is revoked
    other_session.get("/me", status=401)
    anon.post("/auth/tokens", {"email": email, "password": PASSWORD}, status=401)
    fresh = Client(testapp, anon.post("/auth/tokens", {"email": email, "password": NEW_PASSWORD}).json["token"])
    assert fresh.get("/me").json["email_verified"] is True  # the link reached the address: it is proved
    again = anon.post(f"/password-resets/{token}", {"password": "yet another passphrase"}, status=400)
    assert again.json["error"]["code"] == "invalid_token"
    assert [m.kind for m in mails(dbsession, email)][-1] == "password_changed"


def test_a_reset_link_expires_after_an_hour(testapp, dbsession):
    _, email = register_and_login(testapp, password=PASSWORD)
    anon = Client(testapp)
    ask(anon, email)
    token = mailed_token(dbsession, email, "password_reset")
    issued = dbsession.scalar(
        select(AccountToken).where(AccountToken.email == email, AccountToken.purpose == "password_reset")
    )
    assert 3590 <= (issued.expires_at - issued.created_at).total_seconds() <= 3610
    dbsession.execute(
        update(AccountToken)
        .where(AccountToken.id == issued.id)
        .values(expires_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1))
    )
    dbsession.flush()
    response = anon.post(f"/password-resets/{token}", {"password": NEW_PASSWORD}, status=400)
    assert response.json["error"]["code"] == "invalid_token"
    anon.post("/auth/tokens", {"email": email, "password": PASSWORD}, status=201)


def test_a_weak_password_is_refused_and_the_link_still_works(testapp, dbsession):
    _, email = register_and_login(testapp, password=PASSWORD)
    anon = Client(testapp)
    ask(anon, email)
    token = mailed_token(dbsession, email, "password_reset")
    weak = anon.post(f"/password-resets/{token}", {"password": "password123"}, status=400)
    assert "password" in weak.json["error"]["details"]["fields"]
    anon.post(f"/password-resets/{token}", {"password": email}, status=400)  # the address itself
    anon.post(f"/password-resets/{token}", {"password": NEW_PASSWORD}, status=204)


@pytest.mark.parametrize("token", ["x", "A" * 43, "not-a-token_at-all"])
def test_unknown_tokens_are_invalid(anon, token):
    response = anon.post(f"/password-resets/{token}", {"password": NEW_PASSWORD}, status=400)
    assert response.json["error"]["code"] == "invalid_token"


def _outbox(dbsession):
    dbsession.expire_all()
    return dbsession.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()


def _tokens(dbsession):
    return dbsession.scalar(select(func.count()).select_from(AccountToken))


def test_unknown_addresses_get_the_same_answer_and_no_mail(testapp, dbsession):
    _, known = register_and_login(testapp, password=PASSWORD)
    unknown = unique_email()
    anon = Client(testapp)
    outbox_before, tokens_before = _outbox(dbsession), _tokens(dbsession)
    a = ask(anon, known, "198.51.100.20")
    after_known, tokens_after_known = _outbox(dbsession), _tokens(dbsession)
    b = ask(anon, unknown, "198.51.100.21")
    after_unknown, tokens_after_unknown = _outbox(dbsession), _tokens(dbsession)

    assert (a.status_int, a.body) == (b.status_int, b.body)
    ignore = {"X-Request-ID"}
    assert [(k, v) for k, v in a.headerlist if k not in ignore] == [(k, v) for k, v in b.headerlist if k not in ignore]
    # the only difference: the known address got its mail (and its token)
    assert after_known == outbox_before + ["password_reset"] and tokens_after_known == tokens_before + 1
    assert after_unknown == after_known and tokens_after_unknown == tokens_after_known
    assert mails(dbsession, unknown) == []


def test_too_many_requests_from_one_client_are_429(testapp):
    anon = Client(testapp)
    email = unique_email()
    for _ in range(5):  # per (address asked for, client address)
        ask(anon, email, "198.51.100.30")
    limited = ask(anon, email, "198.51.100.30", status=429)
    assert int(limited.headers["Retry-After"]) > 0 and limited.json["error"]["code"] == "rate_limited"
    ask(anon, email, "198.51.100.31")  # another client asking for the same address is not held back

    for _ in range(20):  # per client address, whatever addresses it asks for
        ask(anon, unique_email(), "198.51.100.32")
    assert ask(anon, unique_email(), "198.51.100.32", status=429).headers["Retry-After"]


def test_nobody_can_mail_bomb_an_address_nor_keep_its_owner_from_resetting(testapp, dbsession):
    _, email = register_and_login(testapp, password=PASSWORD)
    anon = Client(testapp)
    for n in range(6):  # from many addresses: each answer is the usual 202 ...
        ask(anon, email, f"203.0.113.{n + 1}")
    sent = mails(dbsession, email, "password_reset")
    assert len(sent) == 3  # ... but only the first few mails go out in the hour
    # the owner still holds working links: a new request never cancels the earlier ones
    first = sent[0].body.split("/reset-password/")[1].split()[0]
    anon.post(f"/password-resets/{first}", {"password": NEW_PASSWORD}, status=204)
    anon.post("/auth/tokens", {"email": email, "password": NEW_PASSWORD}, status=201)
