"""Your data: downloading the API's export, and deleting the account."""

from __future__ import annotations

import json

from .account_helpers import form_with_action, post_without_csrf
from .conftest import PASSWORD, csrf_token, log_in, register


def delete_account(web, password: str = PASSWORD, understood: bool = True, status="*"):
    form = web.get("/account/delete").forms["delete-account-form"]
    form["password"] = password
    form["confirm"].checked = understood
    return form.submit(status=status)


def test_download_my_data_is_a_json_attachment(web):
    email = register(web, name="Data Reader")
    link = web.get("/account").html.find("a", string="Download my data")

    response = web.get(link["href"])

    assert response.content_type == "application/json"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="lantern-books-my-data-') and disposition.endswith('.json"')
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.body)
    assert email in json.dumps(data)
    assert "Data Reader" in json.dumps(data, ensure_ascii=False)


def test_download_needs_a_signed_in_shopper(web):
    assert web.get("/account/export", status=303).location.startswith("/login?next=%2Faccount%2Fexport")


def test_delete_my_account_warns_and_signs_out(web, other_browser):
    email = register(web)
    page = web.get("/account/delete")
    assert "This cannot be undone." in page.html.find(id="delete-warning").text

    response = delete_account(web)

    assert response.status_int == 303 and response.location == "/"
    home = response.follow()
    assert "Your account is deleted." in home.text
    assert home.html.find("a", string="Log in") is not None
    assert web.get("/account", status=303).location.startswith("/login")
    assert log_in(other_browser, email).status_int == 400  # the account can no longer log in


def test_delete_needs_the_password_and_the_box_ticked(web):
    register(web)
    wrong = delete_account(web, "not my password at all")
    assert wrong.status_int == 400
    assert wrong.html.find(id="f-password-error").text == "The password is not right."
    unticked = delete_account(web, understood=False)
    assert unticked.status_int == 400
    assert "Tick the box" in unticked.html.find(id="f-confirm-error").text
    assert web.get("/account").status_int == 200  # still there, still signed in


def test_deleting_signs_out_the_other_browsers_cleanly(web, other_browser):
    email = register(web)
    log_in(other_browser, email).follow()

    delete_account(web, status=303)

    response = other_browser.get("/orders", status=303)
    assert response.location.startswith("/login")
    assert "Your session has ended. Please log in again." in response.follow().text


def test_the_delete_form_refuses_a_post_without_csrf_token(web):
    email = register(web)
    post_without_csrf(web, "/account/delete", {"password": PASSWORD, "confirm": "1"})
    assert web.get("/account").status_int == 200
    form_with_action(web.get("/account"), "/logout").submit(status=303)
    assert log_in(web, email).status_int == 303  # the account is still there
    assert csrf_token(web.get("/account"))
