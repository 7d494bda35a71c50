"""The account's data: an export of everything held about it, and closing the account."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bookstore_api.accounts.models import User
from bookstore_api.addresses.models import SavedAddress
from bookstore_api.mail.models import OutboxMessage
from bookstore_api.wishlist.models import WishlistItem
from tests.helpers.clients import Client, register_and_login
from tests.helpers.commerce import ADDRESS, checkout_body, new_key
from tests.helpers.factories import make_book

PASSWORD = "correct horse battery"


def delete_me(client: Client, password: str, status: int = 204):
    return client.app.delete_json(
        "/api/v1/me", {"password": password}, headers={"Authorization": f"Bearer {client.token}"}, status=status
    )


@pytest.fixture
def shopper(testapp, dbsession, verify_email):
    """A verified customer with an address, a wish, a cart, an order and a review."""
    book = make_book(dbsession, title="Held Data", price="20.00", stock=5)
    client, email = register_and_login(testapp, password=PASSWORD, name="Dana Data")
    verify_email(client)
    client.post("/me/addresses", {**ADDRESS, "region": "Lisboa"})
    client.put(f"/me/wishlist/{book.id}", None, status=204)
    order = client.post("/orders", checkout_body([(book.id, 1)]), headers=new_key()).json
    cart = client.post("/carts", None).json
    client.put(f"/carts/{cart['id']}/items/{book.id}", {"quantity": 2})
    client.post(f"/books/{book.id}/reviews", {"rating": 4, "body": "Mine to keep."})
    return client, email, book, order


def test_export_holds_everything_about_the_account(shopper):
    client, email, book, order = shopper
    data = client.get("/me/export").json
    assert data["profile"]["email"] == email and data["profile"]["name"] == "Dana Data"
    assert data["profile"]["email_verified"] is True
    assert [a["region"] for a in data["addresses"]] == ["Lisboa"]
    assert [(w["book_id"], w["title"]) for w in data["wishlist"]] == [(book.id, "Held Data")]
    assert [o["id"] for o in data["orders"]] == [order["id"]]
    assert data["orders"][0]["lines"][0]["title"] == "Held Data" and data["orders"][0]["total"] == order["total"]
    assert [(r["book_id"], r["body"]) for r in data["reviews"]] == [(book.id, "Mine to keep.")]
    assert [(i["book_id"], i["quantity"]) for c in data["carts"] for i in c["items"]] == [(book.id, 2)]
    Client(client.app).get("/me/export", status=401)


def test_closing_the_account_needs_the_password(shopper):
    client, *_ = shopper
    assert delete_me(client, "not the password", status=403).json["error"]["code"] == "wrong_password"
    client.get("/me", status=200)


def test_a_closed_account_cannot_log_in_and_its_orders_stay_anonymised(testapp, shopper, staff, anon):
    client, email, book, order = shopper
    other_session = Client(testapp, anon.post("/auth/tokens", {"email": email, "password": PASSWORD}).json["token"])
    delete_me(client, PASSWORD)

    client.get("/me", status=401)
    other_session.get("/me", status=401)
    anon.post("/auth/tokens", {"email": email, "password": PASSWORD}, status=401)
    anon.post("/password-resets", {"email": email}, status=202)

    kept = staff.get(f"/orders/{order['id']}").json
    assert (kept["total"], kept["lines"]) == (order["total"], order["lines"])
    assert kept["shipping_address"]["name"] == "" and kept["shipping_address"]["line1"] == ""
    assert kept["shipping_address"]["region"] is None and kept["shipping_address"]["country"] == "PT"
    # the review went, and out of the book's rating
    assert anon.get(f"/books/{book.id}").json["rating_count"] == 0
    assert anon.get(f"/books/{book.id}/reviews").json["items"] == []
    # the address can sign up again, as a new account
    anon.post("/users", {"email": email, "password": PASSWORD, "name": "Dana Again"}, status=201)


@pytest.mark.needs_db
def test_closing_deletes_personal_data(testapp, shopper, dbsession):
    client, email, _, order = shopper
    user_id = client.get("/me").json["id"]
    delete_me(client, PASSWORD)
    dbsession.expire_all()
    user = dbsession.get(User, user_id)
    assert user.email.endswith("@deleted.invalid") and email not in user.email
    assert (user.name, user.is_active, user.email_verified_at) == ("", False, None)
    assert user.deleted_at is not None and not user.password_hash.startswith("$argon2")
    assert dbsession.scalars(select(SavedAddress).where(SavedAddress.user_id == user_id)).all() == []
    assert dbsession.scalars(select(WishlistItem).where(WishlistItem.user_id == user_id)).all() == []
    assert dbsession.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email)).all() == []
