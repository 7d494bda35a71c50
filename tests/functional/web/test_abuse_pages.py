"""The storefront against the probe: odd ids and next= values, forged X-Forwarded-For,
Host-built redirects and the password policy shown on the page."""

from __future__ import annotations

import pytest
import webtest

from tests.helpers.clients import unique_email

from .conftest import csrf_token, register


@pytest.mark.parametrize("path", ["/books/%C2%B2", "/books/%D9%A1", "/authors/%C2%B3", "/orders/%C2%B2", "/books/1%00"])
def test_ids_that_are_not_ascii_digits_are_a_friendly_404(web, path):
    register(web)
    response = web.get(path, status="*")
    assert response.status_int in (400, 404)
    assert "text/html" in response.content_type


@pytest.mark.parametrize("next_url", ["/account\nSet-Cookie: x=1", "/orders\r\n", "/a\x00b", "/\x7fx", "/ok page"])
def test_a_next_with_control_characters_is_never_followed(web, other_browser, next_url):
    email = register(other_browser)
    form = web.get("/login").forms["login-form"]
    form["email"], form["password"] = email, "a long enough password"
    response = web.post(
        "/login",
        {
            "email": email,
            "password": "a long enough password",
            "next": next_url,
            "csrf_token": form["csrf_token"].value,
        },
    )
    assert response.status_int == 303
    assert response.headers["Location"] == "/"


def test_a_next_with_a_newline_in_the_login_link_is_dropped(web):
    page = web.get("/login?next=/account%0ASet-Cookie:%20x=1")
    assert page.status_int == 200
    assert 'value="/account' not in page.text


def test_redirects_are_relative_whatever_the_host_header(web):
    response = web.get("/account", headers={"Host": "evil.example"}, status=303)
    assert response.headers["Location"].startswith("/login?next=")
    assert "evil.example" not in response.headers["Location"]


def test_a_common_password_is_refused_on_the_page(web):
    form = web.get("/register").forms["register-form"]
    form["name"], form["email"], form["password"] = "Ada", unique_email("weak"), "1234567890"
    page = form.submit(status=400)
    assert "too common" in page.text


def _failed_logins(app: webtest.TestApp, count: int, forged: bool) -> list[int]:
    statuses = []
    for i in range(count):
        headers = {"X-Forwarded-For": f"203.0.113.{i + 1}"} if forged else {}
        page = app.get("/login", headers=headers)
        response = app.post(
            "/login",
            {"email": f"nobody-{i}@example.com", "password": "wrong password", "csrf_token": csrf_token(page)},
            headers={**headers, "Origin": "http://shop.test"},  # as a browser sends it on a form POST
            status="*",
        )
        statuses.append(response.status_int)
    return statuses


def test_the_api_counts_each_shopper_by_the_address_the_load_balancer_saw(web_app, api_app, monkeypatch, redis_clean):
    """A forged X-Forwarded-For sent to the storefront does not give a shopper a new address at the
    API, and one shopper's failures do not block another shopper behind the same storefront."""
    monkeypatch.setitem(api_app.registry.settings, "bookstore.login_max_failures_per_address", 3)
    attacker = webtest.TestApp(web_app, extra_environ={"REMOTE_ADDR": "192.0.2.10", "HTTP_HOST": "shop.test"})
    shopper = webtest.TestApp(web_app, extra_environ={"REMOTE_ADDR": "192.0.2.11", "HTTP_HOST": "shop.test"})

    assert _failed_logins(attacker, 4, forged=True) == [400, 400, 400, 429]
    assert _failed_logins(shopper, 1, forged=False) == [400]


def test_the_load_balancers_forwarded_address_is_believed(web_app, api_app, monkeypatch, redis_clean):
    monkeypatch.setitem(api_app.registry.settings, "bookstore.login_max_failures_per_address", 2)
    behind_lb = {"REMOTE_ADDR": "127.0.0.5", "HTTP_HOST": "shop.test"}  # the load balancer: a trusted proxy
    one = webtest.TestApp(web_app, extra_environ={**behind_lb, "HTTP_X_FORWARDED_FOR": "198.51.100.1"})
    two = webtest.TestApp(web_app, extra_environ={**behind_lb, "HTTP_X_FORWARDED_FOR": "198.51.100.2"})
    assert _failed_logins(one, 3, forged=False) == [400, 400, 429]
    assert _failed_logins(two, 1, forged=False) == [400]
