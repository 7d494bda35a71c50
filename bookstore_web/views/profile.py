"""The shopper's profile: name, password and e-mail address, and confirming the address.

* Changing the password needs the current one. The API revokes the account's
  other tokens; this browser stays signed in, under a new session id (a session
  id seen before the change is worthless after it).
* Changing the e-mail address needs the password; the API mails a link to the
  new address and the change applies once that link is used, so the page says
  "check your new inbox".
* ``/verify-email/{token}`` shows a button that posts; it does not confirm on
  GET. Mail scanners and link previews open links before the shopper does: a GET
  that confirmed would prove nothing about the person, and for a change of
  address would move the account's log-in to the new address without anyone
  having looked at the page. Like the reset page, it is sent with
  ``Referrer-Policy: no-referrer`` and gives the visitor a session for its form
  (see :mod:`bookstore_web.views.password_reset`).
* Unconfirmed accounts see a notice on the account page with a button that
  mails the link again. Reviews need a confirmed address (the book page says so).
"""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.view import view_config

from bookstore_core.accounts import password_problem

from ..api import ApiError
from ..auth import remember_user, rotate_session
from ..sessions import AUTH_KEY, CART_COUNT_KEY
from . import form_values, mailed_token, retry_minutes, see_other, session_for_forms
from .accounts import EMAIL

PENDING_EMAIL_KEY = "pending_email"
#: what a new session id keeps after a password change: everything the shopper had
KEPT_ON_PASSWORD_CHANGE = (AUTH_KEY, "cart_id", CART_COUNT_KEY, "wishlist", PENDING_EMAIL_KEY)


def refresh_me(request: Request) -> dict[str, Any]:
    """``GET /me``, and the session's copy of the user brought up to date with it."""
    me = request.api.get("/me")
    remember_user(request, me)
    return me


def _wait_message(exc: ApiError, what: str) -> str:
    minutes = retry_minutes(exc)
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes else "a few minutes"
    return f"Too many {what}. Please wait {wait} and try again."


# --- name -------------------------------------------------------------------------------------


@view_config(route_name="account_name", renderer="accounts/name.html", request_method="GET", permission="authenticated")
def name_form(request: Request) -> dict[str, Any]:
    return {"form": {"name": (request.user or {}).get("name") or ""}, "errors": {}}


@view_config(
    route_name="account_name", renderer="accounts/name.html", request_method="POST", permission="authenticated"
)
def name_submit(request: Request) -> Any:
    form = form_values(request, "name")
    errors: dict[str, str] = {}
    if not form["name"]:
        errors["name"] = "Enter your name."
    elif len(form["name"]) > 200:
        errors["name"] = "Use at most 200 characters."
    if not errors:
        try:
            me = request.api.patch("/me", {"name": form["name"]})
        except ApiError as exc:
            if exc.status != 400:
                raise
            errors["name"] = exc.fields.get("name") or exc.message
        else:
            remember_user(request, me or {"name": form["name"]})
            request.session.flash("Your name is saved.", "success")
            return see_other(request, request.route_path("account"))
    request.response.status = 400
    return {"form": form, "errors": errors}


# --- password ---------------------------------------------------------------------------------


@view_config(
    route_name="account_password", renderer="accounts/password.html", request_method="GET", permission="authenticated"
)
def password_form(request: Request) -> dict[str, Any]:
    return {"errors": {}}


@view_config(
    route_name="account_password", renderer="accounts/password.html", request_method="POST", permission="authenticated"
)
def password_submit(request: Request) -> Any:
    current = request.POST.get("current_password") or ""
    new = request.POST.get("new_password") or ""
    confirm = request.POST.get("confirm_password") or ""
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = "Enter your current password."  # noqa: S105 - a message
    problem = password_problem(new, (request.user or {}).get("email"))
    if problem:
        errors["new_password"] = problem
    elif new == current:
        errors["new_password"] = "Choose a password that is not your current one."  # noqa: S105
    elif confirm != new:
        errors["confirm_password"] = "The two new passwords are not the same. Type it again."  # noqa: S105
    if not errors:
        try:
            request.api.post("/me/password", {"current_password": current, "new_password": new})
        except ApiError as exc:
            if exc.status == 403:
                errors["current_password"] = "This is not your current password."  # noqa: S105
            elif exc.status == 429:
                errors["form"] = _wait_message(exc, "attempts")
            elif exc.status == 400:
                fields = exc.fields
                if "current_password" in fields:
                    errors["current_password"] = fields["current_password"]
                errors["new_password"] = fields.get("new_password") or fields.get("password") or exc.message
            else:
                raise
        else:
            # the API revoked the account's other tokens; this browser stays signed in, under a new id
            rotate_session(request, keep=KEPT_ON_PASSWORD_CHANGE)
            request.session.flash(
                "Your password is changed. Anyone logged in to your account elsewhere has been logged out.", "success"
            )
            return see_other(request, request.route_path("account"))
    request.response.status = 429 if "Too many" in errors.get("form", "") else 400
    return {"errors": errors}


# --- e-mail address ---------------------------------------------------------------------------


@view_config(
    route_name="account_email", renderer="accounts/email.html", request_method="GET", permission="authenticated"
)
def email_form(request: Request) -> dict[str, Any]:
    return {"form": {"new_email": ""}, "errors": {}, "current": (request.user or {}).get("email")}


@view_config(
    route_name="account_email", renderer="accounts/email.html", request_method="POST", permission="authenticated"
)
def email_submit(request: Request) -> Any:
    form = form_values(request, "new_email")
    password = request.POST.get("password") or ""
    current = (request.user or {}).get("email") or ""
    errors: dict[str, str] = {}
    if not EMAIL.match(form["new_email"]) or len(form["new_email"]) > 254:
        errors["new_email"] = "Enter an email address like name@example.com."
    elif form["new_email"].lower() == current.lower():
        errors["new_email"] = "This is already your email address."
    if not password:
        errors["password"] = "Enter your password."  # noqa: S105 - a message
    if not errors:
        try:
            request.api.post("/me/email", {"password": password, "new_email": form["new_email"]})
        except ApiError as exc:
            if exc.status == 403:
                errors["password"] = "The password is not right."  # noqa: S105 - a message
            elif exc.status == 409:
                errors["new_email"] = "Another account uses this email address."
            elif exc.status == 429:
                errors["form"] = _wait_message(exc, "attempts")
            elif exc.status == 400:
                fields = exc.fields
                if "password" in fields:
                    errors["password"] = fields["password"]
                errors["new_email"] = fields.get("new_email") or fields.get("email") or exc.message
            else:
                raise
        else:
            request.session[PENDING_EMAIL_KEY] = form["new_email"]
            return see_other(request, request.route_path("account_email_sent"))
    request.response.status = 429 if "Too many" in errors.get("form", "") else 400
    return {"form": form, "errors": errors, "current": current}


@view_config(
    route_name="account_email_sent",
    renderer="accounts/email_sent.html",
    request_method="GET",
    permission="authenticated",
)
def email_sent(request: Request) -> Any:
    pending = request.session.get(PENDING_EMAIL_KEY)
    if not pending:
        return see_other(request, request.route_path("account"))
    return {"pending": pending, "current": (request.user or {}).get("email")}


# --- confirming the address -------------------------------------------------------------------


def _invalid_verification(request: Request) -> dict[str, Any]:
    request.override_renderer = "accounts/verify_email_invalid.html"
    request.response.status = 400
    return {}


@view_config(route_name="verify_email", renderer="accounts/verify_email.html", request_method="GET")
def verify_email_page(request: Request) -> dict[str, Any]:
    # no API call: the link is spent by the button's POST only (see the module docstring)
    token = mailed_token(request)
    if token is None:
        return _invalid_verification(request)
    session_for_forms(request)
    return {"token": token}


@view_config(route_name="verify_email", renderer="accounts/verify_email_invalid.html", request_method="POST")
def verify_email_submit(request: Request) -> Any:
    token = mailed_token(request)
    if token is None:
        return _invalid_verification(request)
    try:
        request.api.post(f"/email-verifications/{token}", token=None)
    except ApiError as exc:
        if exc.status == 400:
            return _invalid_verification(request)
        if exc.status == 409:  # another account took the new address since the link was mailed
            request.override_renderer = "accounts/verify_email_taken.html"
            request.response.status = 409
            return {}
        raise
    if request.user is not None:
        try:
            refresh_me(request)  # a changed address shows at once; a 401 signs the shopper out cleanly
        except ApiError as exc:
            if exc.status != 401:
                raise
        else:
            request.session.pop(PENDING_EMAIL_KEY, None)
    return see_other(request, request.route_path("verify_email_done"))


@view_config(route_name="verify_email_done", renderer="accounts/verify_email_done.html", request_method="GET")
def verify_email_done(request: Request) -> dict[str, Any]:
    return {}


@view_config(route_name="verify_email_resend", request_method="POST", permission="authenticated")
def verify_email_resend(request: Request) -> Any:
    try:
        request.api.post("/email-verifications")
    except ApiError as exc:
        if exc.status == 429:
            request.session.flash(_wait_message(exc, "links sent"), "error")
        elif exc.status == 409:
            refresh_me(request)
            request.session.flash("Your email address is already confirmed.", "info")
        else:
            raise
    else:
        address = (request.user or {}).get("email") or "your address"
        request.session.flash(f"We have sent a new confirmation link to {address}.", "success")
    return see_other(request, request.route_path("account"))


def includeme(config) -> None:
    config.add_route("account_name", "/account/name")
    config.add_route("account_password", "/account/password")
    config.add_route("account_email", "/account/email")
    config.add_route("account_email_sent", "/account/email/sent")
    config.add_route("verify_email_resend", "/account/verify-email")
    config.add_route("verify_email_done", "/verify-email/done")
    config.add_route("verify_email", "/verify-email/{token}")
