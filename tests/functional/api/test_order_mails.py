"""Order mails: confirmation, shipped, delivered, cancelled and refunded; lines, totals and a link to
the storefront's order page, as text and as HTML."""

from __future__ import annotations

import pytest

from tests.helpers.accounts import mails
from tests.helpers.clients import register_and_login
from tests.helpers.commerce import checkout_body, new_key
from tests.helpers.factories import make_book

pytestmark = pytest.mark.needs_db  # the mails are read from the outbox

STOREFRONT = "http://127.0.0.1:6544"  # the default storefront URL (testing.ini sets none)


@pytest.fixture
def ordered(testapp, dbsession):
    book = make_book(dbsession, title="Mail <Order> & Co", price="12.50", stock=5)
    client, email = register_and_login(testapp, name="Olga <b>Buyer</b>")
    order = client.post("/orders", checkout_body([(book.id, 2)]), headers=new_key()).json
    return client, email, order


def check(mail, order, words: str) -> None:
    link = f"{STOREFRONT}/orders/{order['id']}"
    assert words in mail.subject and f"#{order['id']}" in mail.subject
    assert link in mail.body and f'href="{link}"' in mail.html_body
    assert "2 x Mail <Order> & Co @ 12.50 = 25.00" in mail.body
    assert f"Total: {order['total']} USD" in mail.body
    # the HTML part escapes what customers and staff typed
    assert "Mail &lt;Order&gt; &amp; Co" in mail.html_body and "<Order>" not in mail.html_body
    assert "Olga &lt;b&gt;Buyer&lt;/b&gt;" in mail.html_body and "<b>Buyer</b>" not in mail.html_body
    assert order["total"] in mail.html_body


def test_confirmation_shipped_and_delivered(ordered, staff, dbsession):
    _, email, order = ordered
    (confirmation,) = mails(dbsession, email, "order_confirmation")
    check(confirmation, order, "Your order")
    assert "Paid with visa ending 4242" in confirmation.body

    staff.post(f"/orders/{order['id']}/ship", status=200)
    (shipped,) = mails(dbsession, email, "order_shipped")
    check(shipped, order, "on its way")
    assert "1 Book Lane" in shipped.body  # where it goes

    staff.post(f"/orders/{order['id']}/deliver", status=200)
    (delivered,) = mails(dbsession, email, "order_delivered")
    check(delivered, order, "delivered")


def test_cancelled_and_refunded(ordered, dbsession):
    client, email, order = ordered
    client.post(f"/orders/{order['id']}/cancel", status=200)
    (cancelled,) = mails(dbsession, email, "order_cancelled")
    check(cancelled, order, "cancelled")
    assert f"payment of {order['total']} USD" in cancelled.body and "refunded" in cancelled.body
    assert mails(dbsession, email, "order_shipped") == []


def test_the_order_page_link_follows_the_storefront_setting():
    from bookstore_api.mail.messages import MailComposer

    composer = MailComposer("https://shop.example.com/")
    assert composer.link("/orders/7") == "https://shop.example.com/orders/7"
