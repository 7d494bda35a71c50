"""The mail templates: every kind renders a subject, text and escaped HTML with storefront links."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from bookstore_api.mail.messages import TEMPLATES, MailComposer, deliverable

ORDER = SimpleNamespace(
    id=42,
    lines=[SimpleNamespace(title="<Dune> & Co", quantity=2, unit_price=Decimal("12.50"))],
    subtotal=Decimal("25.00"),
    shipping=Decimal("4.99"),
    total=Decimal("29.99"),
    currency="USD",
    payment_brand="visa",
    payment_last4="4242",
    ship_name="Ada <script>",
    ship_line1="1 Book Lane",
    ship_line2=None,
    ship_city="Lisbon",
    ship_region=None,
    ship_postal_code="1100",
    ship_country="PT",
)
BOOK = SimpleNamespace(title="<Dune>", price=Decimal("9.90"), currency="USD")
composer = MailComposer("https://shop.example.com/")
NAME = "Ada <b>"

CONTEXTS = {
    "order_confirmation": composer.order_context(ORDER, NAME),
    "order_shipped": composer.order_context(ORDER, NAME),
    "order_delivered": composer.order_context(ORDER, NAME),
    "order_cancelled": composer.order_context(ORDER, NAME),
    "password_reset": {"name": NAME, "reset_url": composer.link("/reset-password/T0KEN"), "valid_for": "1 hour"},
    "password_changed": {"name": NAME, "reset": True, "reset_page_url": composer.link("/forgot-password")},
    "verify_email": {
        "name": NAME,
        "change": False,
        "verify_url": composer.link("/verify-email/T0KEN"),
        "valid_for": "24 hours",
    },
    "email_change_notice": {
        "name": NAME,
        "new_email": "new@example.com",
        "reset_page_url": composer.link("/forgot-password"),
    },
    "back_in_stock": {"name": NAME, "book": BOOK, "book_url": composer.link("/books/7")},
}


def test_every_kind_has_a_text_and_an_html_template():
    kinds = {path.stem for path in TEMPLATES.glob("[!_]*.txt")} - {"base"}
    assert kinds == set(CONTEXTS)
    assert all((TEMPLATES / f"{kind}.html").exists() for kind in kinds)


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_each_kind_renders_text_and_escaped_html(kind):
    mail = composer.render(kind, **CONTEXTS[kind])
    assert mail.subject and "\n" not in mail.subject
    assert "Ada <b>" in mail.text and "Ada &lt;b&gt;" in mail.html and "Ada <b>" not in mail.html
    assert mail.html.startswith("<!DOCTYPE html>") and "https://shop.example.com/" in mail.html
    assert "<script>" not in mail.html and "{{" not in mail.text + mail.html


def test_order_mails_carry_lines_totals_and_the_order_page():
    mail = composer.render("order_shipped", **CONTEXTS["order_shipped"])
    assert mail.subject == "Your order #42 is on its way"
    assert "2 x <Dune> & Co @ 12.50 = 25.00" in mail.text and "Total: 29.99 USD" in mail.text
    assert "https://shop.example.com/orders/42" in mail.text
    assert 'href="https://shop.example.com/orders/42"' in mail.html and "&lt;Dune&gt; &amp; Co" in mail.html


@pytest.mark.parametrize("kind", ["order_confirmation", "order_shipped", "order_cancelled"])
def test_order_mails_show_a_vouchers_discount_line(kind):
    discounted = SimpleNamespace(**{**vars(ORDER), "discount": Decimal("2.50"), "voucher_code": "<SAVE10>"})
    discounted.total = Decimal("27.49")
    mail = composer.render(kind, **composer.order_context(discounted, NAME))
    assert "Discount (<SAVE10>): -2.50 USD" in mail.text and "Total: 27.49 USD" in mail.text
    assert "Discount (&lt;SAVE10&gt;)" in mail.html and "-2.50 USD" in mail.html
    plain = composer.render(
        kind, **composer.order_context(SimpleNamespace(**{**vars(ORDER), "discount": Decimal("0")}), NAME)
    )
    assert "Discount" not in plain.text + plain.html


def test_closed_accounts_addresses_are_never_mailed():
    assert deliverable("ada@example.com") and not deliverable("closed-1-ab@deleted.invalid")
