"""The cart: add, change quantities, remove; the anonymous cart is merged into the account's at log-in.

The cart itself lives in bookstore_api; the session only remembers its id (an
unguessable token for anonymous carts) and the item count shown in the header.
With htmx, adding a book updates the header count in place and changing a
quantity re-renders the cart; without JavaScript each form posts and redirects.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from pyramid.httpexceptions import HTTPBadRequest
from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from ..api import ApiError, ApiUnavailable
from ..sessions import CART_COUNT_KEY, has_session
from ..templating import to_decimal
from . import MAX_ID, is_htmx, path_id, see_other

log = logging.getLogger(__name__)

CART_KEY = "cart_id"
VOUCHER_KEY = "voucher_code"
MAX_VOUCHER_LENGTH = 32
COUNT_KEY = CART_COUNT_KEY
MAX_QUANTITY = 99


def cart_view(cart: dict[str, Any]) -> dict[str, Any]:
    """The API's cart, shaped for the templates (Decimal money, availability per line)."""
    currency = cart.get("currency") or "USD"
    lines = []
    for item in cart.get("items") or []:
        quantity = int(item["quantity"])
        unit_price = to_decimal(item.get("unit_price")) or Decimal(0)
        available = item.get("available_quantity")
        lines.append(
            {
                "book_id": int(item["book_id"]),
                "title": item.get("title") or "Untitled",
                "quantity": quantity,
                "unit_price": unit_price,
                "line_total": to_decimal(item.get("line_total")) or unit_price * quantity,
                "in_stock": bool(item.get("in_stock", True)),
                "available": available,
                "short": isinstance(available, int) and available < quantity,
                "currency": currency,
            }
        )
    subtotal = to_decimal(cart.get("subtotal"))
    subtotal = subtotal if subtotal is not None else sum((line["line_total"] for line in lines), Decimal(0))
    shipping = to_decimal(cart.get("shipping"))
    total = to_decimal(cart.get("total"))
    voucher_error = cart.get("voucher_error") if isinstance(cart.get("voucher_error"), dict) else None
    return {
        "id": cart.get("id"),
        "lines": lines,
        "count": int(cart.get("item_count") or sum(line["quantity"] for line in lines)),
        "subtotal": subtotal,
        # what checkout will charge, as the API prices it (the same code prices the order)
        "shipping": shipping,
        "discount": to_decimal(cart.get("discount")),
        "total": total if total is not None else subtotal,
        "voucher_code": cart.get("voucher_code"),
        "voucher_error": voucher_message(voucher_error) if voucher_error else None,
        "currency": currency,
        "has_shortages": any(line["short"] for line in lines),
    }


#: what a shopper reads when a voucher cannot be used, by the API's reason
VOUCHER_MESSAGES = {
    "unknown": "There is no voucher with this code. Please check it.",
    "inactive": "This voucher is no longer valid.",
    "expired": "This voucher has expired.",
    "not_started": "This voucher is not valid yet.",
    "exhausted": "This voucher has been fully used.",
    "below_minimum": "Your order is below this voucher's minimum.",
    "not_applicable": "This voucher does not apply to any book in your cart.",
    "customer_limit": "You have already used this voucher.",
}


def voucher_message(error: dict[str, Any]) -> str:
    reason = str(error.get("reason") or "")
    if reason == "below_minimum" and error.get("minimum"):
        return f"This voucher needs an order of at least ${error['minimum']} before shipping."
    return VOUCHER_MESSAGES.get(reason, "This voucher cannot be used.")


def voucher_code(request: Request) -> str | None:
    """The voucher the shopper applied (kept in their session until they remove it or check out)."""
    code = request.session.get(VOUCHER_KEY) if has_session(request) else None
    return code if isinstance(code, str) and code else None


def clean_voucher_code(value: Any) -> str | None:
    """A code as typed (spaces around it dropped); None when it cannot be one."""
    code = str(value or "").strip()
    if not code or len(code) > MAX_VOUCHER_LENGTH or not code.isprintable():
        return None
    return code


def _remember(request: Request, cart: dict[str, Any]) -> dict[str, Any]:
    view = cart_view(cart)
    request.session[CART_KEY] = view["id"]
    request.session[COUNT_KEY] = view["count"]
    return view


def load_cart(request: Request) -> dict[str, Any] | None:
    """The shopper's cart, or None when they have none (or it is gone: checked out, expired)."""
    if not has_session(request):
        return None
    cart_id = request.session.get(CART_KEY)
    if not cart_id:
        return None
    try:
        return _remember(request, request.api.get(f"/carts/{cart_id}", {"voucher_code": voucher_code(request)}))
    except ApiError as exc:
        if exc.status not in (403, 404):
            raise
        forget_cart(request)
        return None


def ensure_cart(request: Request) -> dict[str, Any]:
    """The shopper's cart, created (anonymous, or the account's) when they have none yet."""
    return load_cart(request) or _remember(request, request.api.post("/carts", {}))


def forget_cart(request: Request) -> None:
    request.session.pop(CART_KEY, None)
    request.session.pop(VOUCHER_KEY, None)
    request.session[COUNT_KEY] = 0


def adopt_cart_on_login(request: Request, token: str, anonymous_cart_id: str | None) -> None:
    """After log-in: use the account's cart, folding in what the shopper added while anonymous."""
    try:
        cart = request.api.post("/carts", {}, token=token)
        if anonymous_cart_id and anonymous_cart_id != cart.get("id"):
            try:
                cart = request.api.post(f"/carts/{cart['id']}/merge", {"from_cart_id": anonymous_cart_id}, token=token)
            except ApiError as exc:
                # the anonymous cart expired or was already merged: the account's cart stands
                log.info("cart merge skipped: %s", exc)
        _remember(request, cart)
    except (ApiError, ApiUnavailable) as exc:
        # signing in must not fail because the cart could not be fetched; the cart page retries
        log.warning("could not load the account's cart at log-in: %s", exc)
        forget_cart(request)


def _quantity(value: Any, default: int | None = None, minimum: int = 1) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        if default is not None:
            return default
        raise HTTPBadRequest("Enter a whole number of copies.") from None
    if not minimum <= number <= MAX_QUANTITY:
        raise HTTPBadRequest(f"Choose between {minimum} and {MAX_QUANTITY} copies.")
    return number


def _book_id(value: Any) -> int:
    text = str(value or "")
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise HTTPBadRequest("Unknown book.")
    return int(text)


def _stock_message(book: dict[str, Any], in_cart: int) -> str:
    available = int(book.get("stock_quantity") or 0)
    if available <= 0:
        return f"Sorry, “{book['title']}” is out of stock."
    return f"Your cart already has all {available} available copies of “{book['title']}”."


def _set_quantity(request: Request, cart: dict[str, Any], book_id: int, quantity: int) -> dict[str, Any]:
    if quantity <= 0:
        updated = request.api.delete(f"/carts/{cart['id']}/items/{book_id}")
    else:
        updated = request.api.put(f"/carts/{cart['id']}/items/{book_id}", {"quantity": quantity})
    if updated is None or voucher_code(request):  # 204, or priced without the voucher: read the cart back
        updated = request.api.get(f"/carts/{cart['id']}", {"voucher_code": voucher_code(request)})
    return _remember(request, updated)


@view_config(route_name="cart", renderer="cart/cart.html", request_method="GET")
def cart_page(request: Request) -> dict[str, Any]:
    cart = load_cart(request)
    return {"cart": cart or cart_view({"items": []})}


@view_config(route_name="cart_add", request_method="POST")
def cart_add(request: Request) -> Response:
    book_id = _book_id(request.POST.get("book_id"))
    quantity = _quantity(request.POST.get("quantity"), default=1)
    book = request.api.get(f"/books/{book_id}")
    cart = ensure_cart(request)
    existing = next((line["quantity"] for line in cart["lines"] if line["book_id"] == book_id), 0)
    wanted = min(existing + quantity, MAX_QUANTITY, int(book.get("stock_quantity") or 0))
    if wanted <= existing:
        message, ok = _stock_message(book, existing), False
    else:
        message, ok = f"Added “{book['title']}” to your cart.", True
        if wanted < existing + quantity:
            message = f"Only {wanted} copies of “{book['title']}” are available; your cart now has {wanted}."
        try:
            cart = _set_quantity(request, cart, book_id, wanted)
        except ApiError as exc:
            if exc.status not in (400, 404, 409):
                raise
            message, ok = exc.message, False
    if is_htmx(request):
        return render_to_response(
            "cart/_added.html", {"message": message, "ok": ok, "count": cart["count"]}, request=request
        )
    request.session.flash(message, "success" if ok else "error")
    return see_other(request, request.route_path("cart") if ok else request.route_path("book", book_id=book_id))


@view_config(route_name="cart_item", request_method="POST")
def cart_update(request: Request) -> Response:
    book_id = path_id(request, "book_id")
    cart = load_cart(request)
    if cart is None:
        return see_other(request, request.route_path("cart"))
    remove = request.POST.get("action") == "remove"
    quantity = 0 if remove else _quantity(request.POST.get("quantity"), minimum=0)
    quantity, error = _within_stock(cart, book_id, quantity)
    try:
        cart = _set_quantity(request, cart, book_id, quantity)
    except ApiError as exc:
        if exc.status not in (400, 404, 409):
            raise
        error = exc.message
        cart = load_cart(request) or cart_view({"items": []})
    if is_htmx(request):
        return render_to_response("cart/_cart.html", {"cart": cart, "error": error, "oob": True}, request=request)
    if error:
        request.session.flash(error, "error")
    elif quantity == 0:
        request.session.flash("Removed from your cart.", "info")
    else:
        request.session.flash("Your cart is updated.", "success")
    return see_other(request, request.route_path("cart"))


@view_config(route_name="cart_voucher", request_method="POST")
def cart_voucher(request: Request) -> Response:
    """Apply a voucher code to the cart (or remove it): the cart then shows the discount and the new total."""
    back = request.route_path("checkout") if request.POST.get("back") == "checkout" else request.route_path("cart")
    error = None
    if request.POST.get("action") == "remove":
        request.session.pop(VOUCHER_KEY, None)
        message = "The voucher is removed."
    else:
        code = clean_voucher_code(request.POST.get("code"))
        if code is None:
            error = "Enter the voucher code (up to 32 letters and digits)."
        else:
            request.session[VOUCHER_KEY] = code
        message = None
    cart = load_cart(request)
    if cart is None or not cart["lines"]:
        if request.session.pop(VOUCHER_KEY, None) is not None:
            error, message = "Add a book to your cart before applying a voucher.", None
    elif cart["voucher_error"] and request.session.get(VOUCHER_KEY):
        error = cart["voucher_error"]
        request.session.pop(VOUCHER_KEY, None)  # a code that does not work is not kept
        cart = load_cart(request)
    elif cart["discount"] is not None and message is None:
        message = f"Voucher {cart['voucher_code']} is applied."
    if is_htmx(request) and back == request.route_path("cart"):
        return render_to_response(
            "cart/_cart.html",
            {"cart": cart or cart_view({"items": []}), "error": error, "notice": message, "oob": True},
            request=request,
        )
    if error:
        request.session.flash(error, "error")
    elif message:
        request.session.flash(message, "success")
    return see_other(request, back)


def _within_stock(cart: dict, book_id: int, quantity: int) -> tuple[int, str | None]:
    """The quantity to set (no more than is available) and, when it had to be lowered, why."""
    line = next((line for line in cart["lines"] if line["book_id"] == book_id), None)
    available = line["available"] if line else None
    if line and quantity and isinstance(available, int) and quantity > available:
        error = f"Only {max(available, 0)} copies of “{line['title']}” are available."
        return (available if available > 0 else line["quantity"]), error
    return quantity, None


def includeme(config) -> None:
    config.add_route("cart", "/cart")
    config.add_route("cart_add", "/cart/items")
    config.add_route("cart_item", "/cart/items/{book_id}")
    config.add_route("cart_voucher", "/cart/voucher")
