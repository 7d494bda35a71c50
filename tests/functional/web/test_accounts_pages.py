"""Register, log in, log out and the account page; sessions, cookies and CSRF."""

from __future__ import annotations

from sqlalchemy import text

from tests.helpers.clients import unique_email
from tests.helpers.services import delete_prefix

from .conftest import PASSWORD, add_to_cart, csrf_token, log_in, register

SESSION_COOKIE = "bookstore_session"


def session_id(web) -> str | None:
    return web.cookies.get(SESSION_COOKIE)


def test_register_signs_the_shopper_in(web):
    email = unique_email("new")
    form = web.get("/register").forms["register-form"]
    form["name"], form["email"], form["password"] = "Ada Reader", email, PASSWORD

    response = form.submit(status=303)

    assert response.location.endswith("/account")
    account = response.follow()
    assert "Welcome to Lantern Books, Ada Reader!" in account.text
    assert account.html.find("dd", string=email) is not None
    assert account.html.find("button", string="Log out") is not None


def test_register_shows_inline_errors(web):
    form = web.get("/register").forms["register-form"]
    form["name"], form["email"], form["password"] = "", "not-an-email", "short"

    page = form.submit(status=400)

    assert page.html.find("input", id="f-email")["aria-invalid"] == "true"
    assert page.html.find(id="f-email-error").text == "Enter an email address like name@example.com."
    assert page.html.find(id="f-password-error").text == "Use at least 10 characters."
    assert page.html.find(id="f-name-error").text == "Enter your name."
    assert page.html.find("input", id="f-password")["value"] == ""  # never echoed back


def test_register_with_a_taken_email_explains(web, other_browser):
    email = register(web)
    form = other_browser.get("/register").forms["register-form"]
    form["name"], form["email"], form["password"] = "Someone Else", email, PASSWORD

    page = form.submit(status=400)

    assert "An account with this email already exists" in page.html.find(id="f-email-error").text


def test_login_rotates_the_session_and_redirects_to_next(web, other_browser, book):
    email = register(other_browser)
    add_to_cart(web, book.id)  # the shopper's first action gives them a session
    before = session_id(web)
    assert before, "the cart's id lives in a session"

    response = log_in(web, email, next_url="/orders")

    assert response.status_int == 303 and response.location.endswith("/orders")
    assert session_id(web) != before
    cookie = next(h for n, h in response.headerlist if n.lower() == "set-cookie" and h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "secure" not in cookie.lower()


def test_login_with_a_wrong_password_fails_kindly(web, other_browser):
    email = register(other_browser)

    page = log_in(web, email, "not the right password")

    assert page.status_int == 400
    assert "The email or password is not right." in page.text
    assert page.html.find("input", id="f-email")["value"] == email


def test_login_refuses_an_outside_redirect(web, other_browser):
    email = register(other_browser)

    response = log_in(web, email, next_url="//evil.example/steal")

    assert response.location == "/"


def test_logout_revokes_and_rotates(web):
    register(web)
    account = web.get("/account")
    signed_in = session_id(web)

    response = web.post("/logout", {"csrf_token": csrf_token(account)})

    assert response.status_int == 303
    home = response.follow()
    assert "You are logged out." in home.text
    assert session_id(web) != signed_in
    assert web.get("/account", status=303).location.startswith("/login?next=%2Faccount")


def test_logout_page_without_javascript(web):
    register(web)
    page = web.get("/logout")
    response = page.forms["logout-form"].submit(status=303)
    assert response.follow().html.find("a", string="Log in") is not None


def test_account_requires_login(web):
    response = web.get("/account", status=303)
    assert "/login?next=%2Faccount" in response.location


def test_post_without_csrf_token_is_refused(web, book):
    register(web)
    web.get("/")

    for path, data in (
        ("/logout", {}),
        ("/cart/items", {"book_id": str(book.id)}),
        ("/login", {"email": "a@example.com", "password": PASSWORD}),
    ):
        page = web.post(path, data, status=400)
        assert "This form has expired" in page.text
    forged = web.post("/cart/items", {"book_id": str(book.id), "csrf_token": "forged"}, status=400)
    assert "This form has expired" in forged.text
    assert web.get("/account").status_int == 200  # still signed in: the forged log-out did nothing


def test_a_token_the_api_no_longer_accepts_signs_the_shopper_out(web, dbsession, services):
    register(web)
    dbsession.execute(text("UPDATE auth_tokens SET expires_at = now() - interval '1 day'"))
    dbsession.flush()
    delete_prefix(services.redis_url, services.redis_prefix + "tok:")  # the API's token cache

    response = web.get("/account", status=303)

    assert "/login?next=%2Faccount" in response.location
    assert "Your session has ended" in response.follow().text
