"""The address book: list, add, edit, delete and choose the default delivery address.

The addresses live in bookstore_api (``/me/addresses``), which answers 404 for an
address of another account; so does every page here (the friendly 404 page), an
edit page included: it looks the address up in the shopper's own list. Checkout
offers the saved addresses (:mod:`bookstore_web.views.orders`).
"""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound
from pyramid.request import Request
from pyramid.view import view_config

from ..api import ApiError
from . import form_values, path_id, see_other

#: every field of a saved address; ``line2`` and ``region`` are optional
FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country")
OPTIONAL = frozenset({"line2", "region"})
MAX_LENGTHS = {"name": 200, "line1": 200, "line2": 200, "city": 100, "region": 100, "postal_code": 20}
COUNTRIES = [
    ("US", "United States"),
    ("CA", "Canada"),
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("NL", "Netherlands"),
    ("PT", "Portugal"),
    ("AU", "Australia"),
    ("NZ", "New Zealand"),
]
COUNTRY_CODES = {code for code, _ in COUNTRIES}
COUNTRY_NAMES = dict(COUNTRIES)
REQUIRED_MESSAGES = {
    "name": "Enter the name of the person receiving the parcel.",
    "line1": "Enter the street address.",
    "city": "Enter the town or city.",
    "postal_code": "Enter the postal code.",
}


def address_errors(form: dict[str, str], fields: tuple[str, ...] = FIELDS) -> dict[str, str]:
    """Field -> message for what is missing or too long in a delivery address."""
    errors: dict[str, str] = {}
    for name in fields:
        value = form.get(name, "")
        if name == "country":
            if value not in COUNTRY_CODES:
                errors[name] = "Choose a country we deliver to."
        elif not value and name not in OPTIONAL:
            errors[name] = REQUIRED_MESSAGES.get(name, "Fill in this field.")
        elif len(value) > MAX_LENGTHS.get(name, 200):
            errors[name] = f"Use at most {MAX_LENGTHS.get(name, 200)} characters."
    return errors


def saved_addresses(request: Request) -> list[dict[str, Any]]:
    """The shopper's saved addresses, the default first."""
    found = request.api.get("/me/addresses", {"per_page": 100})  # the API keeps at most 20
    items = found.get("items", []) if isinstance(found, dict) else found or []
    return sorted(items, key=lambda a: (not a.get("is_default"), int(a.get("id") or 0)))


def _find(request: Request, address_id: int) -> dict[str, Any]:
    found = next((a for a in saved_addresses(request) if a.get("id") == address_id), None)
    if found is None:
        raise HTTPNotFound()  # not the shopper's (or gone): the same friendly 404 as the API's
    return found


def _api_field_errors(exc: ApiError) -> dict[str, str]:
    errors = {name.split(".")[-1]: message for name, message in exc.fields.items()}
    errors = {name: message for name, message in errors.items() if name in FIELDS}
    return errors or {"form": exc.message}


def _form(request: Request) -> dict[str, Any]:
    form: dict[str, Any] = form_values(request, *FIELDS)
    form["country"] = form["country"].upper()
    form["is_default"] = request.POST.get("is_default") in ("1", "on", "true")
    return form


def _context(form: dict[str, Any], errors: dict[str, str], address_id: int | None = None) -> dict[str, Any]:
    return {"form": form, "errors": errors, "countries": COUNTRIES, "address_id": address_id}


@view_config(
    route_name="addresses", renderer="addresses/addresses.html", request_method="GET", permission="authenticated"
)
def addresses_page(request: Request) -> dict[str, Any]:
    return {"addresses": saved_addresses(request), "country_names": COUNTRY_NAMES}


@view_config(
    route_name="address_new", renderer="addresses/address_form.html", request_method="GET", permission="authenticated"
)
def address_new_form(request: Request) -> dict[str, Any]:
    user = request.user or {}
    return _context({"name": user.get("name") or "", "country": "US", "is_default": False}, {})


@view_config(
    route_name="address_new", renderer="addresses/address_form.html", request_method="POST", permission="authenticated"
)
def address_new_submit(request: Request) -> Any:
    form = _form(request)
    errors = address_errors(form)
    if not errors:
        body = {name: form[name] for name in FIELDS if form[name]}
        if form["is_default"]:
            body["is_default"] = True
        try:
            request.api.post("/me/addresses", body)
        except ApiError as exc:
            if exc.status == 409:  # the address book is full
                errors = {"form": f"{exc.message} Delete an address you no longer use to add this one."}
            elif exc.status != 400:
                raise
            else:
                errors = _api_field_errors(exc)
        else:
            request.session.flash("The address is saved in your address book.", "success")
            return see_other(request, request.route_path("addresses"))
    request.response.status = 400
    return _context(form, errors)


@view_config(
    route_name="address_edit", renderer="addresses/address_form.html", request_method="GET", permission="authenticated"
)
def address_edit_form(request: Request) -> dict[str, Any]:
    address_id = path_id(request, "address_id")
    found = _find(request, address_id)
    form = {name: found.get(name) or "" for name in FIELDS}
    form["is_default"] = bool(found.get("is_default"))
    return _context(form, {}, address_id)


@view_config(
    route_name="address_edit", renderer="addresses/address_form.html", request_method="POST", permission="authenticated"
)
def address_edit_submit(request: Request) -> Any:
    address_id = path_id(request, "address_id")
    form = _form(request)
    errors = address_errors(form)
    if not errors:
        # every field is sent: an optional one left empty is cleared
        body: dict[str, Any] = {name: form[name] for name in FIELDS}
        if form["is_default"]:
            body["is_default"] = True
        try:
            request.api.patch(f"/me/addresses/{address_id}", body)  # another account's: 404, the friendly page
        except ApiError as exc:
            if exc.status != 400:
                raise
            errors = _api_field_errors(exc)
        else:
            request.session.flash("The address is updated.", "success")
            return see_other(request, request.route_path("addresses"))
    request.response.status = 400
    return _context(form, errors, address_id)


@view_config(route_name="address_delete", request_method="POST", permission="authenticated")
def address_delete(request: Request) -> Any:
    address_id = path_id(request, "address_id")
    request.api.delete(f"/me/addresses/{address_id}")  # another account's: 404, the friendly page
    request.session.flash("The address is deleted from your address book.", "info")
    return see_other(request, request.route_path("addresses"))


@view_config(route_name="address_default", request_method="POST", permission="authenticated")
def address_default(request: Request) -> Any:
    address_id = path_id(request, "address_id")
    request.api.patch(f"/me/addresses/{address_id}", {"is_default": True})
    request.session.flash("This is now your default delivery address.", "success")
    return see_other(request, request.route_path("addresses"))


def includeme(config) -> None:
    config.add_route("addresses", "/account/addresses")
    config.add_route("address_new", "/account/addresses/new")
    config.add_route("address_edit", "/account/addresses/{address_id}/edit")
    config.add_route("address_delete", "/account/addresses/{address_id}/delete")
    config.add_route("address_default", "/account/addresses/{address_id}/default")
