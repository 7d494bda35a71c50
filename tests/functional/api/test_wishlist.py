"""The wishlist, and the one back-in-stock mail per verified wisher per restock."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers.accounts import mails
from tests.helpers.clients import register_and_login
from tests.helpers.factories import make_book


def test_wishlist_lists_books_as_the_catalogue_does(customer, anon, dbsession):
    first = make_book(dbsession, title="Wished First", stock=1)
    second = make_book(dbsession, title="Wished Second", stock=0)
    customer.put(f"/me/wishlist/{first.id}", None, status=204)
    customer.put(f"/me/wishlist/{second.id}", None, status=204)
    customer.put(f"/me/wishlist/{first.id}", None, status=204)  # idempotent
    listing = customer.get("/me/wishlist").json
    assert listing["total"] == 2 and [book["id"] for book in listing["items"]] == [second.id, first.id]
    assert listing["items"][1] == anon.get(f"/books/{first.id}").json
    customer.delete(f"/me/wishlist/{second.id}", status=204)
    customer.delete(f"/me/wishlist/{second.id}", status=204)
    assert [book["id"] for book in customer.get("/me/wishlist").json["items"]] == [first.id]
    anon.get("/me/wishlist", status=401)


def test_unknown_and_archived_books_cannot_be_wished_for(customer, dbsession):
    customer.put("/me/wishlist/987654321", None, status=404)
    gone = make_book(dbsession, title="Gone", stock=0, archived_at=dt.datetime.now(dt.UTC))
    customer.put(f"/me/wishlist/{gone.id}", None, status=404)


def test_wishlists_are_private(testapp, customer, dbsession):
    book = make_book(dbsession, title="Mine", stock=1)
    customer.put(f"/me/wishlist/{book.id}", None, status=204)
    other, _ = register_and_login(testapp)
    assert other.get("/me/wishlist").json["items"] == []


@pytest.mark.needs_db
def test_back_in_stock_mails_each_verified_wisher_once_per_restock(testapp, staff, dbsession, verify_email):
    book = make_book(dbsession, title="Sold Out Saga", stock=0)
    verified, verified_email = register_and_login(testapp)
    unverified, unverified_email = register_and_login(testapp)
    verify_email(verified)
    for client in (verified, unverified):
        client.put(f"/me/wishlist/{book.id}", None, status=204)

    def restock(delta: int, reason: str = "restock") -> None:
        staff.post(f"/books/{book.id}/stock-movements", {"delta": delta, "reason": reason})

    restock(3)
    (mail,) = mails(dbsession, verified_email, "back_in_stock")
    assert "Sold Out Saga" in mail.subject and f"/books/{book.id}" in mail.body and mail.html_body
    assert mails(dbsession, unverified_email, "back_in_stock") == []
    restock(2)  # already in stock: no news
    assert len(mails(dbsession, verified_email, "back_in_stock")) == 1
    restock(-5, "adjustment")  # sold out again, then back
    restock(1)
    assert len(mails(dbsession, verified_email, "back_in_stock")) == 2
