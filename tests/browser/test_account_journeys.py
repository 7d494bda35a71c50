"""Account journeys in a real browser, with accessibility checks on every page.

* A forgotten password: ask for a link → read it from the outbox → choose a new password (the page's
  token leaves in no ``Referer``) → log in with it.
* The wishlist: a signed-out click leads to log-in and back → add from a listing (htmx, in place) →
  the wishlist page → remove.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from .conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.needs_db]

NEW_PASSWORD = "a brand new passphrase"


def named(action: str, title: str) -> re.Pattern:
    """A button's accessible name: Chromium puts a space before the visually hidden (absolutely placed) part."""
    return re.compile(rf"^{re.escape(action)}\s*:\s*{re.escape(title)}$")


def make_customer(shop, name: str) -> str:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@example.com"
    response = httpx.post(
        f"{shop.api_url}/api/v1/users", json={"email": email, "password": PASSWORD, "name": name}, timeout=10
    )
    assert response.status_code == 201, response.text
    return email


def mailed_link(shop, recipient: str, path: str) -> str:
    """The newest ``/<path>/<token>`` link in the outbox for ``recipient``, as a local path."""
    from bookstore_api.infra.db import make_engine

    engine = make_engine({"sqlalchemy.url": shop.database_url, "sqlalchemy.pool_size": 1, "sqlalchemy.max_overflow": 0})
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT body, payload::text FROM outbox_messages WHERE recipient = :r ORDER BY id DESC"),
                {"r": recipient},
            ).all()
    finally:
        engine.dispose()
    for body, payload in rows:
        match = re.search(rf"/{path}/([A-Za-z0-9_-]+)", f"{body}\n{payload}")
        if match:
            return f"/{path}/{match.group(1)}"
    raise AssertionError(f"no /{path}/ link was mailed to {recipient}")


def test_a_shopper_resets_a_forgotten_password(visitor, shop):
    email = make_customer(shop, "Forgetful Reader")
    shopper = visitor()
    page = shopper.page

    shopper.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    shopper.check("forgot-password")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    shopper.check("forgot-password-sent")

    # the link from the mail: the page and everything it loads go without a Referer
    link = mailed_link(shop, email, "reset-password")
    referers: list[str] = []
    page.on("request", lambda request: referers.append(request.headers.get("referer") or ""))
    shopper.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    assert len(referers) > 1 and not any(referers), referers
    shopper.check("reset-password")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Save my new password").click()
    expect(page.locator("#f-new_password-error")).to_have_text("Use at least 10 characters.")
    shopper.check("reset-password-errors", phone_too=False)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save my new password").click()  # posted with "Origin: null"
    expect(page.get_by_role("heading", level=1)).to_have_text("Your password is changed")
    shopper.check("reset-password-done")

    page.get_by_role("main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".flash-success")).to_contain_text("Welcome back, Forgetful Reader.")

    # the link is spent
    shopper.goto(link)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD + "!")
    page.get_by_label("New password again").fill(NEW_PASSWORD + "!")
    page.get_by_role("button", name="Save my new password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")
    shopper.check("reset-password-invalid", phone_too=False)


def test_a_shopper_keeps_a_wishlist(visitor, shop):
    email = make_customer(shop, "Wishing Reader")
    shopper = visitor()
    page = shopper.page
    title = shop.book_title

    # signed out: the button leads to log-in, which brings the shopper back
    shopper.goto("/books?q=lighthouse")
    card = page.locator(".book-card").filter(has_text=title)
    card.get_by_role("button", name=named("Add to wishlist", title)).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.locator(".flash-info")).to_contain_text("Log in to keep a wishlist.")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/books\?q=lighthouse$"))

    # add from the listing: the button changes in place and keeps the focus
    url_before = page.url
    card = page.locator(".book-card").filter(has_text=title)
    card.get_by_role("button", name=named("Add to wishlist", title)).click()
    remove = card.get_by_role("button", name=named("Remove from wishlist", title))
    expect(remove).to_be_visible()
    expect(remove).to_be_focused()
    expect(card.locator(".wishlist-feedback")).to_have_text("Saved to your wishlist.")
    assert page.url == url_before
    shopper.check("catalogue-wishlisted")

    # the book page knows too (its shared part comes from the page cache)
    card.locator(".book-card-title").get_by_role("link", name=title).click()
    expect(page.locator(".buy-box").get_by_role("button", name=named("Remove from wishlist", title))).to_be_visible()

    # the wishlist page: add to cart from there, then remove
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Wishlist").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your wishlist")
    expect(page.locator(".book-card-title")).to_have_text([title])
    shopper.check("wishlist")
    page.locator(".book-card").get_by_role("button", name=named("Add to cart", title)).click()
    expect(page.locator("#cart-count")).to_contain_text("1")
    page.get_by_role("button", name=named("Remove from wishlist", title)).click()
    expect(page.get_by_text("Your wishlist is empty.")).to_be_visible()
    expect(page.locator("#wishlist-title")).to_be_focused()
    shopper.check("wishlist-empty")


def test_the_account_pages_are_accessible(visitor, shop):
    email = make_customer(shop, "Careful Reader")
    shopper = visitor()
    page = shopper.page
    shopper.goto("/login?next=/account")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.locator("#verify-notice")).to_be_visible()
    shopper.check("account-unverified")

    for path, heading, name in (
        ("/account/name", "Change your name", "account-name"),
        ("/account/password", "Change your password", "account-password"),
        ("/account/email", "Change your email address", "account-email"),
        ("/account/addresses", "Your addresses", "addresses"),
        ("/account/addresses/new", "Add an address", "address-new"),
        ("/account/delete", "Delete your account", "account-delete"),
    ):
        shopper.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        shopper.check(name)

    # an address, then checkout offers it
    shopper.goto("/account/addresses/new")
    page.get_by_label("Address line 1").fill("1 Library Lane")
    page.get_by_label("Town or city").fill("Springfield")
    page.get_by_label("Postal code").fill("12345")
    page.get_by_role("button", name="Save the address").click()
    expect(page.locator(".address-card")).to_have_count(1)
    shopper.check("addresses-one", phone_too=False)
    shopper.goto(f"/books/{shop.book_id}")
    page.locator(".buy-box").get_by_role("button", name=re.compile("Add to cart")).click()
    expect(page.locator("#cart-count")).to_contain_text("1")
    shopper.goto("/checkout")
    expect(page.get_by_role("radio", name=re.compile("1 Library Lane"))).to_be_checked()
    shopper.check("checkout-saved-address")

    # the e-mail confirmation page
    shopper.goto(mailed_link(shop, email, "verify-email"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email address")
    shopper.check("verify-email")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email address is confirmed")
    shopper.goto("/account")
    expect(page.locator("#verify-notice")).to_have_count(0)
