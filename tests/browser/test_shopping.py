"""A shopper's and a staff member's day in a real browser, with accessibility checks on every page.

browse → search → book → add to cart → register → checkout → order page; then staff
restock the book and ship the order. Each page is checked with axe-core (WCAG 2 A/AA)
and screenshotted at desktop and phone widths.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers.commerce import FUTURE_EXPIRY

from .conftest import PASSWORD, STAFF_EMAIL

pytestmark = [pytest.mark.slow, pytest.mark.needs_db]


def test_shopper_buys_a_book_and_staff_restock_and_ship_it(visitor, shop):
    shopper = visitor()
    page = shopper.page

    # browse
    shopper.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Find your next favourite book")
    shopper.check("home")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Browse").click()
    expect(page).to_have_url(re.compile(r"/books$"))
    shopper.check("catalogue")

    # live search suggestions (htmx), then the full results with a typo
    search = page.get_by_label("Search books by title, author or topic")
    search.press_sequentially("quiet lighthouse", delay=20)
    suggestion = page.locator("#search-suggestions").get_by_role("link", name=re.compile("The Quiet Lighthouse"))
    expect(suggestion).to_be_visible()
    search.fill("quiet lighthuose")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/books\?q=quiet\+lighthuose"))
    expect(page.locator(".book-card-title").first).to_have_text(shop.book_title)
    shopper.check("search-results")

    # htmx filters: the results change in place and the URL follows
    page.get_by_label("In stock only").check()
    expect(page).to_have_url(re.compile(r"in_stock=1"))
    expect(page.locator("#results-title")).to_be_focused()

    # the book page, add to cart without a reload
    page.locator(".book-card-title").get_by_role("link", name=shop.book_title).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(shop.book_title)
    shopper.check("book")
    page.get_by_label("Quantity").fill("2")
    url_before = page.url
    page.locator(".buy-box").get_by_role("button", name=re.compile("Add to cart")).click()
    expect(page.locator(".buy-box .cart-feedback")).to_contain_text(f"Added “{shop.book_title}” to your cart.")
    expect(page.locator("#cart-count")).to_contain_text("2")
    assert page.url == url_before  # no navigation happened

    # the author page
    page.locator(".byline").get_by_role("link", name="Mara Quill").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mara Quill")
    shopper.check("author")

    # the cart: change the quantity in place
    page.get_by_role("link", name=re.compile(r"^Cart")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    quantity = page.get_by_label(f"Quantity of {shop.book_title}")
    expect(quantity).to_have_value("2")
    quantity.fill("1")
    quantity.dispatch_event("change")
    expect(page.locator(".subtotal")).to_contain_text("$14.50")
    expect(page.locator("#cart-count")).to_contain_text("1")
    shopper.check("cart")

    # checkout asks to log in; the shopper registers instead and comes back
    page.get_by_role("link", name="Go to checkout").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    shopper.check("login")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
    shopper.check("register")
    page.get_by_role("button", name="Create account").click()  # empty form: inline errors
    expect(page.locator("#f-email-error")).to_be_visible()
    shopper.check("register-errors", phone_too=False)
    page.get_by_label("Your name").fill("Ada Reader")
    page.get_by_label("Email address").fill(f"ada-{shop.book_id}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    # checkout: a declined card first, then an approved one
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout")
    expect(page.locator("#cart-count")).to_contain_text("1")  # the anonymous cart came along
    shopper.check("checkout")
    page.get_by_label("Address line 1").fill("1 Library Lane")
    page.get_by_label("Town or city").fill("Springfield")
    page.get_by_label("Postal code").fill("12345")
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_label("Expiry (MM/YY)").fill(FUTURE_EXPIRY)
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name=re.compile("Place order")).click()
    expect(page.locator("#form-errors")).to_contain_text("Your card was declined")
    shopper.check("checkout-declined", phone_too=False)
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill(FUTURE_EXPIRY)
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name=re.compile("Place order")).click()

    # the order confirmation and the order list
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you — your order is placed")
    expect(page.locator(".status")).to_have_text("Paid — being prepared")
    order_url = page.url.split("?")[0]
    order_id = order_url.rsplit("/", 1)[1]
    shopper.check("order-confirmation")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("link", name=f"Order {order_id}")).to_be_visible()
    shopper.check("orders")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    shopper.check("account")

    # staff: restock the book (it is low now) and ship the order
    staff = visitor()
    spage = staff.page
    staff.goto("/login?next=/staff")
    spage.get_by_label("Email address").fill(STAFF_EMAIL)
    spage.get_by_label("Password").fill(PASSWORD)
    spage.get_by_role("button", name="Log in").click()
    expect(spage.get_by_role("heading", level=1)).to_have_text("Back-office")
    staff.check("staff-dashboard")
    spage.get_by_role("navigation", name="Back-office").get_by_role("link", name="Low stock").click()
    expect(spage.get_by_role("heading", level=1)).to_have_text("Low stock")
    staff.check("staff-low-stock")
    spage.get_by_role("link", name=f"Restock {shop.book_title}").click()
    expect(spage.locator("#stock-quantity")).to_have_text("2")
    spage.get_by_label("Change in copies").fill("10")
    spage.get_by_label("Note").fill("Delivery from Harbour Press")
    spage.get_by_role("button", name="Record change").click()
    expect(spage.locator("#stock-quantity")).to_have_text("12")
    expect(spage.locator("section[aria-labelledby=ledger-title] tbody tr").first).to_contain_text("+10")
    staff.check("staff-stock")

    spage.get_by_role("navigation", name="Back-office").get_by_role("link", name="Books").click()
    staff.check("staff-books")
    spage.get_by_label("Find books").fill("quiet lighthouse")
    spage.get_by_role("button", name="Find").click()
    spage.get_by_role("link", name=f"Edit {shop.book_title}").first.click()
    expect(spage.get_by_label("Title", exact=True)).to_have_value(shop.book_title)
    staff.check("staff-book-edit")
    staff.goto("/staff/books/new")
    staff.check("staff-book-new")

    spage.get_by_role("navigation", name="Back-office").get_by_role("link", name="Orders").click()
    staff.check("staff-orders")
    spage.get_by_role("button", name=re.compile(rf"Mark shipped\s*: order {order_id}$")).click()
    expect(spage.locator(".flash-success")).to_have_text(f"Order {order_id} is marked shipped.")
    spage.get_by_role("link", name="Shipped").click()
    spage.get_by_role("link", name=f"Order {order_id}").click()
    expect(spage.locator(".status")).to_have_text("Shipped")
    staff.check("staff-order")

    # the shopper sees the order shipped; it can no longer be cancelled
    shopper.goto(order_url)
    expect(page.locator(".status")).to_have_text("Shipped")
    expect(page.get_by_role("button", name="Cancel this order")).to_have_count(0)
    shopper.check("order")


def test_pages_work_with_javascript_off(browser, shop, screenshots):
    context = browser.new_context(java_script_enabled=False, base_url=shop.web_url)
    try:
        page = context.new_page()
        page.goto("/books?q=lighthouse")
        page.locator(".book-card").filter(has_text=shop.book_title).get_by_role(
            "button", name=re.compile("Add to cart")
        ).click()
        expect(page).to_have_url(re.compile(r"/cart$"))
        expect(page.locator(".flash-success")).to_contain_text("Added")
        page.get_by_label(f"Quantity of {shop.book_title}").fill("0")
        page.get_by_role("button", name=re.compile(f"Update quantity of {shop.book_title}")).click()
        expect(page.get_by_text("Your cart is empty.")).to_be_visible()
        page.goto("/books?page=2")
        expect(page.locator("#results-title")).to_contain_text("25–")
        page.screenshot(path=str(screenshots / "catalogue-page-2-no-javascript-desktop.png"))
    finally:
        context.close()


def test_error_pages_are_accessible(visitor):
    shopper = visitor()
    response = shopper.goto("/no/such/page")
    assert response.status == 404
    expect(shopper.page.get_by_role("heading", level=1)).to_have_text("Page not found")
    shopper.check("not-found")


def test_staff_manage_a_webhook(visitor):
    """Add a webhook (the secret shown once), send a test event, read the log; every page accessible."""
    staff = visitor()
    page = staff.page
    staff.goto("/login?next=/staff/webhooks")
    page.get_by_label("Email address").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    staff.check("staff-webhooks")
    page.get_by_label("Receiving URL").fill("https://93.184.215.14/erp-hooks")
    page.get_by_label(re.compile("^Order shipped")).check()
    page.get_by_label("Description").fill("Warehouse")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook added")
    expect(page.get_by_role("textbox", name="Secret")).to_have_value(re.compile(r"^whsec_"))
    staff.check("staff-webhook-created", phone_too=False)  # a reload would not show the secret again
    page.get_by_role("link", name="Go to the webhook").click()
    page.get_by_role("button", name="Send a test event").click()
    expect(page.locator("#deliveries tbody tr").first).to_contain_text("webhook.test")
    staff.check("staff-webhook")
