"""The harness that runs the functional suites against a deployed shop: its target, the
read-only guard, and the refusal to write to production (tests/helpers/live.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import webtest

from tests.helpers import live


def test_one_url_serves_both_apps_and_two_urls_split_them():
    one = live.target_from_environ({"BOOKSTORE_TEST_URL": "https://shop.example.com/"})
    assert (one.api_url, one.web_url, one.live, one.readonly) == (
        "https://shop.example.com",
        "https://shop.example.com",
        True,
        False,
    )
    two = live.target_from_environ(
        {"BOOKSTORE_TEST_URL": "http://127.0.0.1:6543", "BOOKSTORE_TEST_WEB_URL": "http://127.0.0.1:6544"}
    )
    assert (two.api_url, two.web_url) == ("http://127.0.0.1:6543", "http://127.0.0.1:6544")
    assert two.browser_environ() == {
        "HTTP_HOST": "127.0.0.1:6544",
        "wsgi.url_scheme": "http",
        "HTTP_ORIGIN": "http://127.0.0.1:6544",
    }
    assert not live.target_from_environ({}).live
    assert live.target_from_environ({"BOOKSTORE_TEST_URL": "https://x.test", "BOOKSTORE_TEST_READONLY": "1"}).readonly


@pytest.fixture
def readonly_target() -> Iterator[None]:
    before = live.TARGET
    live.configure(readonly=True)
    yield
    live.TARGET = before


def _ok_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["REQUEST_METHOD"].encode()]


def test_the_read_only_guard_lets_reads_through_and_fails_anything_else(readonly_target):
    app = webtest.TestApp(live.ReadOnlyGuard(_ok_app))
    assert app.get("/books").text == "GET"
    assert app.head("/books").status_int == 200
    for method in (app.post, app.put, app.patch, app.delete):
        with pytest.raises(pytest.fail.Exception, match="read-only run"):
            method("/books")


def test_without_read_only_mode_the_guard_passes_everything():
    assert not live.TARGET.readonly
    assert webtest.TestApp(live.ReadOnlyGuard(_ok_app)).post("/orders").text == "POST"


@pytest.fixture
def shop_saying() -> Iterator:
    """A stand-in shop on loopback whose /healthz says the environment we choose."""
    said = {"environment": "production"}

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"status": "ok", **said}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def url(environment: str | None) -> str:
        said.clear()
        if environment:
            said["environment"] = environment
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield url
    server.shutdown()
    server.server_close()


def test_a_shop_that_says_production_is_refused_unless_told_twice(shop_saying):
    url = shop_saying("production")
    target = live.target_from_environ({"BOOKSTORE_TEST_URL": url})
    assert "refusing" in live.production_refusal(target, allow_flag=False)
    assert live.production_refusal(target, allow_flag=True)  # the flag alone is not enough
    allowed = live.target_from_environ({"BOOKSTORE_TEST_URL": url, "BOOKSTORE_TEST_ALLOW_PRODUCTION": "yes-really"})
    assert live.production_refusal(allowed, allow_flag=False)  # nor the variable alone
    assert live.production_refusal(allowed, allow_flag=True) is None
    readonly = live.target_from_environ({"BOOKSTORE_TEST_URL": url, "BOOKSTORE_TEST_READONLY": "1"})
    assert live.production_refusal(readonly, allow_flag=False) is None  # reading is always allowed


def test_staging_runs_and_a_declared_production_is_refused_whatever_health_says(shop_saying):
    staging = shop_saying("staging")
    assert live.production_refusal(live.target_from_environ({"BOOKSTORE_TEST_URL": staging}), False) is None
    silent = shop_saying(None)  # an older shop whose /healthz names nothing
    assert live.production_refusal(live.target_from_environ({"BOOKSTORE_TEST_URL": silent}), False) is None
    declared = live.target_from_environ({"BOOKSTORE_TEST_URL": silent, "BOOKSTORE_TEST_ENVIRONMENT": "production"})
    assert live.production_refusal(declared, False)
