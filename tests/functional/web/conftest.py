"""Storefront fixtures: the web app in-process, talking to the real API app through
``httpx.WSGITransport`` (same process, same rolled-back database transaction), with
sessions in the harness's Redis, plus helpers that act like a shopper.

Against a deployed storefront (``BOOKSTORE_TEST_WEB_URL``, or ``BOOKSTORE_TEST_URL`` when
one load balancer serves both apps) ``web`` and ``other_browser`` are browsers on it over
HTTP: their cookies follow its host and scheme, and ``BROWSER`` carries its origin. The data
comes from the API as for the API suite (``dbsession`` and the factories), staff pages use
``BOOKSTORE_TEST_STAFF_EMAIL``/``_PASSWORD``, and the accounts a scenario signs up have their
orders cancelled afterwards (:mod:`tests.helpers.live`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import webtest

from tests.helpers import live
from tests.helpers.clients import unique_email
from tests.helpers.commerce import FUTURE_EXPIRY
from tests.helpers.factories import make_book, make_user
from tests.helpers.services import covers_dir_for

PASSWORD = "a long enough password"
APPROVED_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
#: the deployed storefront under test (None: in-process)
LIVE_WEB_URL = live.TARGET.web_url if live.TARGET.live else None
#: what a browser on the shop's pages sends: the shop's host, and its origin with each POST
#: (a deployed shop's own host, scheme and origin)
BROWSER = (
    live.TARGET.browser_environ() if LIVE_WEB_URL else {"HTTP_HOST": "shop.test", "HTTP_ORIGIN": "http://shop.test"}
)


def browser() -> webtest.TestApp:
    """A new browser (its own cookies) on the deployed storefront."""
    return webtest.TestApp(live.http_app(LIVE_WEB_URL), extra_environ=dict(BROWSER))


@pytest.fixture(scope="session")
def web_settings(services) -> dict:
    return {
        "bookstore.env": "testing",
        "bookstore.log_format": "text",
        "bookstore.log_level": "WARNING",
        "web.api_url": "http://api.test",
        "web.api_retries": "1",
        "web.catalog_cache_seconds": "0",  # each test makes its own genres
        "redis.url": services.redis_url,
        "redis.prefix": services.redis_prefix,
        "web.covers_dir": str(covers_dir_for(services)),
    }


@pytest.fixture(scope="session")
def web_app(request):
    if LIVE_WEB_URL:
        from tests.functional.conftest import InProcessOnly

        return InProcessOnly("web_app")
    from bookstore_web import main

    api_app, web_settings = request.getfixturevalue("api_app"), request.getfixturevalue("web_settings")

    transport = httpx.WSGITransport(app=api_app, remote_addr="127.0.0.30")
    return main({}, **web_settings, **{"web.api_transport": transport})


@pytest.fixture
def web(request) -> Iterator[webtest.TestApp]:
    """A shopper's browser: cookies kept between requests, JavaScript off (and, as every browser
    does with a form's POST, the page's origin sent along)."""
    if LIVE_WEB_URL:
        yield browser()
        return
    request.getfixturevalue("db_connection")
    request.getfixturevalue("redis_clean")
    web_app = request.getfixturevalue("web_app")
    yield webtest.TestApp(web_app, extra_environ={"REMOTE_ADDR": "127.0.0.20", **BROWSER})


@pytest.fixture
def other_browser(request) -> webtest.TestApp:
    """A second shopper with their own cookies (same rolled-back transaction as ``web``)."""
    if LIVE_WEB_URL:
        return browser()
    return webtest.TestApp(request.getfixturevalue("web_app"), extra_environ={"REMOTE_ADDR": "127.0.0.21", **BROWSER})


#: asserts over everything the catalogue lists: the test's own books only in-process
WHOLE_CATALOGUE = pytest.mark.needs_db


def card_titles(page: webtest.TestResponse) -> list[str]:
    """Titles of the book cards on a page that belong to this test's books (a deployed shop lists its own too)."""
    mine = live.made_books()
    titles = []
    for card in page.html.select(".book-card-title a"):
        book_id = int(card["href"].rstrip("/").rsplit("/", 1)[-1])
        if mine is None or book_id in mine:
            titles.append(card.text.strip())
    return titles


def htmx(**extra: str) -> dict[str, str]:
    """Headers htmx sends with its requests."""
    return {"HX-Request": "true", **extra}


def csrf_token(response: webtest.TestResponse) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, "page has no CSRF token"
    return match.group(1)


def register(web: webtest.TestApp, name: str = "Ada Reader", email: str | None = None) -> str:
    email = email or unique_email("shopper")
    form = web.get("/register").forms["register-form"]
    form["name"], form["email"], form["password"] = name, email, PASSWORD
    form.submit().maybe_follow()
    live.record("account", email, PASSWORD)  # on a deployed shop: its orders are cancelled afterwards
    return email


def log_in(web: webtest.TestApp, email: str, password: str = PASSWORD, next_url: str | None = None):
    page = web.get("/login", params={"next": next_url} if next_url else None)
    form = page.forms["login-form"]
    form["email"], form["password"] = email, password
    return form.submit(status="*")


def staff_member(dbsession, api_app, web: webtest.TestApp) -> str:
    """Signs ``web`` in as staff: a new staff account in-process, the one QA was given on a deployed shop."""
    if LIVE_WEB_URL:
        if not live.TARGET.has_staff:
            pytest.skip("set BOOKSTORE_TEST_STAFF_EMAIL/PASSWORD to run staff pages against a live URL")
        log_in(web, live.TARGET.staff_email, live.TARGET.staff_password).maybe_follow()
        return live.TARGET.staff_email
    email = unique_email("staff")
    make_user(dbsession, api_app, email=email, password=PASSWORD, role="staff", name="Sam Staff")
    log_in(web, email).maybe_follow()
    return email


def add_to_cart(web: webtest.TestApp, book_id: int, quantity: int = 1, page: str = "/books"):
    token = csrf_token(web.get(page))
    return web.post("/cart/items", {"book_id": str(book_id), "quantity": str(quantity), "csrf_token": token})


def checkout(web: webtest.TestApp, card: str = APPROVED_CARD, **overrides: str):
    form = web.get("/checkout").forms["checkout-form"]
    values = {
        "name": "Ada Reader",
        "line1": "1 Library Lane",
        "city": "Springfield",
        "postal_code": "12345",
        "country": "US",
        "card_number": card,
        "expiry": FUTURE_EXPIRY,
        "cvc": "123",
    }
    values.update(overrides)
    for name, value in values.items():
        form[name] = value
    return form


@pytest.fixture
def book(dbsession):
    return make_book(
        dbsession,
        title="The Quiet Lighthouse",
        authors=("Mara Quill",),
        genres=("mystery",),
        price="14.50",
        stock=7,
        description="A keeper, a storm, and a secret.",
    )
