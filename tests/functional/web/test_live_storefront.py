"""The storefront as a shopper meets it, on the shop's own catalogue: in-process here (with a
book on sale), or a deployed storefront over HTTP (``make qa URL=…``).

They make no data of their own; those marked ``readonly`` only read, and are the
storefront's part of the read-only mode (``make qa URL=… READONLY=1``).
"""

from __future__ import annotations

import re

import pytest
import webtest

from tests.helpers.factories import make_book

from .conftest import BROWSER, LIVE_WEB_URL, browser, csrf_token

pytestmark = pytest.mark.live_storefront


@pytest.fixture
def shop(request) -> webtest.TestApp:
    """A shopper's browser on the deployed storefront, or on the in-process one with a book on sale."""
    if LIVE_WEB_URL:
        return browser()
    dbsession = request.getfixturevalue("dbsession")
    make_book(dbsession, title="The Quiet Lighthouse", authors=("Mara Quill",), price="14.50", stock=7)
    app = request.getfixturevalue("web")
    app.extra_environ = {"REMOTE_ADDR": "127.0.0.20", **BROWSER}
    return app


def _first_book_path(page: webtest.TestResponse) -> str:
    match = re.search(r'href="(/books/[0-9]+)"', page.text)
    assert match, "the catalogue lists no book"
    return match.group(1)


@pytest.mark.readonly
def test_home_and_catalogue_answer_with_the_security_headers(shop):
    for path in ("/", "/books"):
        page = shop.get(path)
        assert page.status_int == 200 and page.content_type == "text/html"
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers.get("X-Request-ID")
        assert "Set-Cookie" not in page.headers  # browsing keeps no session


@pytest.mark.readonly
def test_search_and_a_book_page(shop):
    results = shop.get("/books", params={"q": "the"})
    assert results.status_int == 200
    book = shop.get(_first_book_path(shop.get("/books")))
    assert book.status_int == 200
    assert re.search(r"[$€£][0-9][0-9,]*\.[0-9]{2}|[0-9]+\.[0-9]{2} [A-Z]{3}", book.text), "no price on the book page"


@pytest.mark.readonly
def test_an_unknown_page_is_a_friendly_404(shop):
    page = shop.get("/books/999999999999", status=404)
    assert page.content_type == "text/html" and "Traceback" not in page.text


def test_a_post_without_its_csrf_token_is_refused(shop):
    response = shop.post("/cart/items", {"book_id": "1", "quantity": "1"}, status="*")
    assert response.status_int in (400, 403)


def test_an_anonymous_cart_holds_a_book_in_stock(shop):
    catalogue = shop.get("/books", params={"in_stock": "true"})
    book_page = shop.get(_first_book_path(catalogue))
    book_id = re.search(r'name="book_id" value="([0-9]+)"', book_page.text)
    assert book_id, "the book page has no add-to-cart form"
    added = shop.post(
        "/cart/items", {"book_id": book_id.group(1), "quantity": "1", "csrf_token": csrf_token(book_page)}
    )
    assert added.status_int in (200, 303)
    cookie = added.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite" in cookie  # the cart made the session
    cart = shop.get("/cart")
    assert cart.status_int == 200
    assert re.search(rf'name="book_id" value="{book_id.group(1)}"|/books/{book_id.group(1)}"', cart.text)
