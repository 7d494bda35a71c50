"""Storefront fixtures: the web app in-process, talking to the real API app through
``httpx.WSGITransport`` (same process, same rolled-back database transaction), with
sessions in the harness's Redis, plus helpers that act like a shopper."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
import webtest

from tests.helpers.clients import unique_email
from tests.helpers.commerce import FUTURE_EXPIRY
from tests.helpers.factories import make_book, make_user
from tests.helpers.services import covers_dir_for

PASSWORD = "a long enough password"
APPROVED_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
#: what a browser on the shop's pages sends: the shop's host, and its origin with each POST
BROWSER = {"HTTP_HOST": "shop.test", "HTTP_ORIGIN": "http://shop.test"}


def pytest_collection_modifyitems(config, items):
    # every storefront test drives the in-process API on the test database, except the
    # shopper scenarios that can also drive a deployed storefront (test_live_storefront.py)
    for item in items:
        if "/functional/web/" in str(item.fspath) and "live_storefront" not in item.keywords:
            item.add_marker(pytest.mark.needs_db)


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
def web_app(api_app, web_settings):
    from bookstore_web import main

    transport = httpx.WSGITransport(app=api_app, remote_addr="127.0.0.30")
    return main({}, **web_settings, **{"web.api_transport": transport})


@pytest.fixture
def web(db_connection, redis_clean, web_app) -> Iterator[webtest.TestApp]:
    """A shopper's browser: cookies kept between requests, JavaScript off (and, as every browser
    does with a form's POST, the page's origin sent along)."""
    yield webtest.TestApp(web_app, extra_environ={"REMOTE_ADDR": "127.0.0.20", **BROWSER})


@pytest.fixture
def other_browser(web_app) -> webtest.TestApp:
    """A second shopper with their own cookies (same rolled-back transaction as ``web``)."""
    return webtest.TestApp(web_app, extra_environ={"REMOTE_ADDR": "127.0.0.21", **BROWSER})


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
    return email


def log_in(web: webtest.TestApp, email: str, password: str = PASSWORD, next_url: str | None = None):
    page = web.get("/login", params={"next": next_url} if next_url else None)
    form = page.forms["login-form"]
    form["email"], form["password"] = email, password
    return form.submit(status="*")


def staff_member(dbsession, api_app, web: webtest.TestApp) -> str:
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
