"""The profile pages (name, password, e-mail address), confirming the address, and sessions whose token the
API no longer accepts."""

from __future__ import annotations

from tests.helpers.clients import Client, unique_email

from .account_helpers import form_with_action, last_link, outbox_links, post_without_csrf, signed_in_again
from .conftest import PASSWORD, add_to_cart, checkout, csrf_token, log_in, register

SESSION_COOKIE = "bookstore_session"
NEW_PASSWORD = "a brand new passphrase"


def api_client(testapp, email: str, password: str = PASSWORD) -> Client:
    """The shopper on another device: a token of their own, straight from the API."""
    token = Client(testapp).post("/auth/tokens", {"email": email, "password": password}).json["token"]
    return Client(testapp, token)


def change_password(web, current: str, new: str, again: str | None = None, status="*"):
    form = web.get("/account/password").forms["password-form"]
    form["current_password"], form["new_password"] = current, new
    form["confirm_password"] = new if again is None else again
    return form.submit(status=status)


def shown_email(page) -> str:
    return page.html.find("dt", string="Email").find_next("dd").get_text(" ", strip=True)


def confirm(web, link: str):
    return web.get(link).forms["verify-email-form"].submit(status="*")


# --- the account page ---------------------------------------------------------------------------


def test_the_account_page_links_to_every_account_page(web):
    register(web)
    page = web.get("/account")
    hrefs = {a["href"] for a in page.html.select("main a")}
    expected = {"/account/name", "/account/email", "/account/password", "/account/addresses", "/wishlist"}
    assert expected | {"/account/export", "/account/delete"} <= hrefs


# --- name ---------------------------------------------------------------------------------------


def test_change_name(web):
    register(web, name="Ada Reader")
    form = web.get("/account/name").forms["name-form"]
    assert form["name"].value == "Ada Reader"
    form["name"] = "Ada King"

    account = form.submit(status=303).follow()

    assert "Your name is saved." in account.text
    assert account.html.find("dd", string="Ada King") is not None


def test_an_empty_name_is_explained(web):
    register(web)
    form = web.get("/account/name").forms["name-form"]
    form["name"] = "   "
    page = form.submit(status=400)
    assert page.html.find(id="f-name-error").text == "Enter your name."


# --- password -----------------------------------------------------------------------------------


def test_change_password_keeps_the_shopper_signed_in_under_a_new_session_id(web, other_browser, testapp, book):
    email = register(web)
    add_to_cart(web, book.id, 2)
    before = web.cookies[SESSION_COOKIE]

    response = change_password(web, PASSWORD, NEW_PASSWORD)

    assert response.status_int == 303 and response.location == "/account"
    assert web.cookies[SESSION_COOKIE] != before
    account = response.follow()
    assert "Your password is changed." in account.text
    assert account.html.find(id="cart-count").get_text(strip=True).startswith("2")  # the cart came along
    assert web.get("/orders").status_int == 200  # still signed in: the API still takes this session's token
    assert signed_in_again(other_browser, email, NEW_PASSWORD)
    Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}, status=401)


def test_change_password_needs_the_current_one(web):
    register(web)
    page = change_password(web, "not my password at all", NEW_PASSWORD)
    assert page.status_int == 400
    assert page.html.find(id="f-current_password-error").text == "This is not your current password."
    assert all(i["value"] == "" for i in page.html.select("input[type=password]"))
    assert web.get("/account").status_int == 200  # a wrong guess does not sign the shopper out


def test_change_password_explains_weak_and_mismatched_passwords(web):
    register(web)
    assert change_password(web, PASSWORD, "short").html.find(id="f-new_password-error").text == (
        "Use at least 10 characters."
    )
    mismatch = change_password(web, PASSWORD, NEW_PASSWORD, "something else entirely")
    assert "not the same" in mismatch.html.find(id="f-confirm_password-error").text


def test_a_password_change_signs_out_the_other_browsers(web, other_browser):
    email = register(web)
    log_in(other_browser, email).follow()
    assert other_browser.get("/account").status_int == 200

    change_password(web, PASSWORD, NEW_PASSWORD)

    response = other_browser.get("/account", status=303)
    assert response.location.startswith("/login?next=%2Faccount")
    assert "Your session has ended. Please log in again." in response.follow().text


# --- a token the API no longer accepts ----------------------------------------------------------


def test_a_token_revoked_elsewhere_signs_the_shopper_out_cleanly(web, testapp, book):
    email = register(web)
    other_device = api_client(testapp, email)
    other_device.post("/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, status=204)

    # a catalogue page swallows the refusal of its per-shopper call: the shopper sees the page signed out
    page = web.get(f"/books/{book.id}")
    assert page.status_int == 200
    assert "Your session has ended. Please log in again." in page.text
    assert page.html.find("a", string="Log in") is not None
    assert web.get("/account", status=303).location.startswith("/login")


def test_a_revoked_token_on_a_form_post_leads_to_log_in(web, testapp):
    email = register(web)
    form = web.get("/account/name").forms["name-form"]
    api_client(testapp, email).post(
        "/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, status=204
    )
    form["name"] = "Too Late"

    response = form.submit(status=303)

    assert response.location.startswith("/login")
    assert "Your session has ended. Please log in again." in response.follow().text


def test_a_revoked_token_with_htmx_redirects_the_whole_page(web, testapp, book):
    email = register(web)
    token = csrf_token(web.get("/cart"))
    api_client(testapp, email).post(
        "/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, status=204
    )

    response = web.post(
        f"/wishlist/{book.id}", {"action": "add", "csrf_token": token}, headers={"HX-Request": "true"}, status=204
    )

    assert response.headers["HX-Redirect"].startswith("/login")


# --- e-mail address -----------------------------------------------------------------------------


def test_change_email_asks_to_check_the_new_inbox_and_applies_once_confirmed(web, dbsession):
    old = register(web)
    new = unique_email("moved")
    form = web.get("/account/email").forms["email-form"]
    form["new_email"], form["password"] = new, PASSWORD

    response = form.submit(status=303)

    assert response.location == "/account/email/sent"
    sent = response.follow()
    assert sent.html.find("h1").text == "Check your new inbox"
    assert new in sent.text and old in sent.text
    assert shown_email(web.get("/account")).startswith(old)  # not changed yet

    done = confirm(web, last_link(dbsession, new, "verify-email"))
    assert done.status_int == 303 and done.location == "/verify-email/done"
    assert done.follow().html.find("h1").text == "Your email address is confirmed"
    assert shown_email(web.get("/account")) == new


def test_change_email_needs_the_password_and_a_free_address(web, other_browser):
    taken = register(other_browser)
    register(web)
    form = web.get("/account/email").forms["email-form"]
    form["new_email"], form["password"] = unique_email("moved"), "not the password"
    wrong = form.submit(status=400)
    assert wrong.html.find(id="f-password-error").text == "The password is not right."

    form = wrong.forms["email-form"]
    form["new_email"], form["password"] = "nope", PASSWORD
    assert form.submit(status=400).html.find(id="f-new_email-error")

    form["new_email"], form["password"] = taken, PASSWORD
    response = form.submit(status="*")
    # either refused at once, or the same "check your inbox" page (the API may not say the address is taken)
    assert response.status_int in (303, 400)
    if response.status_int == 400:
        assert response.html.find(id="f-new_email-error")


# --- confirming the address ---------------------------------------------------------------------


def test_a_new_account_is_asked_to_confirm_its_address(web, dbsession):
    email = register(web)

    account = web.get("/account")

    notice = account.html.find(id="verify-notice")
    assert notice is not None and email in notice.text
    assert last_link(dbsession, email, "verify-email")  # the sign-up mailed it


def test_resend_mails_a_new_link(web, dbsession):
    email = register(web)
    before = len(outbox_links(dbsession, email, "verify-email"))
    form = form_with_action(web.get("/account"), "/account/verify-email")

    account = form.submit(status=303).follow()

    assert f"We have sent a new confirmation link to {email}." in account.text
    assert len(outbox_links(dbsession, email, "verify-email")) == before + 1


def test_confirming_the_address_is_a_button_not_a_link(web, other_browser, dbsession):
    email = register(web)
    link = last_link(dbsession, email, "verify-email")

    for _ in range(2):  # a mail scanner's prefetch, then the shopper in another browser, signed out
        page = other_browser.get(link)
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert web.get("/account").html.find(id="verify-notice") is not None  # still unconfirmed

    done = page.forms["verify-email-form"].submit(headers={"Origin": "null"}, status=303).follow()

    assert "Your email address is confirmed" in done.text
    assert web.get("/account").html.find(id="verify-notice") is None


def test_a_used_or_unknown_confirmation_link_is_explained(web, dbsession):
    email = register(web)
    link = last_link(dbsession, email, "verify-email")
    confirm(web, link)

    for page in (confirm(web, link), confirm(web, "/verify-email/" + "y" * 43)):
        assert page.status_int == 400
        assert page.html.find("h1").text == "This link no longer works"
    assert web.get("/verify-email/not%20valid", status=400)


def test_reviews_need_a_confirmed_address_and_the_book_page_says_why(web, dbsession, book):
    email = register(web)
    add_to_cart(web, book.id)
    checkout(web).submit(status=303)

    page = web.get(f"/books/{book.id}")

    assert "review-form" not in page.forms
    why = page.html.find(id="review-needs-verification")
    assert why is not None and "confirmed your email address" in why.text
    assert why.find("a")["href"] == "/account"

    confirm(web, last_link(dbsession, email, "verify-email"))
    assert "review-form" in web.get(f"/books/{book.id}").forms


# --- CSRF ---------------------------------------------------------------------------------------


def test_the_profile_forms_refuse_a_post_without_csrf_token(web, dbsession, testapp):
    email = register(web)
    for path, data in (
        ("/account/name", {"name": "Forged"}),
        ("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ("/account/email", {"new_email": unique_email("forged"), "password": PASSWORD}),
        ("/account/verify-email", {}),
        (last_link(dbsession, email, "verify-email"), {}),
    ):
        post_without_csrf(web, path, data)
    account = web.get("/account")
    assert account.html.find("dd", string="Ada Reader") is not None
    assert account.html.find(id="verify-notice") is not None
    Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}, status=201)  # unchanged
