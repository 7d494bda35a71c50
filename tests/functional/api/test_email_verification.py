"""E-mail verification: mailed at sign-up, confirmed once with its link; what an unverified account may do."""

from __future__ import annotations

import pytest
from sqlalchemy import func, update

from bookstore_api.accounts.models import AccountToken
from tests.helpers.accounts import mailed_token, mails
from tests.helpers.clients import Client, register_and_login
from tests.helpers.commerce import checkout_body, new_key
from tests.helpers.factories import make_book

pytestmark = pytest.mark.needs_db  # the links are read from the outbox


def test_sign_up_mails_a_link_that_confirms_the_address_once(testapp, dbsession):
    client, email = register_and_login(testapp)
    assert client.get("/me").json["email_verified"] is False
    (mail,) = mails(dbsession, email, "verify_email")
    assert mail.html_body and "/verify-email/" in mail.html_body and mail.subject == "Confirm your e-mail address"
    token = mailed_token(dbsession, email, "verify_email")
    anon = Client(testapp)
    anon.post(f"/email-verifications/{token}", None, status=204)
    assert client.get("/me").json["email_verified"] is True
    again = anon.post(f"/email-verifications/{token}", None, status=400)
    assert again.json["error"]["code"] == "invalid_token"


def test_an_expired_link_is_invalid(testapp, dbsession):
    client, email = register_and_login(testapp)
    token = mailed_token(dbsession, email, "verify_email")
    dbsession.execute(
        update(AccountToken)
        .where(AccountToken.email == email)
        .values(expires_at=func.now() - func.make_interval(0, 0, 0, 0, 1))
    )
    dbsession.flush()
    response = Client(testapp).post(f"/email-verifications/{token}", None, status=400)
    assert response.json["error"]["code"] == "invalid_token"
    assert client.get("/me").json["email_verified"] is False


def test_a_reset_token_does_not_verify_and_a_verification_token_does_not_reset(testapp, dbsession):
    _, email = register_and_login(testapp)
    token = mailed_token(dbsession, email, "verify_email")
    response = Client(testapp).post(f"/password-resets/{token}", {"password": "a brand new passphrase"}, status=400)
    assert response.json["error"]["code"] == "invalid_token"


def test_resend_mails_a_new_link_and_is_rate_limited(testapp, dbsession):
    client, email = register_and_login(testapp)
    assert client.post("/email-verifications", None, status=202).json["message"]
    assert len(mails(dbsession, email, "verify_email")) == 2
    for _ in range(4):
        client.post("/email-verifications", None, status=202)
    limited = client.post("/email-verifications", None, status=429)
    assert int(limited.headers["Retry-After"]) > 0
    assert len(mails(dbsession, email, "verify_email")) == 6
    Client(testapp).post("/email-verifications", None, status=401)


def test_a_verified_account_gets_no_more_links(testapp, dbsession, verify_email):
    client, email = register_and_login(testapp)
    verify_email(client)
    count = len(mails(dbsession, email, "verify_email"))
    client.post("/email-verifications", None, status=202)
    assert len(mails(dbsession, email, "verify_email")) == count


def test_unverified_accounts_shop_but_do_not_review(testapp, dbsession, verify_email):
    book = make_book(dbsession, title="Unverified Read", stock=3)
    client, _ = register_and_login(testapp)
    client.put(f"/me/wishlist/{book.id}", None, status=204)
    client.post(
        "/me/addresses", {"name": "U", "line1": "1 Road", "city": "Porto", "postal_code": "4000", "country": "pt"}
    )
    cart = client.post("/carts", None).json
    client.put(f"/carts/{cart['id']}/items/{book.id}", {"quantity": 1})
    client.post("/orders", checkout_body(cart_id=cart["id"]), headers=new_key(), status=201)
    refused = client.post(f"/books/{book.id}/reviews", {"rating": 5, "body": "Great."}, status=403)
    assert refused.json["error"]["code"] == "email_unverified"
    verify_email(client)
    client.post(f"/books/{book.id}/reviews", {"rating": 5, "body": "Great."}, status=201)
