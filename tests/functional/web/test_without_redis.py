"""The storefront without Redis, and no server-side session until a shopper needs one.

The Redis these tests stop is one they start themselves (never the machine's):
the storefront keeps its sessions and page cache there, while the in-process API
keeps using the harness's Redis.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
import webtest

from bookstore_dev.servers import EmbeddedRedis, scratch_dir
from tests.helpers.factories import make_book

from .conftest import BROWSER, PASSWORD, csrf_token, htmx, log_in, register

SESSION_COOKIE = "bookstore_session"
RECOVERY_SECONDS = 2.0


@pytest.fixture(scope="module")
def own_redis() -> Iterator[EmbeddedRedis]:
    folder = scratch_dir("bookstore-web-redis-")
    server = EmbeddedRedis(folder / "redis").start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def web_app_on_own_redis(api_app, web_settings, own_redis):
    from bookstore_web import main

    settings = {**web_settings, "redis.url": own_redis.url}
    return main({}, **settings, **{"web.api_transport": httpx.WSGITransport(app=api_app, remote_addr="127.0.0.30")})


@pytest.fixture
def shop(db_connection, redis_clean, own_redis, web_app_on_own_redis) -> Iterator[webtest.TestApp]:
    if own_redis.proc is None:
        own_redis.start()
    redis.Redis.from_url(own_redis.url).flushall()  # our own server: each test starts with no session
    yield webtest.TestApp(web_app_on_own_redis, extra_environ={"REMOTE_ADDR": "127.0.0.40", **BROWSER})
    if own_redis.proc is None:  # a test failed with the server down: the next one needs it
        own_redis.start()


def session_keys(own_redis: EmbeddedRedis) -> list[bytes]:
    client = redis.Redis.from_url(own_redis.url)
    try:
        return list(client.scan_iter(match="*web-session:*", count=1000))
    finally:
        client.close()


def set_cookies(response: webtest.TestResponse) -> list[str]:
    return [value for name, value in response.headerlist if name.lower() == "set-cookie"]


def catalogue_paths(shop: webtest.TestApp, book) -> list[str]:
    page = shop.get(f"/books/{book.id}")
    author = re.search(r'href="(/authors/\d+)"', page.text)
    assert author, "the book page links its author"
    word = book.title.split()[-1]
    return ["/", "/books", f"/books?q={word}", f"/search/suggest?q={word}", f"/books/{book.id}", author.group(1)]


@pytest.fixture
def novel(dbsession):
    return make_book(dbsession, title="Harbour Lights Novel", authors=("Ines Harbour",), stock=20, price="9.90")


def test_anonymous_page_views_store_no_session(shop, own_redis, novel):
    for path in catalogue_paths(shop, novel) + ["/login", "/register", "/cart"]:
        response = shop.get(path)
        assert response.status_int == 200, path
        assert set_cookies(response) == [], f"{path} set a cookie"
    page = shop.get(f"/books/{novel.id}")
    assert "csrf_token" in page.text  # its add-to-cart form carries a token all the same
    assert session_keys(own_redis) == []
    assert SESSION_COOKIE not in shop.cookies


def test_the_first_action_makes_the_session(shop, own_redis, novel):
    page = shop.get(f"/books/{novel.id}")

    added = shop.post("/cart/items", {"book_id": str(novel.id), "csrf_token": csrf_token(page)}, status=303)

    assert any(cookie.startswith(SESSION_COOKIE) for cookie in set_cookies(added))
    assert len(session_keys(own_redis)) == 1
    cart = added.follow()
    assert "Harbour Lights Novel" in cart.text
    # the shopper has a session now: their forms carry its own token, which works
    again = shop.post("/cart/items", {"book_id": str(novel.id), "csrf_token": csrf_token(cart)}, status=303)
    assert "2" in again.follow().html.find(id="cart-count").text


def test_csrf_without_a_session_needs_the_form_token_and_our_origin(shop, own_redis, novel):
    token = csrf_token(shop.get(f"/books/{novel.id}"))
    form = {"book_id": str(novel.id), "csrf_token": token}
    elsewhere = {"Origin": "https://evil.example"}

    assert "This form has expired" in shop.post("/cart/items", form, headers=elsewhere, status=400).text
    referer_elsewhere = {"Origin": "", "Referer": "https://evil.example/page"}
    shop.post("/cart/items", form, headers=referer_elsewhere, status=400)
    bare = webtest.TestApp(shop.app, extra_environ={"HTTP_HOST": "shop.test"})  # neither Origin nor Referer
    bare.post("/cart/items", form, status=400)
    shop.post("/cart/items", {**form, "csrf_token": "f1.1700000000.forged"}, status=400)
    shop.post("/cart/items", {"book_id": str(novel.id)}, status=400)
    assert session_keys(own_redis) == []  # nothing refused made a session

    same_site = {"Origin": "", "Referer": f"http://shop.test/books/{novel.id}"}
    shop.post("/cart/items", form, headers=same_site, status=303)
    assert len(session_keys(own_redis)) == 1


def test_a_signed_in_shopper_needs_their_sessions_own_token(shop, novel):
    anonymous_token = csrf_token(shop.get(f"/books/{novel.id}"))
    register(shop)

    shop.post("/cart/items", {"book_id": str(novel.id), "csrf_token": anonymous_token}, status=400)
    shop.post("/logout", {"csrf_token": anonymous_token}, status=400)
    assert shop.get("/account").status_int == 200  # still signed in


def wait_until(condition, seconds: float) -> float:
    """Seconds until ``condition()`` holds; fails after ``seconds``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not back within {seconds}s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_redis_down_the_catalogue_serves_everybody_and_actions_say_unavailable(shop, own_redis, novel):
    paths = catalogue_paths(shop, novel)
    email = register(shop, name="Signed In Reader")
    visitor = webtest.TestApp(shop.app, extra_environ={"REMOTE_ADDR": "127.0.0.41", **BROWSER})
    visitor_token = csrf_token(visitor.get(f"/books/{novel.id}"))
    assert "Log out" in shop.get(f"/books/{novel.id}").text

    own_redis.kill()  # our own server, not the machine's

    for browser in (shop, visitor):
        for path in paths:
            assert browser.get(path).status_int == 200, path
    assert "Log out" not in shop.get(f"/books/{novel.id}").text  # looks signed out meanwhile
    page = shop.get(f"/books/{novel.id}")
    add = {"book_id": str(novel.id), "csrf_token": csrf_token(page)}

    refused = shop.post("/cart/items", add, status=503)
    assert "temporarily unavailable" in refused.text and "keep browsing" in refused.text
    assert refused.headers["Retry-After"]
    in_place = htmx(**{"HX-Target": f"cart-feedback-{novel.id}"})
    beside_the_button = shop.post("/cart/items", add, headers=in_place, status=503)
    assert "Adding to the cart is temporarily unavailable" in beside_the_button.text
    assert "<html" not in beside_the_button.text  # a fragment, in place on the page
    visitor.post("/cart/items", {"book_id": str(novel.id), "csrf_token": visitor_token}, status=503)
    for path in ("/cart", "/checkout", "/account", "/orders", "/login", "/register", "/staff"):
        for browser in (shop, visitor):
            assert "temporarily unavailable" in browser.get(path, status=503).text, path
    login = visitor.post("/login", {"email": email, "password": PASSWORD, "csrf_token": visitor_token}, status=503)
    assert "temporarily unavailable" in login.text

    own_redis.start()  # on the same port

    def add_to_cart_works() -> bool:
        token = csrf_token(visitor.get(f"/books/{novel.id}"))
        return (
            visitor.post("/cart/items", {"book_id": str(novel.id), "csrf_token": token}, status="*").status_int == 303
        )

    wait_until(add_to_cart_works, RECOVERY_SECONDS)
    assert "Harbour Lights Novel" in visitor.get("/cart").text
    wait_until(lambda: log_in(shop, email).status_int == 303, RECOVERY_SECONDS)
    assert "Log out" in shop.get(f"/books/{novel.id}").text
