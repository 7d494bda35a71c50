"""The wishlist: buttons on book pages and listing cards (with and without htmx), the wishlist page, and
each shopper's state kept out of the pages shared through the page cache."""

from __future__ import annotations

import redis
import webtest

from bookstore_web.pagecache import CSRF_SLOT, REVIEW_SLOT, WISHLIST_SLOT
from tests.helpers.factories import make_book

from .account_helpers import post_without_csrf
from .conftest import BROWSER, csrf_token, htmx, log_in, register


def wishlist_button(page, book_id: int, suffix: str = ""):
    return page.html.find(id=f"wishlist-button-{book_id}{suffix}")


def button_text(page, book_id: int, suffix: str = "") -> str:
    button = wishlist_button(page, book_id, suffix)
    assert button is not None, f"no wishlist button for book {book_id}"
    return button.get_text(" ", strip=True)


def wishlist_form(page, book_id: int):
    return next(f for f in page.forms.values() if f.action == f"/wishlist/{book_id}")


def titles(page) -> list[str]:
    return [t.get_text(strip=True) for t in page.html.select(".book-card-title")]


def test_add_from_the_book_page_without_javascript(web, book):
    register(web)
    page = web.get(f"/books/{book.id}")
    assert button_text(page, book.id).startswith("♡ Add to wishlist")

    response = wishlist_form(page, book.id).submit(status=303)

    assert response.location == f"/books/{book.id}"
    page = response.follow()
    assert "Saved to your wishlist." in page.text
    assert button_text(page, book.id).startswith("♥ Remove from wishlist")
    assert titles(web.get("/wishlist")) == ["The Quiet Lighthouse"]

    page = wishlist_form(page, book.id).submit(status=303).follow()
    assert "Removed from your wishlist." in page.text
    assert button_text(page, book.id).startswith("♡ Add to wishlist")
    assert "Your wishlist is empty." in web.get("/wishlist").text


def test_add_from_a_listing_with_htmx_swaps_the_button(web, book):
    register(web)
    listing = web.get("/books")
    assert button_text(listing, book.id).startswith("♡ Add to wishlist")

    fragment = web.post(
        f"/wishlist/{book.id}",
        {"action": "add", "next": "/books", "csrf_token": csrf_token(listing)},
        headers=htmx(**{"HX-Target": "", "HX-Current-URL": "http://shop.test/books?page=1"}),
    )

    assert fragment.status_int == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<form class="wishlist-form"')
    assert button_text(fragment, book.id).startswith("♥ Remove from wishlist")
    assert fragment.html.find(attrs={"role": "status"}).text == "Saved to your wishlist."
    assert button_text(web.get("/books"), book.id).startswith("♥ Remove from wishlist")  # listings agree


def test_the_wishlist_page_lists_the_books_with_add_to_cart_and_remove(web, dbsession, book):
    other = make_book(dbsession, title="Second Wish", stock=4)
    register(web)
    for wanted in (book, other):
        wishlist_form(web.get(f"/books/{wanted.id}"), wanted.id).submit(status=303)

    page = web.get("/wishlist")

    assert sorted(titles(page)) == ["Second Wish", "The Quiet Lighthouse"]
    assert page.html.find("h1").text == "Your wishlist"
    added = next(f for f in page.forms.values() if f.action == "/cart/items" and f["book_id"].value == str(other.id))
    assert added.submit(status=303).follow().html.select_one(".cart-table")  # add to cart works from here

    # with htmx, removing re-renders the list in place
    fragment = web.post(
        f"/wishlist/{other.id}",
        {"action": "remove", "next": "/wishlist", "csrf_token": csrf_token(page)},
        headers=htmx(**{"HX-Target": "wishlist"}),
    )
    assert fragment.text.lstrip().startswith('<section id="wishlist"')
    assert titles(fragment) == ["The Quiet Lighthouse"]
    assert "Removed from your wishlist." in fragment.text

    # without JavaScript, removing redirects back to the wishlist
    page = wishlist_form(web.get("/wishlist"), book.id).submit(status=303)
    assert page.location == "/wishlist"
    assert "Your wishlist is empty." in page.follow().text


def test_a_signed_out_shopper_is_sent_to_log_in_and_back(web, other_browser, web_app, book):
    email = register(other_browser)
    page = web.get(f"/books/{book.id}")
    assert button_text(page, book.id).startswith("♡ Add to wishlist")

    response = wishlist_form(page, book.id).submit(status=303)

    assert response.location == f"/login?next=%2Fbooks%2F{book.id}"
    login = response.follow()
    assert "Log in to keep a wishlist." in login.text
    assert log_in(web, email, next_url=f"/books/{book.id}").location == f"/books/{book.id}"

    # with htmx, the whole page goes to log-in
    anonymous = webtest.TestApp(web_app, extra_environ={"REMOTE_ADDR": "127.0.0.22", **BROWSER})
    listing = anonymous.get("/books")
    redirect = anonymous.post(
        f"/wishlist/{book.id}",
        {"action": "add", "next": "/books", "csrf_token": csrf_token(listing)},
        headers=htmx(),
        status=204,
    )
    assert redirect.headers["HX-Redirect"] == "/login?next=%2Fbooks"
    assert anonymous.get("/wishlist", status=303).location == "/login?next=%2Fwishlist"


def test_wishlist_state_never_leaks_through_the_page_cache(web, other_browser, services, dbsession):
    shared = make_book(dbsession, title="Shared Wish", stock=5)
    register(web, name="Wishing Reader")
    wishlist_form(web.get(f"/books/{shared.id}"), shared.id).submit(status=303)

    mine = web.get(f"/books/{shared.id}")
    visitor = other_browser.get(f"/books/{shared.id}")  # the cached whole page of every signed-out visitor
    register(other_browser, name="Other Reader")
    theirs = other_browser.get(f"/books/{shared.id}")  # the cached shared part, another shopper's chrome

    assert button_text(mine, shared.id).startswith("♥ Remove from wishlist")
    assert button_text(visitor, shared.id).startswith("♡ Add to wishlist")
    assert button_text(theirs, shared.id).startswith("♡ Add to wishlist")
    for page in (mine, visitor, theirs):
        assert not any(str(slot) in page.text for slot in (CSRF_SLOT, REVIEW_SLOT, WISHLIST_SLOT))

    client = redis.Redis.from_url(services.redis_url)
    try:
        entries = [client.get(key) for key in client.scan_iter(f"{services.redis_prefix}web:book:*:{shared.id}:*")]
    finally:
        client.close()
    assert entries, "the book page is cached"
    for entry in entries:
        assert b"Remove from wishlist" not in entry  # nobody's own state is in the shared entry
        assert entry.count(str(WISHLIST_SLOT).encode()) == 1  # the shared part has a slot, once

    # listings are rendered per shopper too
    assert button_text(web.get("/books"), shared.id).startswith("♥ Remove")
    assert button_text(other_browser.get("/books"), shared.id).startswith("♡ Add")


def test_the_home_page_shelves_have_distinct_buttons(web, dbsession):
    make_book(dbsession, title="Twice Shown", stock=5)
    register(web)
    page = web.get("/")
    ids = [b["id"] for b in page.html.select("button.wishlist-button")]
    assert ids and len(ids) == len(set(ids))


def test_an_unknown_book_is_a_friendly_404(web):
    register(web)
    token = csrf_token(web.get("/wishlist"))
    page = web.post("/wishlist/99999999999", {"action": "add", "csrf_token": token}, status=404)
    assert page.html.find("h1").text == "Page not found"


def test_the_wishlist_button_refuses_a_post_without_csrf_token(web, book):
    register(web)
    web.get("/wishlist")
    post_without_csrf(web, f"/wishlist/{book.id}", {"action": "add"})
    assert "Your wishlist is empty." in web.get("/wishlist").text
