"""Listings (home, the catalogue, search results, genre and author pages) served from the listing
cache: current on the next view after a sale or an edit, never one shopper's parts in another's page."""

from __future__ import annotations

import pytest
import redis
import webtest

from bookstore_web.pagecache import CART_COUNT_SLOT, CSRF_SLOT, RETURN_SLOT
from tests.helpers import live
from tests.helpers.factories import make_book, set_stock

from .conftest import BROWSER, add_to_cart, checkout, csrf_token, htmx, register, staff_member
from .test_without_redis import own_redis, shop, web_app_on_own_redis  # noqa: F401 - fixtures

SLOTS = (str(CSRF_SLOT), str(CART_COUNT_SLOT), str(RETURN_SLOT))


def cached_listings(request) -> int | None:
    """How many listings the cache holds (None on a deployed shop, whose Redis the test cannot see)."""
    if live.TARGET.live:
        return None
    services = request.getfixturevalue("services")
    client = redis.Redis.from_url(services.redis_url)
    try:
        keys = client.scan_iter(match=f"{services.redis_prefix}web:list:*", count=1000)
        return len([key for key in keys if not key.endswith(b":seen")])
    finally:
        client.close()


def card(page, book_id: int):
    """The book's card on a listing page (None when it is not listed)."""
    for item in page.html.select(".book-card"):
        if item.select_one(f'.book-card-title a[href="/books/{book_id}"]'):
            return item
    return None


def stock_on(page, book_id: int) -> str:
    return card(page, book_id).select_one(".stock").text.strip()


def price_on(page, book_id: int) -> str:
    return card(page, book_id).select_one(".price").text.strip()


def test_a_sale_shows_on_every_cached_listing_at_once(web, other_browser, request, dbsession):
    scarce = make_book(dbsession, title="Three Copies Left", authors=("Lena Listwood",), genres=("tidepools",), stock=3)
    author_id = card(other_browser.get("/books", {"genre": "tidepools"}), scarce.id).select_one(".book-card-authors a")[
        "href"
    ]
    listings = {
        "genre": ("/books", {"genre": "tidepools"}),
        "sorted": ("/books", {"genre": "tidepools", "sort": "price", "in_stock": "1"}),
        "search": ("/books", {"q": "Three Copies Left"}),
        "author": (author_id, {}),
        "home": ("/", {}),
    }
    for path, params in listings.values():
        assert stock_on(other_browser.get(path, params), scarce.id) == "Only 3 left"
    # a first view stores no page, only that it was seen (the genre page had its second view)
    assert cached_listings(request) in (None, 1)
    for path, params in listings.values():  # the second view stores it
        assert stock_on(other_browser.get(path, params), scarce.id) == "Only 3 left"
    stored = cached_listings(request)
    assert stored is None or stored == len(listings)
    for path, params in listings.values():  # now from the cache
        assert stock_on(other_browser.get(path, params), scarce.id) == "Only 3 left"
    assert stored is None or cached_listings(request) == stored

    register(web, name="Quick Buyer")
    add_to_cart(web, scarce.id, 1)
    checkout(web).submit(status=303)

    for name, (path, params) in listings.items():
        assert stock_on(other_browser.get(path, params), scarce.id) == "Only 2 left", name
    part = other_browser.get("/books", {"genre": "tidepools"}, headers=htmx(**{"HX-Target": "results"}))
    assert part.text.lstrip().startswith('<section id="results"')
    assert stock_on(part, scarce.id) == "Only 2 left"


def test_a_staff_edit_shows_on_the_next_view(web, other_browser, dbsession, api_app):
    book = make_book(dbsession, title="Edited Tides", genres=("estuaries",), price="10.00", stock=7)
    make_book(dbsession, title="Other Estuary", genres=("estuaries", "lagoons"), price="12.00", stock=7)
    genre_page = other_browser.get("/books", {"genre": "estuaries", "sort": "price"})
    assert price_on(genre_page, book.id) == "$10.00"
    assert card(other_browser.get("/books", {"genre": "lagoons"}), book.id) is None

    staff_member(dbsession, api_app, web)
    form = web.get(f"/staff/books/{book.id}/edit").forms["book-form"]
    form["title"], form["price"] = "Edited Tides (2nd ed.)", "16.00"
    for box in form.fields["genres"]:
        box.checked = box._value in ("estuaries", "lagoons")
    form.submit(status=303)

    genre_page = other_browser.get("/books", {"genre": "estuaries", "sort": "price"})
    assert price_on(genre_page, book.id) == "$16.00"
    assert card(genre_page, book.id).select_one(".book-card-title").text.strip() == "Edited Tides (2nd ed.)"
    assert [c.select_one(".book-card-title").text.strip() for c in genre_page.html.select(".book-card")] == [
        "Other Estuary",
        "Edited Tides (2nd ed.)",
    ]  # re-priced: the order follows
    assert card(other_browser.get("/books", {"genre": "lagoons"}), book.id) is not None  # genre added

    restock = web.get(f"/staff/books/{book.id}/stock").forms["stock-form"]
    restock["delta"], restock["reason"] = "-2", "adjustment"
    restock.submit(status=303)
    assert stock_on(other_browser.get("/books", {"genre": "lagoons"}), book.id) == "Only 5 left"


def test_new_and_archived_books_appear_and_go_at_once(web, other_browser, dbsession, api_app):
    make_book(dbsession, title="Resident Reef", genres=("reefs",), stock=4)
    before = other_browser.get("/books", {"genre": "reefs"})
    assert [c.select_one(".book-card-title").text.strip() for c in before.html.select(".book-card")] == [
        "Resident Reef"
    ]
    other_browser.get("/")

    staff_member(dbsession, api_app, web)
    form = web.get("/staff/books/new").forms["book-form"]
    form["isbn"], form["title"], form["price"], form["authors"] = "9780306406157", "Newcomer Reef", "9.00", "N Ew"
    for box in form.fields["genres"]:
        box.checked = box._value == "reefs"
    stock_page = form.submit(status=303).follow()
    new_id = int(stock_page.html.find("a", string="View in shop")["href"].rstrip("/").rsplit("/", 1)[-1])
    live.record("book", str(new_id))
    adjust = stock_page.forms["stock-form"]
    adjust["delta"], adjust["reason"] = "6", "restock"
    adjust.submit(status=303)

    after = other_browser.get("/books", {"genre": "reefs"})
    assert stock_on(after, new_id) == "In stock"
    assert card(other_browser.get("/"), new_id) is not None  # the newest arrival, on the home page

    edit = web.get(f"/staff/books/{new_id}/edit")
    archive = next(f for f in edit.forms.values() if f.action.endswith("/archive"))
    archive.submit(status=303)
    assert card(other_browser.get("/books", {"genre": "reefs"}), new_id) is None
    assert card(other_browser.get("/"), new_id) is None


def test_each_shopper_gets_their_own_parts_of_a_shared_listing(web, other_browser, request, dbsession):
    loved = make_book(dbsession, title="Loved Lagoon", genres=("shared-shelf",), stock=9)
    plain = make_book(dbsession, title="Plain Lagoon", genres=("shared-shelf",), stock=9)
    params = {"genre": "shared-shelf"}
    visitor_first = other_browser.get("/books", params)  # cached as a visitor sees it

    register(web, name="Signed In Lister")
    add_to_cart(web, plain.id, 2)
    token = csrf_token(web.get("/books", params))
    saved = web.post(
        f"/wishlist/{loved.id}", {"action": "add", "next": "/books?genre=shared-shelf", "csrf_token": token}
    )
    with_message = saved.follow()  # the listing in the chrome of a shopper with a message waiting
    assert "Saved to your wishlist." in with_message.text and "Log out" in with_message.text
    assert card(with_message, loved.id).select_one(".wishlist-button").get_text(" ", strip=True).startswith("♥ Remove")
    assert not any(slot in with_message.text for slot in SLOTS)

    mine = web.get("/books", params)
    visitors = other_browser.get("/books", params)
    stored = cached_listings(request)
    assert stored is None or stored == 1  # one entry serves both (``/books`` itself was seen once)

    assert "Log out" in mine.text and "Log out" not in visitors.text
    assert "Signed In Lister" not in visitors.text
    assert mine.html.find(id="cart-count").get_text(strip=True).startswith("2")
    assert visitors.html.find(id="cart-count").get_text(strip=True).startswith("0")
    assert card(mine, loved.id).select_one(".wishlist-button").get_text(" ", strip=True).startswith("♥ Remove")
    assert card(mine, plain.id).select_one(".wishlist-button").get_text(" ", strip=True).startswith("♡ Add")
    for page in (visitors, visitor_first):
        assert "Remove from wishlist" not in page.text
    assert csrf_token(mine) != csrf_token(visitors)
    assert {i["value"] for i in mine.html.select('input[name="csrf_token"]')} == {csrf_token(mine)}
    for page in (mine, visitors):
        assert not any(slot in page.text for slot in SLOTS)
        assert page.html.select_one('.wishlist-form input[name="next"]')["value"] == "/books?genre=shared-shelf"
        assert page.headers["Cache-Control"] == "private, no-cache"
        assert "X-Request-ID" in page.headers and "Content-Security-Policy" in page.headers

    # the visitor's token from the cached page works; the signed-in shopper's does not work for them
    added = other_browser.post("/cart/items", {"book_id": str(plain.id), "csrf_token": csrf_token(visitors)})
    assert added.status_int == 303
    assert other_browser.get("/books", params).html.find(id="cart-count").get_text(strip=True).startswith("1")
    other_browser.post("/cart/items", {"book_id": str(plain.id), "csrf_token": csrf_token(mine)}, status=400)


def test_staff_listings_bypass_the_cache(web, other_browser, dbsession, api_app):
    book = make_book(dbsession, title="Staff Sees Stock", genres=("back-room",), stock=4)
    for _ in range(2):  # stored from the second view on
        assert stock_on(other_browser.get("/books", {"genre": "back-room"}), book.id) == "Only 4 left"
    set_stock(dbsession, book.id, 1)  # behind the API's back: no version moves

    assert stock_on(other_browser.get("/books", {"genre": "back-room"}), book.id) == "Only 4 left"  # cached
    staff_member(dbsession, api_app, web)
    assert stock_on(web.get("/books", {"genre": "back-room"}), book.id) == "Only 1 left"


def test_bad_listing_input_is_a_friendly_answer(other_browser):
    page = other_browser.get("/books", {"min_price": "lots", "page": "x", "sort": "nonsense"})
    assert "Some filters were not understood" in page.text
    other_browser.get("/authors/99999999999999999999", status=404)
    other_browser.get("/books?q=%ff%fe", status="*").mustcontain(no=["Traceback"])


def test_with_redis_down_listings_are_built_for_every_view(shop, own_redis, dbsession):  # noqa: F811
    book = make_book(dbsession, title="Storm Shelf", authors=("Ivo Storm",), genres=("storms",), stock=2)
    register(shop, name="Stormy Reader")
    visitor = webtest.TestApp(shop.app, extra_environ={"REMOTE_ADDR": "127.0.0.41", **BROWSER})
    author = card(visitor.get("/books", {"genre": "storms"}), book.id).select_one(".book-card-authors a")["href"]
    paths = ["/", "/books?genre=storms", "/books?q=Storm+Shelf", "/books?genre=storms&sort=-price", author]
    for path in paths:
        visitor.get(path)  # cached in the storefront's Redis

    own_redis.kill()  # our own server, not the machine's

    for browser in (shop, visitor):
        for path in paths:
            page = browser.get(path)
            assert stock_on(page, book.id) == "Only 2 left", path
            assert not any(slot in page.text for slot in SLOTS), path
    own_redis.start()


def test_in_stock_listings_follow_a_book_selling_out_and_coming_back(web, other_browser, dbsession, api_app):
    last = make_book(dbsession, title="Last Copy Cove", genres=("coves",), stock=1)
    make_book(dbsession, title="Plenty Cove", genres=("coves",), stock=9)
    in_stock = {"genre": "coves", "in_stock": "1"}
    assert card(other_browser.get("/books", in_stock), last.id) is not None
    assert card(other_browser.get("/books", {"genre": "coves"}), last.id) is not None

    register(web, name="Last Buyer")
    add_to_cart(web, last.id, 1)
    checkout(web).submit(status=303)

    assert card(other_browser.get("/books", in_stock), last.id) is None
    assert stock_on(other_browser.get("/books", {"genre": "coves"}), last.id) == "Out of stock"

    staff = webtest.TestApp(web.app, extra_environ=dict(BROWSER))
    staff_member(dbsession, api_app, staff)
    restock = staff.get(f"/staff/books/{last.id}/stock").forms["stock-form"]
    restock["delta"], restock["reason"] = "3", "restock"
    restock.submit(status=303)
    assert stock_on(other_browser.get("/books", in_stock), last.id) == "Only 3 left"


def test_a_change_made_while_a_listing_is_built_shows_on_the_next_view(services, redis_clean):
    """The versions stored with a listing are read before its data: a sale landing while the page
    is being built leaves the entry looking older than it is (rebuilt next time), never newer."""
    if live.TARGET.live:
        pytest.skip("needs the storefront's Redis")
    from bookstore_core.redisstore import RedisStore
    from bookstore_web.pagecache import ListingCache

    client = redis.Redis.from_url(services.redis_url)
    prefix = services.redis_prefix
    cache = ListingCache(RedisStore(client, prefix), prefix, "test")
    stock = {"value": 5}
    sale_during = {"build": 0}
    builds = []

    def fetch():
        builds.append(stock["value"])
        if len(builds) == sale_during["build"]:  # a checkout commits while the API answers us
            stock["value"] -= 1
            client.incr(f"{prefix}ver:book:7")
        return {"stock": builds[-1]}, [7]

    def render(data):
        return {"page": str(data["stock"]).encode()}

    def view() -> bytes:
        return cache.listing("k", ("page",), fetch, render)["page"]

    assert view() == b"5"  # a first view: built, not stored
    sale_during["build"] = 2  # the second view builds twice (new books: versions read in between)
    view()
    assert view() == b"4"  # whatever the build saw, the next view shows the sale
    sale_during["build"] = len(builds) + 1
    client.incr(f"{prefix}ver:book:7")  # a change: the entry is stale, rebuilt from its known versions
    stock["value"] -= 1
    view()  # built while another sale lands
    assert view() == b"2" and cache.cached("k", ("page",)) == [b"2"]
    client.close()
