"""The shopper's data: download everything the shop holds about them, or delete the account.

* "Download my data" is the API's export (``GET /me/export``) as a JSON file
  (``Content-Disposition: attachment``), never stored or cached on the way.
* "Delete my account" asks for the password after saying plainly what is lost;
  afterwards the shopper is signed out (a fresh, empty session) and told so.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from ..api import ApiError
from ..auth import rotate_session
from . import see_other


@view_config(route_name="account_export", request_method="GET", permission="authenticated")
def export(request: Request) -> Response:
    data = request.api.get("/me/export")
    body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    filename = f"lantern-books-my-data-{dt.datetime.now(dt.UTC).date().isoformat()}.json"
    response = Response(body=body, content_type="application/json", charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@view_config(
    route_name="account_delete", renderer="accounts/delete.html", request_method="GET", permission="authenticated"
)
def delete_form(request: Request) -> dict[str, Any]:
    return {"errors": {}}


@view_config(
    route_name="account_delete", renderer="accounts/delete.html", request_method="POST", permission="authenticated"
)
def delete_submit(request: Request) -> Any:
    password = request.POST.get("password") or ""
    errors: dict[str, str] = {}
    if not password:
        errors["password"] = "Enter your password to delete your account."  # noqa: S105 - a message
    if request.POST.get("confirm") not in ("1", "on", "true"):
        errors["confirm"] = "Tick the box to say you understand that this cannot be undone."
    if not errors:
        try:
            request.api.delete("/me", json={"password": password})
        except ApiError as exc:
            if exc.status in (400, 403):
                errors["password"] = "The password is not right."  # noqa: S105 - a message
            elif exc.status == 429:
                errors["form"] = "There have been too many attempts. Please wait a few minutes and try again."
            else:
                raise
        else:
            rotate_session(request)  # the account and its tokens are gone: nothing of it stays here
            request.session.flash("Your account is deleted. Thank you for shopping with us.", "info")
            return see_other(request, request.route_path("home"))
    request.response.status = 429 if "too many" in errors.get("form", "") else 400
    return {"errors": errors}


def includeme(config) -> None:
    config.add_route("account_export", "/account/export")
    config.add_route("account_delete", "/account/delete")
