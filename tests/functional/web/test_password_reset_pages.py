"""A forgotten password: the request form, the same answer for every address, the reset page and its token."""

from __future__ import annotations

from tests.helpers.clients import Client, unique_email

from .account_helpers import last_link, outbox_links, post_without_csrf, signed_in_again
from .conftest import PASSWORD, register

NEW_PASSWORD = "a brand new passphrase"


def request_link(web, email: str):
    form = web.get("/forgot-password").forms["forgot-password-form"]
    form["email"] = email
    return form.submit(status="*")


def reset(web, link: str, password: str = NEW_PASSWORD, again: str | None = None, status="*"):
    form = web.get(link).forms["reset-password-form"]
    form["new_password"], form["confirm_password"] = password, password if again is None else again
    return form.submit(status=status)


def test_the_login_page_links_to_the_request_form(web):
    login = web.get("/login")
    link = login.html.find("a", string="Forgot your password?")
    assert link["href"] == "/forgot-password"
    assert web.get(link["href"]).html.find("h1").text == "Forgot your password?"


def test_known_and_unknown_addresses_get_the_same_answer(web, other_browser, dbsession):
    email = register(other_browser)

    known = request_link(web, email)
    unknown = request_link(web, unique_email("nobody"))

    assert known.status_int == unknown.status_int == 303
    assert known.location == unknown.location == "/forgot-password/sent"
    page = known.follow()
    assert "If an account exists for the address you entered" in page.text
    assert page.text == unknown.follow().text
    assert last_link(dbsession, email, "reset-password").startswith("/reset-password/")


def test_a_malformed_address_is_explained(web):
    page = request_link(web, "not an address")
    assert page.status_int == 400
    assert page.html.find(id="f-email-error").text == "Enter an email address like name@example.com."


def test_too_many_requests_get_a_friendly_message(web, other_browser):
    email = register(other_browser)
    for _ in range(50):
        response = request_link(web, email)
        if response.status_int == 429:
            break
        assert response.status_int == 303
    else:
        raise AssertionError("50 requests for one address were never rate limited")
    assert "We have had too many requests for password links" in response.html.find(id="form-errors").text
    assert response.html.find("input", id="f-email")["value"] == email


def test_the_reset_journey(web, other_browser, dbsession, testapp):
    email = register(other_browser, name="Forgetful Reader")
    request_link(web, email)
    link = last_link(dbsession, email, "reset-password")

    response = reset(web, link)

    assert response.status_int == 303 and response.location == "/reset-password/done"
    done = response.follow()
    assert done.html.find("h1").text == "Your password is changed"
    assert done.html.find("a", string="Log in")["href"] == "/login"
    assert signed_in_again(web, email, NEW_PASSWORD)
    Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}, status=401)  # the old one is gone


def test_showing_the_reset_page_does_not_spend_the_token(web, other_browser, dbsession):
    """Mail scanners open links before the shopper: only the form's POST may use the token."""
    email = register(other_browser)
    request_link(web, email)
    link = last_link(dbsession, email, "reset-password")

    for _ in range(3):
        page = other_browser.get(link)  # a scanner, a preview, the shopper's first look
        assert page.forms["reset-password-form"]

    assert reset(web, link).status_int == 303


def test_the_reset_page_leaks_its_token_nowhere(web, other_browser, dbsession):
    email = register(other_browser)
    request_link(web, email)
    link = last_link(dbsession, email, "reset-password")

    page = web.get(link)
    refused = reset(web, link, "short")

    for response in (page, refused):
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
    # its form carries the session's own token: posted with "Origin: null" (no-referrer), it still works
    assert "bookstore_session" in web.cookies
    form = web.get(link).forms["reset-password-form"]
    form["new_password"] = form["confirm_password"] = NEW_PASSWORD
    assert form.submit(headers={"Origin": "null"}, status=303).location == "/reset-password/done"


def test_weak_and_mismatched_passwords_are_explained(web, other_browser, dbsession):
    email = register(other_browser)
    request_link(web, email)
    link = last_link(dbsession, email, "reset-password")

    weak = reset(web, link, "short")
    assert weak.status_int == 400
    assert weak.html.find(id="f-new_password-error").text == "Use at least 10 characters."
    common = reset(web, link, "password123456")
    assert common.status_int == 400 and common.html.find(id="f-new_password-error")
    mismatch = reset(web, link, NEW_PASSWORD, "another long passphrase")
    assert mismatch.status_int == 400
    assert "not the same" in mismatch.html.find(id="f-confirm_password-error").text
    assert all(i["value"] == "" for i in mismatch.html.select("input[type=password]"))  # never echoed back

    assert reset(web, link).status_int == 303  # none of those spent the token


def test_a_used_or_unknown_token_explains_and_offers_a_new_link(web, other_browser, dbsession):
    email = register(other_browser)
    request_link(web, email)
    link = last_link(dbsession, email, "reset-password")
    reset(web, link)

    used = reset(web, link, status=400)  # the page still shows (GET spends nothing); its POST is refused
    unknown = reset(web, "/reset-password/" + "x" * 43, status=400)
    malformed = web.get("/reset-password/not%20a%20token", status=400)  # refused without asking the API

    for page in (used, unknown, malformed):
        assert page.html.find("h1").text == "This link no longer works"
        assert page.html.find("a", string="Send me a new link")["href"] == "/forgot-password"


def test_a_reset_signs_out_every_browser_of_the_account(web, other_browser, dbsession):
    email = register(other_browser)  # signed in over there
    assert other_browser.get("/account").status_int == 200
    request_link(web, email)

    reset(web, last_link(dbsession, email, "reset-password"))

    response = other_browser.get("/account", status=303)
    assert response.location.startswith("/login?next=%2Faccount")
    assert "Your session has ended. Please log in again." in response.follow().text


def test_a_signed_in_shopper_who_resets_is_signed_out_here_too(web, dbsession):
    email = register(web)
    request_link(web, email)

    reset(web, last_link(dbsession, email, "reset-password")).follow()

    assert web.get("/account", status=303).location.startswith("/login")


def test_each_request_mails_a_new_link(web, other_browser, dbsession):
    email = register(other_browser)
    request_link(web, email)
    request_link(web, email)
    assert len(outbox_links(dbsession, email, "reset-password")) == 2


def test_the_forms_refuse_a_post_without_csrf_token(web, other_browser, dbsession):
    email = register(other_browser)
    post_without_csrf(web, "/forgot-password", {"email": email})
    assert outbox_links(dbsession, email, "reset-password") == []
    request_link(web, email)
    link = last_link(dbsession, email, "reset-password")
    post_without_csrf(web, link, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert reset(web, link).status_int == 303  # the refused posts did not spend the token
