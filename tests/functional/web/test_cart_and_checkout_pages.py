"""Cart (anonymous and signed in, merged at log-in), checkout, order pages, cancelling, reviews."""

from __future__ import annotations

import webtest

from tests.helpers.accounts import mailed_token
from tests.helpers.clients import Client
from tests.helpers.factories import current_stock, make_book, set_stock

from .conftest import DECLINED_CARD, add_to_cart, checkout, csrf_token, htmx, log_in, register


def confirm_address(api_app, dbsession, email: str) -> None:
    """Use the verification link the API mailed at sign-up (read from the outbox)."""
    token = mailed_token(dbsession, email, "verify_email")
    Client(webtest.TestApp(api_app)).post(f"/email-verifications/{token}", None, status=204)


def cart_rows(page) -> list[tuple[str, str]]:
    return [
        (row.find("th").get_text(" ", strip=True), row.find("input", attrs={"name": "quantity"})["value"])
        for row in page.html.select(".cart-table tbody tr")
    ]


def test_anonymous_shopper_adds_books_without_javascript(web, book):
    response = add_to_cart(web, book.id, 2)

    assert response.status_int == 303 and response.location.endswith("/cart")
    cart = response.follow()
    assert cart_rows(cart) == [("The Quiet Lighthouse", "2")]
    assert "Subtotal (2 items): $29.00" in cart.html.select_one(".subtotal").get_text(" ", strip=True)
    assert cart.html.find(id="cart-count").get_text(strip=True).startswith("2")
    assert "Added “The Quiet Lighthouse” to your cart." in cart.text

    add_to_cart(web, book.id, 1)
    assert cart_rows(web.get("/cart")) == [("The Quiet Lighthouse", "3")]


def test_add_to_cart_with_htmx_updates_in_place(web, book):
    token = csrf_token(web.get(f"/books/{book.id}"))

    fragment = web.post("/cart/items", {"book_id": str(book.id), "csrf_token": token}, headers=htmx())

    assert "<html" not in fragment.text
    assert "Added “The Quiet Lighthouse” to your cart." in fragment.text
    badge = fragment.html.find(id="cart-count")
    assert badge["hx-swap-oob"] == "true" and badge.get_text(strip=True).startswith("1")


def test_cannot_add_more_than_the_stock(web, dbsession):
    scarce = make_book(dbsession, title="Scarce Copy", stock=2)
    gone = make_book(dbsession, title="Gone Copy", stock=0)

    add_to_cart(web, scarce.id, 5).follow()
    assert cart_rows(web.get("/cart")) == [("Scarce Copy", "2")]
    refused = add_to_cart(web, gone.id, 1)
    assert refused.location.endswith(f"/books/{gone.id}")
    assert "“Gone Copy” is out of stock." in refused.follow().text


def test_change_quantity_and_remove(web, dbsession, book):
    other = make_book(dbsession, title="Second Book", price="3.25", stock=10)
    add_to_cart(web, book.id, 1)
    add_to_cart(web, other.id, 1)

    cart = web.get("/cart")
    form = next(f for f in cart.forms.values() if f.action == f"/cart/items/{other.id}" and "quantity" in f.fields)
    form["quantity"] = "4"
    cart = form.submit().follow()
    assert cart_rows(cart) == [("The Quiet Lighthouse", "1"), ("Second Book", "4")]
    assert "$27.50" in cart.html.select_one(".subtotal").text  # 14.50 + 4 × 3.25

    remove = next(f for f in cart.forms.values() if f.action == f"/cart/items/{book.id}" and "action" in f.fields)
    cart = remove.submit().follow()
    assert cart_rows(cart) == [("Second Book", "4")]
    assert "Removed from your cart." in cart.text


def test_quantity_change_with_htmx_returns_the_cart(web, book):
    add_to_cart(web, book.id, 1)
    token = csrf_token(web.get("/cart"))

    fragment = web.post(f"/cart/items/{book.id}", {"quantity": "3", "csrf_token": token}, headers=htmx())

    assert fragment.text.lstrip().startswith('<section id="cart"')
    assert cart_rows(fragment) == [("The Quiet Lighthouse", "3")]
    assert fragment.html.find(id="cart-count")["hx-swap-oob"] == "true"


def test_quantity_above_stock_is_capped(web, book):
    add_to_cart(web, book.id, 1)
    token = csrf_token(web.get("/cart"))

    cart = web.post(f"/cart/items/{book.id}", {"quantity": "50", "csrf_token": token}).follow()

    assert cart_rows(cart) == [("The Quiet Lighthouse", "7")]
    assert "Only 7 copies of “The Quiet Lighthouse” are available." in cart.text


def test_bad_quantity_is_a_400_page(web, book):
    add_to_cart(web, book.id, 1)
    token = csrf_token(web.get("/cart"))
    page = web.post(f"/cart/items/{book.id}", {"quantity": "lots", "csrf_token": token}, status=400)
    assert "Enter a whole number of copies." in page.text


def test_empty_cart(web):
    page = web.get("/cart")
    assert "Your cart is empty." in page.text


def test_anonymous_cart_is_merged_into_the_account_at_login(web, other_browser, dbsession, book):
    email = register(other_browser)
    other = make_book(dbsession, title="Kept In Account", stock=5)
    add_to_cart(other_browser, other.id, 1)  # the account's own cart
    add_to_cart(web, book.id, 2)  # anonymous

    log_in(web, email).follow()

    assert sorted(cart_rows(web.get("/cart"))) == [("Kept In Account", "1"), ("The Quiet Lighthouse", "2")]
    assert web.get("/cart").html.find(id="cart-count").get_text(strip=True).startswith("3")


def test_checkout_requires_login_and_comes_back(web, book):
    add_to_cart(web, book.id, 1)

    response = web.get("/checkout", status=303)

    assert "/login?next=%2Fcheckout" in response.location


def test_checkout_places_one_order_and_shows_the_confirmation(web, dbsession, book):
    register(web)
    add_to_cart(web, book.id, 2)

    placed = checkout(web).submit(status=303)

    assert "placed=1" in placed.location
    confirmation = placed.follow()
    assert confirmation.html.find("h1").text.strip() == "Thank you — your order is placed"
    assert "Paid — being prepared" in confirmation.text
    assert "The Quiet Lighthouse" in confirmation.html.select_one(".order-lines").text
    assert "$29.00" in confirmation.html.select_one(".order-lines").text
    assert current_stock(dbsession, book.id) == 5
    assert web.get("/cart").html.find(id="cart-count").get_text(strip=True).startswith("0")
    orders = web.get("/orders")
    assert len(orders.html.select(".orders-table tbody tr")) == 1


def test_submitting_the_same_checkout_form_twice_makes_one_order(web, dbsession, book):
    register(web)
    add_to_cart(web, book.id, 1)
    form = checkout(web)

    first = form.submit(status=303)
    second = form.submit(status=303)  # a double click, or a retry: same form, same Idempotency-Key

    assert first.location == second.location
    assert len(web.get("/orders").html.select(".orders-table tbody tr")) == 1


def test_checkout_field_errors_are_inline(web, book):
    register(web)
    add_to_cart(web, book.id, 1)
    form = checkout(web, card="1234 5678 9012 3456", expiry="13/30", city="")

    page = form.submit(status=400)

    assert page.html.find(id="f-card_number-error") is not None
    assert page.html.find(id="f-expiry-error").text == "Enter the expiry date as MM/YY, for example 04/29."
    assert page.html.find(id="f-city-error").text == "Enter the town or city."
    assert page.html.find("input", id="f-line1")["value"] == "1 Library Lane"  # kept
    assert page.html.find("input", id="f-card_number")["value"] == ""  # card details never echoed


def test_declined_card_is_explained_and_takes_no_stock(web, dbsession, book):
    register(web)
    add_to_cart(web, book.id, 1)

    page = checkout(web, card=DECLINED_CARD).submit(status=402)

    assert "Your card was declined, and nothing was charged." in page.text
    assert page.html.select("#form-errors li") == []  # a declined card is not a field error
    assert current_stock(dbsession, book.id) == 7
    assert cart_rows(web.get("/cart")) == [("The Quiet Lighthouse", "1")]  # the cart is kept


def test_out_of_stock_at_checkout_is_explained(web, dbsession, book):
    register(web)
    add_to_cart(web, book.id, 3)
    form = checkout(web)
    set_stock(dbsession, book.id, 1)  # someone else bought the rest meanwhile

    page = form.submit(status=409)

    assert "Some books in your cart have sold out" in page.text
    short = page.html.select_one(".notice-warning")
    assert "The Quiet Lighthouse" in short.text and "1 available" in short.text


def test_customer_cancels_an_order_and_stock_returns(web, dbsession, book):
    register(web)
    add_to_cart(web, book.id, 2)
    order_page = checkout(web).submit().follow()

    cancelled = order_page.forms[next(k for k, f in order_page.forms.items() if "cancel" in f.action)].submit().follow()

    assert "Your order is cancelled." in cancelled.text
    assert "Cancelled" in cancelled.html.select_one(".status").text
    assert not [f for f in cancelled.forms.values() if "cancel" in f.action]
    assert current_stock(dbsession, book.id) == 7


def test_another_customers_order_is_404(web, other_browser, book):
    register(web)
    add_to_cart(web, book.id, 1)
    order_url = checkout(web).submit().location.split("?")[0]
    register(other_browser)

    page = other_browser.get(order_url, status=404)

    assert page.html.find("h1").text.strip() == "Page not found"


def test_buyer_reviews_a_book(web, book, api_app, dbsession):
    email = register(web)
    confirm_address(api_app, dbsession, email)  # reviews need a verified e-mail address
    page = web.get(f"/books/{book.id}")
    assert page.html.find(id="review-form") is None  # not bought yet
    add_to_cart(web, book.id, 1)
    checkout(web).submit()

    form = web.get(f"/books/{book.id}").forms["review-form"]
    form["rating"] = "4"
    form["title"] = "Haunting"
    form["body"] = "Read it in one sitting."
    page = form.submit(status=303).follow()

    assert "Thank you! Your review is published." in page.text
    review = page.html.select_one(".review")
    assert "Haunting" in review.text and "Read it in one sitting." in review.text and "Ada Reader" in review.text
    assert "4.0" in page.html.select_one(".rating-line").text

    again = web.get(f"/books/{book.id}")
    assert again.html.find(id="review-form") is None  # reviewed: the API's can_review is now false
    posted = web.post(
        f"/books/{book.id}/reviews", {"rating": "5", "body": "Second thoughts", "csrf_token": csrf_token(again)}
    )
    assert "already reviewed" in posted.follow().text


def test_review_form_errors_are_inline(web, book, api_app, dbsession):
    confirm_address(api_app, dbsession, register(web))  # the form is shown to confirmed addresses only
    add_to_cart(web, book.id, 1)
    checkout(web).submit()

    form = web.get(f"/books/{book.id}").forms["review-form"]
    page = form.submit(status=400)

    assert page.html.find(id="rating-error").text == "Choose a rating from 1 to 5 stars."
    assert page.html.find(id="body-error").text == "Tell other readers what you thought."
