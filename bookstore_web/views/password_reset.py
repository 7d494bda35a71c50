"""A forgotten password: ask for a link, then set a new password from it.

* ``/forgot-password`` asks the API to mail a link and always answers with the
  same "if an account exists, we sent a link" page, so the form tells nobody
  which addresses have accounts. Only a rate limit (429) is said as such.
* ``/reset-password/{token}`` shows the new-password form. Its GET never calls
  the API: mail scanners and link previews fetch links before the shopper does,
  and the token must still work when the shopper clicks. The token is spent
  only by the form's POST.
* The page is sent with ``Referrer-Policy: no-referrer`` (see
  :mod:`bookstore_web.tweens`), so the token in its URL leaves in no
  ``Referer``. A browser then posts the form with ``Origin: null``, which the
  session-less CSRF check refuses; the page therefore gives the visitor a
  session (and its own CSRF token) when it is shown.
* Success revokes every token of the account at the API: a shopper signed in
  in this browser is signed out here too, and invited to log in again.
"""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.view import view_config

from bookstore_core.accounts import password_problem

from ..api import ApiError
from ..auth import rotate_session
from ..sessions import has_session
from . import form_values, mailed_token, retry_minutes, see_other, session_for_forms
from .accounts import EMAIL

#: what a reset token from the API can look like; anything else is a broken link (not sent on)


def _too_many(exc: ApiError) -> str:
    minutes = retry_minutes(exc)
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes else "a few minutes"
    return f"We have had too many requests for password links. Please wait {wait} and try again."


@view_config(route_name="forgot_password", renderer="accounts/forgot_password.html", request_method="GET")
def forgot_password_form(request: Request) -> dict[str, Any]:
    return {"form": {"email": (request.GET.get("email") or "").strip()[:254]}, "errors": {}}


@view_config(route_name="forgot_password", renderer="accounts/forgot_password.html", request_method="POST")
def forgot_password_submit(request: Request) -> Any:
    form = form_values(request, "email")
    errors: dict[str, str] = {}
    if not EMAIL.match(form["email"]) or len(form["email"]) > 254:
        errors["email"] = "Enter an email address like name@example.com."
    else:
        try:
            request.api.post("/password-resets", {"email": form["email"]}, token=None)
        except ApiError as exc:
            if exc.status == 429:
                errors["form"] = _too_many(exc)
                request.response.status = 429
                return {"form": form, "errors": errors}
            if exc.status != 400:
                raise
            errors["email"] = "Enter an email address like name@example.com."
        else:
            return see_other(request, request.route_path("forgot_password_sent"))
    request.response.status = 400
    return {"form": form, "errors": errors}


@view_config(route_name="forgot_password_sent", renderer="accounts/forgot_password_sent.html", request_method="GET")
def forgot_password_sent(request: Request) -> dict[str, Any]:
    return {}


def _invalid_link(request: Request) -> dict[str, Any]:
    request.override_renderer = "accounts/reset_password_invalid.html"
    request.response.status = 400
    return {}


@view_config(route_name="reset_password", renderer="accounts/reset_password.html", request_method="GET")
def reset_password_form(request: Request) -> dict[str, Any]:
    # no API call here: a prefetch by a mail scanner must leave the token usable
    token = mailed_token(request)
    if token is None:
        return _invalid_link(request)
    session_for_forms(request)
    return {"token": token, "errors": {}}


@view_config(route_name="reset_password", renderer="accounts/reset_password.html", request_method="POST")
def reset_password_submit(request: Request) -> Any:
    token = mailed_token(request)
    if token is None:
        return _invalid_link(request)
    password = request.POST.get("new_password") or ""
    confirm = request.POST.get("confirm_password") or ""
    errors: dict[str, str] = {}
    problem = password_problem(password)
    if problem:
        errors["new_password"] = problem
    elif confirm != password:
        errors["confirm_password"] = "The two passwords are not the same. Type the new password again."  # noqa: S105
    if not errors:
        try:
            request.api.post(f"/password-resets/{token}", {"password": password}, token=None)
        except ApiError as exc:
            if exc.status == 429:
                errors["form"] = "There have been too many attempts. Please wait a few minutes and try again."
            elif exc.status == 400 and (exc.code == "invalid_token" or "token" in exc.fields):
                return _invalid_link(request)
            elif exc.status == 400:
                errors["new_password"] = exc.fields.get("password") or exc.message
            else:
                raise
        else:
            if has_session(request) and request.user is not None:
                rotate_session(request)  # the API revoked every token of the account, this one too
            return see_other(request, request.route_path("reset_password_done"))
    request.response.status = 429 if "too many" in errors.get("form", "") else 400
    return {"token": token, "errors": errors}


@view_config(route_name="reset_password_done", renderer="accounts/reset_password_done.html", request_method="GET")
def reset_password_done(request: Request) -> dict[str, Any]:
    return {}


def includeme(config) -> None:
    config.add_route("forgot_password", "/forgot-password")
    config.add_route("forgot_password_sent", "/forgot-password/sent")
    config.add_route("reset_password_done", "/reset-password/done")
    config.add_route("reset_password", "/reset-password/{token}")
