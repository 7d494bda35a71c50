"""Checkout, the order confirmation, and the shopper's orders (with cancel while allowed).

Each checkout form carries its own Idempotency-Key (a hidden field made when
the form is shown): submitting the same form twice — a double click, a reload,
a retry after a timeout — sends the same key, and the API returns the order it
already made instead of making a second one. A form that failed (declined
card, out of stock, invalid address) is shown again with a fresh key, since
nothing was created.

A shopper with saved addresses chooses one (the default is chosen already) or
types a new one, which they may keep in their address book; the order is sent
with the saved address's ``address_id`` (the API refuses another account's).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from pyramid.request import Request
from pyramid.view import view_config

from bookstore_core import cards

from ..api import ApiError, ApiUnavailable
from ..templating import to_decimal
from . import pages, path_id, positive_int, see_other
from .addresses import COUNTRIES, COUNTRY_NAMES, address_errors, saved_addresses
from .cart import VOUCHER_KEY, cart_view, clean_voucher_code, forget_cart, load_cart, voucher_message

log = logging.getLogger(__name__)

ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "country")
PAYMENT_FIELDS = ("card_number", "expiry", "cvc")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9-]{16,64}$")
#: the address choice of a shopper with saved addresses: one of their ids, or a new address
NEW_ADDRESS = "new"


def payment_errors(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
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


def validate_checkout(form: dict[str, str], *, new_address: bool = True) -> dict[str, str]:
    """Field -> message for what the shopper must fix before we try to place the order."""
    errors = address_errors(form, ADDRESS_FIELDS) if new_address else {}
    errors.update(payment_errors(form))
    return errors


def _saved_addresses(request: Request) -> list[dict[str, Any]]:
    """The shopper's address book for checkout (empty when it cannot be read: typing one still works)."""
    try:
        return saved_addresses(request)
    except ApiError as exc:
        if exc.status == 401:
            raise
        log.warning("checkout without the address book: %s", exc)
        return []
    except ApiUnavailable as exc:
        log.warning("checkout without the address book: %s", exc)
        return []


def _checkout_context(
    request: Request,
    cart: dict[str, Any],
    form: dict[str, str],
    errors: dict[str, str],
    addresses: list[dict[str, Any]],
):
    return {
        "cart": cart,
        "form": form,
        "errors": errors,
        "countries": COUNTRIES,
        "country_names": COUNTRY_NAMES,
        "addresses": addresses,
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
    addresses = _saved_addresses(request)
    # the default address is chosen already (the API lists it first); else the first saved one
    choice = str(addresses[0]["id"]) if addresses else NEW_ADDRESS
    form = {"name": user.get("name") or "", "country": "US", "address_id": choice}
    return _checkout_context(request, cart, form, {}, addresses)


def _address_choice(request: Request, addresses: list[dict[str, Any]]) -> str:
    """``"new"`` or a saved address's id as the shopper chose it (digits only; the API checks whose it is)."""
    value = (request.POST.get("address_id") or "").strip()
    if addresses and value.isascii() and value.isdigit() and len(value) <= 19 and int(value) >= 1:
        return value
    return NEW_ADDRESS


@view_config(route_name="checkout", renderer="orders/checkout.html", request_method="POST", permission="authenticated")
def checkout_submit(request: Request) -> Any:
    form = {name: (request.POST.get(name) or "").strip() for name in ADDRESS_FIELDS + PAYMENT_FIELDS}
    key = request.POST.get("idempotency_key") or ""
    save_address = request.POST.get("save_address") in ("1", "on", "true")
    cart = load_cart(request)
    addresses: list[dict[str, Any]] = []
    if not IDEMPOTENCY_KEY.match(key):
        errors = {"form": "This checkout form has expired. Please check your details and place the order again."}
    elif cart is None or not cart["lines"]:
        previous = _order_for_key(request, key)
        if previous is not None:  # the cart is gone because this very form already placed the order
            return see_other(request, request.route_path("order", order_id=previous["id"], _query={"placed": "1"}))
        request.session.flash("Your cart is empty. Add a book before checking out.", "info")
        return see_other(request, request.route_path("cart"))
    else:
        addresses = _saved_addresses(request)
        form["address_id"] = _address_choice(request, addresses)
        errors = validate_checkout(form, new_address=form["address_id"] == NEW_ADDRESS)
    form.setdefault("address_id", NEW_ADDRESS)
    new_address = form["address_id"] == NEW_ADDRESS
    short: list[dict[str, Any]] = []
    status = 400
    if not errors:
        body: dict[str, Any] = {
            "cart_id": cart["id"],
            "payment": {
                "card_number": cards.normalize_number(form["card_number"]),
                "expiry": form["expiry"].replace(" ", ""),
                "cvc": form["cvc"],
            },
        }
        if new_address:
            body["shipping_address"] = {name: form[name] for name in ADDRESS_FIELDS if form[name]}
        else:
            body["address_id"] = int(form["address_id"])
        # the voucher the page showed (and priced the total with), not whatever the session holds now
        code = clean_voucher_code(request.POST.get("voucher_code"))
        if code is not None:
            body["voucher_code"] = code
        try:
            order = request.api.post("/orders", body, headers={"Idempotency-Key": key})
        except ApiError as exc:
            if exc.status == 404 and not new_address:
                errors = {"address_id": "This address is no longer in your address book. Please choose another."}
            else:
                errors, short = _checkout_errors(exc, cart)
                status = exc.status if exc.status in (402, 409) else 400
                if exc.code == "voucher_invalid":  # show the order again without it, at its new total
                    request.session.pop(VOUCHER_KEY, None)
                    cart = load_cart(request)
        else:
            forget_cart(request)
            request.session["last_order_key"] = [key, order["id"]]
            if new_address and save_address:
                _save_address(request, body["shipping_address"], addresses)
            return see_other(request, request.route_path("order", order_id=order["id"], _query={"placed": "1"}))
    if errors.get("address_id"):
        addresses = _saved_addresses(request)  # as it is now
    context = _checkout_context(request, cart or cart_view({"items": []}), _without_card(form), errors, addresses)
    context["short"] = short
    context["save_address"] = save_address
    request.response.status = status
    return context


def _save_address(request: Request, address: dict[str, str], saved: list[dict[str, Any]]) -> None:
    """Keep the address the order went to in the address book (once: a double submit saves it once).

    After the order is placed, so a declined card saves nothing; failing to save fails no order.
    """

    def same(a: dict[str, Any]) -> bool:
        return all((a.get(name) or "").strip().lower() == (address.get(name) or "").lower() for name in ADDRESS_FIELDS)

    try:
        if any(same(a) for a in saved_addresses(request)):
            return
        request.api.post("/me/addresses", {**address, "is_default": not saved})
    except (ApiError, ApiUnavailable) as exc:
        log.warning("could not save the checkout address: %s", exc)
        request.session.flash("Your order is placed, but the address could not be saved in your address book.", "info")
    else:
        request.session.flash("The address is saved in your address book.", "success")


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
