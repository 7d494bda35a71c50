"""Book pages served from the page cache: fresh after every change, never one shopper's parts in another's page."""

from __future__ import annotations

import redis

from bookstore_web.pagecache import CART_COUNT_SLOT, CSRF_SLOT, REVIEW_SLOT
from tests.helpers import live
from tests.helpers.factories import make_book

from .account_helpers import confirm_address
from .conftest import add_to_cart, checkout, csrf_token, register

SLOTS = (str(CSRF_SLOT), str(REVIEW_SLOT), str(CART_COUNT_SLOT))


def cached_pages(request, book_id: int) -> list[bytes] | None:
    """The book's cached pages in Redis (None on a deployed shop, whose Redis the test cannot see)."""
    if live.TARGET.live:
        return None
    services = request.getfixturevalue("services")
    client = redis.Redis.from_url(services.redis_url)
    try:
        return list(client.scan_iter(match=f"{services.redis_prefix}web:book:*:{book_id}:*", count=1000))
    finally:
        client.close()


def stock_text(page) -> str:
    return page.html.select_one(".buy-box .stock").text.strip()


def test_a_sale_and_a_review_show_on_the_cached_page_at_once(web, other_browser, request, dbsession):
    scarce = make_book(dbsession, title="Three Copies Left", stock=3)
    assert stock_text(other_browser.get(f"/books/{scarce.id}")) == "Only 3 left"
    pages = cached_pages(request, scarce.id)
    assert pages is None or len(pages) == 1  # the page is served from the cache from now on
    assert stock_text(other_browser.get(f"/books/{scarce.id}")) == "Only 3 left"

    confirm_address(web, dbsession, register(web, name="Quick Buyer"))  # reviews need a confirmed address
    add_to_cart(web, scarce.id, 1)
    checkout(web).submit(status=303)

    assert stock_text(other_browser.get(f"/books/{scarce.id}")) == "Only 2 left"
    pages = cached_pages(request, scarce.id)
    assert pages is None or len(pages) == 2  # a new version, rendered once

    form = web.get(f"/books/{scarce.id}").forms["review-form"]
    form["rating"], form["body"] = "5", "Worth every page."
    form.submit(status=303)

    page = other_browser.get(f"/books/{scarce.id}")
    assert "Worth every page." in page.html.select_one(".review").text
    assert "5.0" in page.html.select_one(".rating-line").text


def test_the_shared_page_carries_each_shoppers_own_parts(web, other_browser, dbsession):
    book = make_book(dbsession, title="Shared Page", stock=10)
    register(web, name="Signed In Reader")
    add_to_cart(web, book.id, 2)

    mine = web.get(f"/books/{book.id}")
    visitors = other_browser.get(f"/books/{book.id}")  # the same cached entry, another shopper

    assert "Log out" in mine.text and "Log out" not in visitors.text
    assert mine.html.find(id="cart-count").get_text(strip=True).startswith("2")
    assert visitors.html.find(id="cart-count").get_text(strip=True).startswith("0")
    assert "Log in</a> to review" in visitors.text and "Log in</a> to review" not in mine.text
    assert csrf_token(mine) != csrf_token(visitors)
    for page in (mine, visitors):
        assert not any(slot in page.text for slot in SLOTS)
        assert page.headers["Cache-Control"] == "private, no-cache"

    # the visitor's own token works on the cached page's form; the signed-in shopper's would not
    added = other_browser.post("/cart/items", {"book_id": str(book.id), "csrf_token": csrf_token(visitors)})
    assert added.status_int == 303
    assert other_browser.get(f"/books/{book.id}").html.find(id="cart-count").get_text(strip=True).startswith("1")
    other_browser.post("/cart/items", {"book_id": str(book.id), "csrf_token": csrf_token(mine)}, status=400)


def test_a_message_waiting_for_a_visitor_is_shown_on_the_book_page(web, dbsession):
    gone = make_book(dbsession, title="Sold Out Copy", stock=0)
    web.get(f"/books/{gone.id}")  # cached

    refused = add_to_cart(web, gone.id, 1)  # flashes "out of stock" and redirects to the book

    page = refused.follow()
    assert "“Sold Out Copy” is out of stock." in page.text
    assert "out of stock." not in web.get(f"/books/{gone.id}").text.replace("Out of stock", "")
