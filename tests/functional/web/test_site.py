"""Site-wide behaviour: security headers, static assets, health, error pages, the API being down, settings."""

from __future__ import annotations

import re

import httpx
import pytest
import webtest

from bookstore_web.settings import ConfigurationError, build_settings
from tests.helpers import live

from .conftest import csrf_token


def test_every_page_sends_security_headers(web, book):
    for path in ("/", "/books", f"/books/{book.id}", "/login", "/nope"):
        response = web.get(path, status="*")
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert re.fullmatch(r"[A-Za-z0-9._:-]+", response.headers["X-Request-ID"])
        assert "<script>" not in response.text and " style=" not in response.text  # nothing inline for the CSP


@pytest.mark.readonly
def test_request_id_is_echoed(web):
    assert web.get("/", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"


@pytest.mark.readonly
def test_static_assets_are_cache_busted_and_long_lived(web):
    page = web.get("/")
    css = page.html.find("link", rel="stylesheet")["href"]
    htmx = page.html.find("script", src=re.compile("htmx"))["src"]
    assert re.fullmatch(r"/static/css/site\.css\?v=[0-9a-f]{12}", css)
    assert re.fullmatch(r"/static/vendor/htmx-2\.0\.11/htmx\.min\.js\?v=[0-9a-f]{12}", htmx)

    asset = web.get(css)
    assert asset.content_type == "text/css"
    assert "max-age=31536000" in asset.headers["Cache-Control"] and "immutable" in asset.headers["Cache-Control"]
    assert "Set-Cookie" not in asset.headers
    unversioned = web.get("/static/css/site.css")
    assert "max-age=300" in unversioned.headers["Cache-Control"]
    assert web.get("/static/vendor/htmx-2.0.11/LICENSE").status_int == 200


@pytest.mark.readonly
def test_htmx_is_configured_for_the_csp(web):
    meta = web.get("/").html.find("meta", attrs={"name": "htmx-config"})["content"]
    assert '"allowEval":false' in meta and '"includeIndicatorStyles":false' in meta


@pytest.mark.readonly
def test_health_endpoints(web):
    if live.TARGET.live and live.TARGET.web_url == live.TARGET.api_url:
        pytest.skip("behind one load balancer /healthz and /readyz are the API's (tested with it)")
    assert web.get("/healthz").json["status"] == "ok"
    assert web.get("/readyz").json == {"status": "ok", "checks": {"api": "ok", "redis": "ok"}}


@pytest.mark.readonly
def test_not_found_page(web):
    page = web.get("/no/such/page", status=404)
    assert page.html.find("h1").text.strip() == "Page not found"
    assert page.html.find("a", string="Browse all books")["href"] == "/books"


@pytest.fixture
def web_with_api_down(web_settings):
    from bookstore_web import main

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    app = main({}, **web_settings, **{"web.api_transport": httpx.MockTransport(refuse)})
    return webtest.TestApp(app)


def test_api_down_is_a_friendly_503(web_with_api_down):
    for path in ("/", "/books", "/books/1", "/authors/1"):
        page = web_with_api_down.get(path, status=503)
        assert page.html.find("h1").text.strip() == "The shop is briefly unavailable"
        assert page.headers["Retry-After"] == "30"
        assert "Traceback" not in page.text and "ConnectError" not in page.text
    assert web_with_api_down.get("/readyz", status=503).json["checks"]["api"] == "down"
    assert web_with_api_down.get("/healthz").status_int == 200


def test_api_503_is_a_friendly_503(web_settings):
    from bookstore_web import main

    calls = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"error": {"code": "service_unavailable", "message": "down", "details": {}}})

    app = webtest.TestApp(main({}, **web_settings, **{"web.api_transport": httpx.MockTransport(unavailable)}))
    app.get("/books", status=503)
    assert len(calls) == 2  # one retry of the idempotent GET (web.api_retries = 1)


def test_unexpected_errors_are_a_friendly_500(web_settings):
    from bookstore_web import main

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"this is not json")

    app = webtest.TestApp(main({}, **web_settings, **{"web.api_transport": httpx.MockTransport(broken)}))
    page = app.get("/books", status=500)
    assert page.html.find("h1").text.strip() == "Something went wrong"
    assert "Traceback" not in page.text and "JSONDecodeError" not in page.text


def test_redis_down_is_a_friendly_503_for_pages_that_need_the_session(web_settings, book):
    from bookstore_web import main

    settings = {**web_settings, "redis.url": "redis://127.0.0.1:1/0"}
    app = webtest.TestApp(main({}, **settings, **{"web.api_transport": httpx.MockTransport(lambda r: None)}))
    page = app.get("/login", status=503)
    assert page.html.find("h1").text.strip() == "This is temporarily unavailable"


def test_settings_come_from_the_environment():
    settings = build_settings(
        {},
        {
            "BOOKSTORE_API_URL": "http://api.internal:8000/",
            "BOOKSTORE_REDIS_URL": "redis://cache:6379/2",
            "BOOKSTORE_API_RETRIES": "3",
        },
    )
    assert settings["web.api_url"] == "http://api.internal:8000"
    assert settings["redis.url"] == "redis://cache:6379/2"
    assert settings["web.api_retries"] == 3
    assert settings["web.secure_cookies"] is False
    assert len(settings["web.session_secret"]) >= 32  # derived for development
    assert build_settings({}, {})["web.session_secret"] == build_settings({}, {})["web.session_secret"]


def test_production_refuses_to_start_without_a_session_secret():
    with pytest.raises(ConfigurationError, match="BOOKSTORE_SESSION_SECRET"):
        build_settings({}, {"BOOKSTORE_ENV": "production"})
    with pytest.raises(ConfigurationError):
        build_settings({}, {"BOOKSTORE_ENV": "production", "BOOKSTORE_SESSION_SECRET": "too-short"})
    settings = build_settings({}, {"BOOKSTORE_ENV": "production", "BOOKSTORE_SESSION_SECRET": "s" * 48})
    assert settings["web.secure_cookies"] is True


def test_production_cookies_are_secure(web_settings, api_app, db_connection, redis_clean, book):
    from bookstore_web import main

    settings = {**web_settings, "bookstore.env": "production", "web.session_secret": "p" * 48}
    browser = {"HTTP_HOST": "shop.test", "HTTP_ORIGIN": "http://shop.test"}
    app = webtest.TestApp(
        main({}, **settings, **{"web.api_transport": httpx.WSGITransport(app=api_app)}), extra_environ=browser
    )
    page = app.get(f"/books/{book.id}")
    response = app.post("/cart/items", {"book_id": str(book.id), "csrf_token": csrf_token(page)})  # makes a session
    cookie = next(h for n, h in response.headerlist if n.lower() == "set-cookie")
    assert "; secure" in cookie.lower() and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_genres_are_kept_in_the_process_between_pages(web_settings, api_app, db_connection, redis_clean):
    from bookstore_web import main

    inner = httpx.WSGITransport(app=api_app)
    paths: list[str] = []

    class Counting(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            paths.append(request.url.path)
            return inner.handle_request(request)

    settings = {**web_settings, "web.catalog_cache_seconds": "60"}
    app = webtest.TestApp(main({}, **settings, **{"web.api_transport": Counting()}))
    app.get("/books")
    app.get("/books", {"q": "sea"})
    app.get("/")

    assert paths.count("/api/v1/genres") == 1
    assert paths.count("/api/v1/books") == 4
