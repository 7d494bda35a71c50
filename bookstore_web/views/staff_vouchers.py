"""The back-office's vouchers: the list with their uses, create, edit, deactivate (and reactivate).

Staff only, like every page under ``/staff``; the API checks the role again on
each call. Times are entered and shown in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pyramid.request import Request

from bookstore_core.money import parse_price

from ..api import ApiError
from . import pages, path_id, positive_int, see_other
from .staff import staff_view

PER_PAGE = 25
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")
KINDS = [("percent", "Percentage off the books"), ("fixed", "Fixed amount off the books")]
TEXT_FIELDS = ("code", "kind", "value", "min_subtotal", "starts_at", "ends_at", "max_uses", "max_uses_per_customer")
#: the API's bounds for the limits (openapi.yaml VoucherFields)
LIMITS = {"max_uses": 100_000_000, "max_uses_per_customer": 100_000}


def _utc_input(value: str | None) -> str:
    """An API date-time as a ``datetime-local`` value in UTC (``2026-12-04T18:30``)."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _utc_moment(text: str) -> str | None:
    """A ``datetime-local`` value read as UTC, as the API's date-time; None when it is not one."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


def voucher_form(request: Request) -> dict[str, Any]:
    form: dict[str, Any] = {name: (request.POST.get(name) or "").strip() for name in TEXT_FIELDS}
    form["genres"] = [g for g in request.POST.getall("genres") if g]
    form["active"] = request.POST.get("active") == "1"
    return form


def voucher_body(form: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body for a create/update from the staff form, and the errors found first."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"genres": form["genres"], "active": form["active"]}
    if not CODE.match(form["code"]):
        errors["code"] = "Use 3 to 32 letters, digits, hyphens or underscores, starting with a letter or digit."
    body["code"] = form["code"]
    if form["kind"] not in {value for value, _ in KINDS}:
        errors["kind"] = "Choose the kind of discount."
    body["kind"] = form["kind"]
    value = parse_price(form["value"])
    if value is None or value <= 0:
        errors["value"] = "Enter the discount as a number above zero, such as 10 or 5.50."
    elif form["kind"] == "percent" and value > 100:
        errors["value"] = "A percentage is at most 100."
    body["value"] = form["value"]
    if form["min_subtotal"]:
        if parse_price(form["min_subtotal"]) is None:
            errors["min_subtotal"] = "Enter an amount such as 25 or 25.00."
        body["min_subtotal"] = form["min_subtotal"]
    elif not creating:
        body["min_subtotal"] = None
    for name in ("starts_at", "ends_at"):
        if form[name]:
            moment = _utc_moment(form[name])
            if moment is None:
                errors[name] = "Enter a date and time."
            body[name] = moment
        elif not creating:
            body[name] = None
    if body.get("starts_at") and body.get("ends_at") and body["ends_at"] <= body["starts_at"]:
        errors.setdefault("ends_at", "The end must be after the start.")
    for name, maximum in LIMITS.items():
        if form[name]:
            if form[name].isascii() and form[name].isdigit() and 1 <= int(form[name]) <= maximum:
                body[name] = int(form[name])
            else:
                errors[name] = f"Enter a whole number from 1 to {maximum:,}, or leave it empty for no limit."
        elif not creating:
            body[name] = None
    return body, errors


def _api_form_errors(exc: ApiError) -> dict[str, str]:
    if exc.status == 409:
        return {"code": "A voucher with this code already exists."}
    if exc.status == 400:
        return {name.split(".")[0]: message for name, message in exc.fields.items()} or {"form": exc.message}
    raise exc


def _form_from_voucher(voucher: dict[str, Any]) -> dict[str, Any]:
    form = {name: "" if voucher.get(name) is None else str(voucher[name]) for name in TEXT_FIELDS}
    form["starts_at"] = _utc_input(voucher.get("starts_at"))
    form["ends_at"] = _utc_input(voucher.get("ends_at"))
    form["genres"] = list(voucher.get("genres") or [])
    form["active"] = bool(voucher.get("active"))
    return form


def _context(request: Request, form: dict[str, Any], errors: dict[str, str], voucher: dict | None) -> dict:
    genres = request.api.get("/genres")["items"]
    return {"form": form, "errors": errors, "genres": genres, "kinds": KINDS, "voucher": voucher}


@staff_view(route_name="staff_vouchers", renderer="staff/vouchers.html", request_method="GET")
def vouchers(request: Request) -> dict[str, Any]:
    page = positive_int(request.GET.get("page"), 1)
    result = request.api.get("/vouchers", {"page": page, "per_page": PER_PAGE})
    return {"vouchers": result["items"], "paging": pages(page, PER_PAGE, int(result["total"]))}


@staff_view(route_name="staff_voucher_new", renderer="staff/voucher_form.html", request_method="GET")
def voucher_new(request: Request) -> dict[str, Any]:
    form = {name: "" for name in TEXT_FIELDS} | {"kind": "percent", "genres": [], "active": True}
    return _context(request, form, {}, None)


@staff_view(route_name="staff_voucher_new", renderer="staff/voucher_form.html", request_method="POST")
def voucher_create(request: Request) -> Any:
    form = voucher_form(request)
    body, errors = voucher_body(form, creating=True)
    if not errors:
        try:
            created = request.api.post("/vouchers", body)
        except ApiError as exc:
            errors = _api_form_errors(exc)
        else:
            request.session.flash(f"Voucher {created['code']} is created.", "success")
            return see_other(request, request.route_path("staff_vouchers"))
    request.response.status = 400
    return _context(request, form, errors, None)


@staff_view(route_name="staff_voucher_edit", renderer="staff/voucher_form.html", request_method="GET")
def voucher_edit(request: Request) -> dict[str, Any]:
    voucher = request.api.get(f"/vouchers/{path_id(request, 'voucher_id')}")
    return _context(request, _form_from_voucher(voucher), {}, voucher)


@staff_view(route_name="staff_voucher_edit", renderer="staff/voucher_form.html", request_method="POST")
def voucher_update(request: Request) -> Any:
    voucher_id = path_id(request, "voucher_id")
    voucher = request.api.get(f"/vouchers/{voucher_id}")
    form = voucher_form(request)
    body, errors = voucher_body(form, creating=False)
    if not errors:
        try:
            request.api.patch(f"/vouchers/{voucher_id}", body)
        except ApiError as exc:
            errors = _api_form_errors(exc)
        else:
            request.session.flash(f"Voucher {body['code'].upper()} is saved.", "success")
            return see_other(request, request.route_path("staff_vouchers"))
    request.response.status = 400
    return _context(request, form, errors, voucher)


@staff_view(route_name="staff_voucher_active", request_method="POST")
def voucher_active(request: Request) -> Any:
    voucher_id = path_id(request, "voucher_id")
    active = request.POST.get("active") == "1"
    voucher = request.api.patch(f"/vouchers/{voucher_id}", {"active": active})
    state = "active again" if active else "deactivated: it can no longer be used"
    request.session.flash(f"Voucher {voucher['code']} is {state}.", "success")
    return see_other(request, request.route_path("staff_vouchers"))


def includeme(config) -> None:
    config.add_route("staff_vouchers", "/staff/vouchers")
    config.add_route("staff_voucher_new", "/staff/vouchers/new")
    config.add_route("staff_voucher_edit", "/staff/vouchers/{voucher_id}/edit")
    config.add_route("staff_voucher_active", "/staff/vouchers/{voucher_id}/active")
