"""Checkout, the order confirmation, and the shopper's orders (with cancel while allowed).

Each checkout form carries its own Idempotency-Key (a hidden field made when
the form is shown): submitting the same form twice — a double click, a reload,
a retry after a timeout — sends the same key, and the API returns the order it
already made instead of making a second one. A form that failed (declined
card, out of stock, invalid address) is shown again with a fresh key, since
nothing was created.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from pyramid.request import Request
from pyramid.view import view_config

from bookstore_core import cards

from ..api import ApiError
from ..templating import to_decimal
from . import pages, path_id, positive_int, see_other
from .cart import VOUCHER_KEY, cart_view, clean_voucher_code, forget_cart, load_cart, voucher_message

ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")
PAYMENT_FIELDS = ("card_number", "expiry", "cvc")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9-]{16,64}$")
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


def validate_checkout(form: dict[str, str]) -> dict[str, str]:
    """Field -> message for what the shopper must fix before we try to place the order."""
    errors: dict[str, str] = {}
    required = {
        "name": "Enter the name of the person receiving the parcel.",
        "line1": "Enter the street address.",
        "city": "Enter the town or city.",
        "postal_code": "Enter the postal code.",
    }
    for name, message in required.items():
        if not form.get(name):
            errors[name] = message
        elif len(form[name]) > 200:
            errors[name] = "Use at most 200 characters."
    if len(form.get("line2", "")) > 200:
        errors["line2"] = "Use at most 200 characters."
    if form.get("country") not in COUNTRY_CODES:
        errors["country"] = "Choose a country we deliver to."
    if not cards.number_valid(cards.normalize_number(form.get("card_number", ""))):
        errors["card_number"] = "Enter a valid card number (the long number on the front of the card)."
    expiry = cards.parse_expiry(form.get("expiry", ""))
    if expiry is None:
        errors["expiry"] = "Enter the expiry date as MM/YY, for example 04/29."
    elif cards.expired(*expiry):
        errors["expiry"] = "This card has expired; use another card."
    if not cards.cvc_valid(form.get("cvc", "")):
        errors["cvc"] = "Enter the 3 or 4 digit security code from the back of the card."
    return errors


def _checkout_context(request: Request, cart: dict[str, Any], form: dict[str, str], errors: dict[str, str]):
    return {
        "cart": cart,
        "form": form,
        "errors": errors,
        "countries": COUNTRIES,
        "idempotency_key": str(uuid.uuid4()),
        "short": [],
    }


@view_config(route_name="checkout", renderer="orders/checkout.html", request_method="GET", permission="authenticated")
def checkout_form(request: Request) -> Any:
    cart = load_cart(request)
    if cart is None or not cart["lines"]:
        request.session.flash("Your cart is empty. Add a book before checking out.", "info")
        return see_other(request, request.route_path("cart"))
    user = request.user or {}
    return _checkout_context(request, cart, {"name": user.get("name") or "", "country": "US"}, {})


@view_config(route_name="checkout", renderer="orders/checkout.html", request_method="POST", permission="authenticated")
def checkout_submit(request: Request) -> Any:
    form = {name: (request.POST.get(name) or "").strip() for name in ADDRESS_FIELDS + PAYMENT_FIELDS}
    key = request.POST.get("idempotency_key") or ""
    cart = load_cart(request)
    if not IDEMPOTENCY_KEY.match(key):
        errors = {"form": "This checkout form has expired. Please check your details and place the order again."}
    elif cart is None or not cart["lines"]:
        previous = _order_for_key(request, key)
        if previous is not None:  # the cart is gone because this very form already placed the order
            return see_other(request, request.route_path("order", order_id=previous["id"], _query={"placed": "1"}))
        request.session.flash("Your cart is empty. Add a book before checking out.", "info")
        return see_other(request, request.route_path("cart"))
    else:
        errors = validate_checkout(form)
    short: list[dict[str, Any]] = []
    status = 400
    if not errors:
        body = {
            "cart_id": cart["id"],
            "shipping_address": {name: form[name] for name in ADDRESS_FIELDS if form[name]},
            "payment": {
                "card_number": cards.normalize_number(form["card_number"]),
                "expiry": form["expiry"].replace(" ", ""),
                "cvc": form["cvc"],
            },
        }
        # the voucher the page showed (and priced the total with), not whatever the session holds now
        code = clean_voucher_code(request.POST.get("voucher_code"))
        if code is not None:
            body["voucher_code"] = code
        try:
            order = request.api.post("/orders", body, headers={"Idempotency-Key": key})
        except ApiError as exc:
            errors, short = _checkout_errors(exc, cart)
            status = exc.status if exc.status in (402, 409) else 400
            if exc.code == "voucher_invalid":  # show the order again without it, at its new total
                request.session.pop(VOUCHER_KEY, None)
                cart = load_cart(request)
        else:
            forget_cart(request)
            request.session["last_order_key"] = [key, order["id"]]
            return see_other(request, request.route_path("order", order_id=order["id"], _query={"placed": "1"}))
    context = _checkout_context(request, cart or cart_view({"items": []}), _without_card(form), errors)
    context["short"] = short
    request.response.status = status
    return context


def _order_for_key(request: Request, key: str) -> dict[str, Any] | None:
    remembered = request.session.get("last_order_key")
    if isinstance(remembered, list) and len(remembered) == 2 and remembered[0] == key:
        return {"id": remembered[1]}
    return None


def _without_card(form: dict[str, str]) -> dict[str, str]:
    """Card details are never sent back into the page."""
    return {k: v for k, v in form.items() if k not in PAYMENT_FIELDS}


def _checkout_errors(exc: ApiError, cart: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    if exc.status == 402:
        return {
            "form": "Your card was declined, and nothing was charged. Please check the details or use another card.",
        }, []
    if exc.status == 409 and exc.code == "voucher_invalid":
        message = voucher_message(exc.details)
        return {"form": f"{message} It is removed from your order; please check the new total and place it again."}, []
    if exc.status == 409 and exc.code == "out_of_stock":
        titles = {line["book_id"]: line["title"] for line in cart["lines"]}
        short = []
        for item in _short_items(exc.details):
            book_id = int(item.get("book_id") or 0)
            short.append(
                {
                    "book_id": book_id,
                    "title": item.get("title") or titles.get(book_id, "A book"),
                    "available": item.get("available"),
                    "requested": item.get("requested"),
                }
            )
        message = "Some books in your cart have sold out since you added them. Please update your cart and try again."
        return {"form": message}, short
    if exc.status == 400:
        errors: dict[str, str] = {}
        for name, message in exc.fields.items():
            field = name.split(".")[-1]
            if field in ADDRESS_FIELDS + PAYMENT_FIELDS:
                errors[field] = message
        errors.setdefault("form", exc.message if not errors else "Please correct the highlighted fields.")
        return errors, []
    if exc.status == 409:
        return {"form": exc.message}, []
    raise exc


def _short_items(details: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("books", "items", "short"):
        value = details.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []


def order_view(order: dict[str, Any]) -> dict[str, Any]:
    """An order with Decimal money and per-line totals for the templates."""
    lines = []
    for line in order.get("lines") or []:
        unit = to_decimal(line.get("unit_price")) or 0
        lines.append(
            {
                **line,
                "unit_price": unit,
                "line_total": to_decimal(line.get("line_total")) or unit * int(line["quantity"]),
            }
        )
    discount = to_decimal(order.get("discount"))
    return {
        **order,
        "lines": lines,
        "discount": discount if discount else None,
        "item_count": sum(int(line["quantity"]) for line in lines),
        # the API says what this shopper may do with the order now
        "cancellable": "cancel" in (order.get("actions") or ()),
    }


@view_config(route_name="order", renderer="orders/order.html", request_method="GET", permission="authenticated")
def order_page(request: Request) -> dict[str, Any]:
    order_id = path_id(request, "order_id")
    order = request.api.get(f"/orders/{order_id}")
    return {"order": order_view(order), "placed": request.GET.get("placed") == "1"}


@view_config(route_name="orders", renderer="orders/orders.html", request_method="GET", permission="authenticated")
def orders_page(request: Request) -> dict[str, Any]:
    page = positive_int(request.GET.get("page"), 1)
    result = request.api.get("/orders", {"page": page, "per_page": 20})
    return {"orders": [order_view(o) for o in result["items"]], "paging": pages(page, 20, int(result["total"]))}


@view_config(route_name="order_cancel", request_method="POST", permission="authenticated")
def order_cancel(request: Request) -> Any:
    order_id = path_id(request, "order_id")
    try:
        request.api.post(f"/orders/{order_id}/cancel", {})
    except ApiError as exc:
        if exc.status != 409:
            raise
        request.session.flash("This order can no longer be cancelled: it has already shipped.", "error")
    else:
        request.session.flash("Your order is cancelled. The payment will be refunded to your card.", "success")
    return see_other(request, request.route_path("order", order_id=order_id))


def includeme(config) -> None:
    config.add_route("checkout", "/checkout")
    config.add_route("orders", "/orders")
    config.add_route("order", "/orders/{order_id}")
    config.add_route("order_cancel", "/orders/{order_id}/cancel")
