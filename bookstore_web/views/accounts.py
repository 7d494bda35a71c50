"""Accounts: register, log in, log out and the account page (its other pages: profile, addresses, wishlist, data).

Forms post and redirect; invalid input re-renders the form (status 400) with
messages next to the fields. The password never leaves the server except to
the API, and it is never echoed back into a form.
"""

from __future__ import annotations

import re
from typing import Any

from pyramid.request import Request
from pyramid.view import view_config

from bookstore_core.accounts import password_problem

from ..api import ApiError
from ..auth import log_in, log_out, remember_user
from . import safe_next, see_other

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _form(request: Request, *names: str) -> dict[str, str]:
    return {name: (request.POST.get(name) or "").strip() for name in names}


def _rate_limited_message(exc: ApiError) -> str:
    wait = exc.details.get("retry_after")
    minutes = max(1, -(-int(wait) // 60)) if isinstance(wait, int) else None
    if minutes:
        return f"Too many failed attempts. Please wait {minutes} minute{'s' if minutes != 1 else ''} and try again."
    return "Too many failed attempts. Please wait a few minutes and try again."


@view_config(route_name="login", renderer="accounts/login.html", request_method="GET")
def login_form(request: Request) -> Any:
    next_url = safe_next(request.GET.get("next"), "")
    if request.user is not None:
        return see_other(request, next_url or request.route_path("account"))
    return {"form": {"email": ""}, "errors": {}, "next": next_url}


@view_config(route_name="login", renderer="accounts/login.html", request_method="POST")
def login_submit(request: Request) -> Any:
    form = {"email": (request.POST.get("email") or "").strip(), "password": request.POST.get("password") or ""}
    next_url = safe_next(request.POST.get("next"), "")
    errors: dict[str, str] = {}
    if not form["email"]:
        errors["email"] = "Enter your email address."
    if not form["password"]:
        errors["password"] = "Enter your password."  # noqa: S105 - a message, not a password
    if not errors:
        try:
            user = log_in(request, form["email"], form["password"])
        except ApiError as exc:
            if exc.status == 429:
                errors["form"] = _rate_limited_message(exc)
            elif exc.status in (400, 401):
                errors["form"] = "The email or password is not right."
            else:
                raise
        else:
            request.session.flash(f"Welcome back, {user.get('name') or user.get('email')}.", "success")
            return see_other(request, next_url or request.route_path("home"))
    request.response.status = 429 if "Too many" in errors.get("form", "") else 400
    return {"form": {"email": form["email"]}, "errors": errors, "next": next_url}


@view_config(route_name="register", renderer="accounts/register.html", request_method="GET")
def register_form(request: Request) -> Any:
    if request.user is not None:
        return see_other(request, request.route_path("account"))
    return {"form": {}, "errors": {}, "next": safe_next(request.GET.get("next"), "")}


def _registration_errors(form: dict[str, str], password: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not form["name"]:
        errors["name"] = "Enter your name."
    elif len(form["name"]) > 200:
        errors["name"] = "Use at most 200 characters."
    if not EMAIL.match(form["email"]) or len(form["email"]) > 254:
        errors["email"] = "Enter an email address like name@example.com."
    problem = password_problem(password)
    if problem:
        errors["password"] = problem
    return errors


@view_config(route_name="register", renderer="accounts/register.html", request_method="POST")
def register_submit(request: Request) -> Any:
    form = _form(request, "name", "email")
    password = request.POST.get("password") or ""
    next_url = safe_next(request.POST.get("next"), "")
    errors = _registration_errors(form, password)
    if not errors:
        try:
            request.api.post("/users", {"email": form["email"], "password": password, "name": form["name"]}, token=None)
        except ApiError as exc:
            if exc.status == 409:
                errors["email"] = "An account with this email already exists. Log in instead?"
            elif exc.status == 400:
                fields = {k: v for k, v in exc.fields.items() if k in ("name", "email", "password")}
                errors.update(fields or {"form": exc.message})
            else:
                raise
        else:
            log_in(request, form["email"], password)
            request.session.flash(f"Welcome to Lantern Books, {form['name']}! Your account is ready.", "success")
            return see_other(request, next_url or request.route_path("account"))
    request.response.status = 400
    return {"form": form, "errors": errors, "next": next_url}


@view_config(route_name="logout", renderer="accounts/logout.html", request_method="GET")
def logout_form(request: Request) -> Any:
    if request.user is None:
        return see_other(request, request.route_path("home"))
    return {}


@view_config(route_name="logout", request_method="POST")
def logout_submit(request: Request) -> Any:
    log_out(request)
    request.session.flash("You are logged out. See you soon!", "info")
    return see_other(request, request.route_path("home"))


@view_config(route_name="account", renderer="accounts/account.html", request_method="GET", permission="authenticated")
def account(request: Request) -> dict[str, Any]:
    me = request.api.get("/me")
    remember_user(request, me)  # a name, address or confirmation changed elsewhere shows everywhere now
    return {"me": me}


def includeme(config) -> None:
    config.add_route("login", "/login")
    config.add_route("register", "/register")
    config.add_route("logout", "/logout")
    config.add_route("account", "/account")
