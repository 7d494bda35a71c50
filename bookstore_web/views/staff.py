"""The staff back-office under ``/staff``: books, stock, low stock, orders to ship, and webhooks.

Every view needs the ``staff`` permission (roles staff and admin), checked here
on the server from the session; the API checks the same role again on each
call with the staff member's own token.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from pyramid.httpexceptions import HTTPNotFound
from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from bookstore_core.money import parse_price

from ..api import ApiError
from ..charts import bar_chart, column_chart
from . import pages, path_id, positive_int, see_other
from .orders import order_view

PER_PAGE = 25
ORDER_STATUSES = [("paid", "To ship"), ("shipped", "Shipped"), ("delivered", "Delivered"), ("cancelled", "Cancelled")]
BOOK_TEXT_FIELDS = ("isbn", "title", "subtitle", "price", "publisher", "published_on", "language", "pages", "cover_url")
STOCK_REASONS = [
    ("restock", "Restock (a delivery from a supplier)"),
    ("adjustment", "Adjustment (a count correction, damage, a return)"),
]
LEDGER_REASONS = {"order": "Sold", "cancel": "Order cancelled", "restock": "Restock", "adjustment": "Adjustment"}
WEBHOOK_EVENTS = [
    ("order.paid", "Order paid (placed)"),
    ("order.shipped", "Order shipped"),
    ("order.delivered", "Order delivered"),
    ("order.cancelled", "Order cancelled"),
    ("book.low_stock", "Book low on stock (5 copies or fewer)"),
]


def staff_view(**settings: Any):
    """``view_config`` for back-office pages: staff only."""
    return view_config(permission="staff", **settings)


@staff_view(route_name="staff", renderer="staff/dashboard.html", request_method="GET")
def dashboard(request: Request) -> dict[str, Any]:
    to_ship = request.api.get("/orders", {"status": "paid", "per_page": 5})
    low = request.api.get("/inventory/low-stock", {"threshold": 5, "per_page": 5})
    return {
        "to_ship": [order_view(o) for o in to_ship["items"]],
        "to_ship_total": to_ship["total"],
        "low": low,
        **insight(request),
    }


GROUPS = [("day", "Day"), ("week", "Week"), ("month", "Month")]
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
REPORT_CSV = {"sales", "top-books", "top-genres", "stock"}


def _asked_period(request: Request) -> dict[str, str]:
    """The period picker's values from the query string (only well-formed ones are passed on)."""
    asked = {}
    for name in ("from", "to"):
        value = (request.GET.get(name) or "").strip()
        if _ISO_DATE.fullmatch(value):
            asked[name] = value
    group = request.GET.get("group")
    asked["group"] = group if group in {value for value, _ in GROUPS} else "day"
    return asked


def _period_label(start: str, group: str) -> str:
    day = dt.date.fromisoformat(start)
    return f"{day:%b %Y}" if group == "month" else f"{day.day} {day:%b}"


def insight(request: Request) -> dict[str, Any]:
    """The sales, top sellers and stock panels of the dashboard, with their charts."""
    asked = _asked_period(request)
    period_error = None
    try:
        sales = request.api.get("/reports/sales", asked)
    except ApiError as exc:
        if exc.status != 400:
            raise
        period_error = " ".join(exc.fields.values()) or exc.message
        asked = {"group": asked["group"]}
        sales = request.api.get("/reports/sales", asked)
    group = sales["group"]
    period = {"from": sales["from"], "to": sales["to"]}
    previous = request.api.get(
        "/reports/sales", {"from": sales["previous_from"], "to": sales["previous_to"], "group": group}
    )
    top_books = request.api.get("/reports/top-books", {**period, "by": "revenue", "limit": 10})
    top_genres = request.api.get("/reports/top-genres", {**period, "by": "revenue", "limit": 10})
    stock = request.api.get("/reports/stock", {"limit": 10})
    currency = sales["currency"]
    periods = sales["periods"]
    before = previous["periods"]
    for index, row in enumerate(periods):
        row["label"] = _period_label(row["start"], group)
        row["previous_revenue"] = before[index]["revenue"] if index < len(before) else None
    labels = [row["label"] for row in periods]
    span = f"{_long_date(sales['from'])} to {_long_date(sales['to'])}"
    totals, prior = sales["totals"], sales["previous_totals"]
    best = max(periods, key=lambda row: Decimal(row["revenue"]), default=None)
    revenue_text = (
        f"Revenue per {group} from {span}: {totals['revenue']} {currency} in total, "
        f"against {prior['revenue']} {currency} in the {len(before)} {group}s before."
    )
    if best is not None and Decimal(best["revenue"]) > 0:
        revenue_text += f" Highest: {best['revenue']} {currency} ({best['label']})."
    busiest = max(periods, key=lambda row: row["orders"], default=None)
    orders_text = f"Orders per {group} from {span}: {totals['orders']} in total."
    if busiest is not None and busiest["orders"]:
        orders_text += f" Most: {busiest['orders']} ({busiest['label']})."
    charts = {
        "revenue": column_chart(
            "chart-revenue",
            f"Revenue per {group} ({currency}), with the previous period",
            revenue_text,
            labels,
            [row["revenue"] for row in periods],
            comparison=[row["revenue"] for row in before[: len(periods)]],
            money=True,
        ),
        "orders": column_chart(
            "chart-orders", f"Orders per {group}", orders_text, labels, [row["orders"] for row in periods]
        ),
        "books": bar_chart(
            "chart-books",
            f"Top books by revenue ({currency})",
            _ranking_text("books", top_books["items"], lambda item: item["title"], currency, span),
            [(item["title"], item["revenue"], item["revenue"]) for item in top_books["items"]],
        ),
        "genres": bar_chart(
            "chart-genres",
            f"Top genres by revenue ({currency})",
            _ranking_text("genres", top_genres["items"], lambda item: item["name"], currency, span),
            [(item["name"], item["revenue"], item["revenue"]) for item in top_genres["items"]],
        ),
    }
    return {
        "groups": GROUPS,
        "asked": asked,
        "period_error": period_error,
        "sales": sales,
        "change": _change(totals["revenue"], prior["revenue"]),
        "orders_change": _change(totals["orders"], prior["orders"]),
        "top_books": top_books["items"],
        "top_genres": top_genres["items"],
        "stock": stock,
        "charts": charts,
        "csv_query": {**period, "group": group},
    }


def _long_date(value: str) -> str:
    day = dt.date.fromisoformat(value)
    return f"{day.day} {day:%B %Y}"


def _ranking_text(kind: str, items: list[dict], name, currency: str, span: str) -> str:
    if not items:
        return f"No {kind} sold from {span}."
    shown = "; ".join(f"{name(item)}: {item['revenue']} {currency}, {item['units']} sold" for item in items[:3])
    return f"The best-selling {kind} from {span}, by revenue. {shown}."


def _change(now: Any, before: Any) -> str | None:
    """``+12%``, ``-3%``, or None when there is nothing to compare with."""
    current, previous = Decimal(str(now)), Decimal(str(before))
    if previous == 0:
        return None
    percent = (current - previous) / previous * 100
    return f"{percent:+.0f}%"


@staff_view(route_name="staff_report_csv", request_method="GET")
def report_csv(request: Request) -> Response:
    """A report's CSV, straight from the API (which guards every cell against formula injection)."""
    name = request.matchdict["name"]
    if name not in REPORT_CSV:
        raise HTTPNotFound()
    params = _asked_period(request) if name != "stock" else {}
    if name == "stock":
        params = {"limit": 100}
    elif name != "sales":
        params = {key: value for key, value in params.items() if key != "group"} | {"limit": 100}
    response = request.api.raw("GET", f"/reports/{name}", params=params, headers={"Accept": "text/csv"})
    out = Response(body=response.content, content_type="text/csv", charset="utf-8")
    out.headers["Content-Disposition"] = response.headers.get(
        "Content-Disposition", f'attachment; filename="{name}.csv"'
    )
    out.headers["Cache-Control"] = "private, no-store"
    return out


@staff_view(route_name="staff_books", renderer="staff/books.html", request_method="GET")
def books(request: Request) -> dict[str, Any]:
    q = (request.GET.get("q") or "").strip()[:200]
    page = positive_int(request.GET.get("page"), 1)
    result = request.api.get(
        "/books", {"q": q or None, "sort": "title" if not q else None, "page": page, "per_page": PER_PAGE}
    )
    return {"q": q, "books": result["items"], "paging": pages(page, PER_PAGE, int(result["total"]))}


def _book_form(request: Request) -> dict[str, Any]:
    form: dict[str, Any] = {name: (request.POST.get(name) or "").strip() for name in BOOK_TEXT_FIELDS}
    # a book with an uploaded cover has no cover URL field: its cover is managed by upload
    form["has_cover_url_field"] = "cover_url" in request.POST
    form["authors"] = (request.POST.get("authors") or "").strip()
    form["description"] = (request.POST.get("description") or "").strip()
    form["genres"] = [g for g in request.POST.getall("genres") if g]
    return form


def book_body(form: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body for a create/update from the staff form, and any errors found first."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    authors = [" ".join(a.split()) for a in re.split(r"[\n;]", form["authors"]) if a.strip()]
    if not authors:
        errors["authors"] = "List at least one author, one per line."
    if not form["title"]:
        errors["title"] = "Enter the title."
    if parse_price(form["price"]) is None:
        errors["price"] = "Enter the price as a number such as 12.50."
    if creating or form["isbn"]:
        body["isbn"] = form["isbn"]
    if form["pages"]:
        if form["pages"].isdigit() and 1 <= int(form["pages"]) <= 100000:
            body["pages"] = int(form["pages"])
        else:
            errors["pages"] = "Enter a whole number of pages."
    elif not creating:
        body["pages"] = None
    body.update(title=form["title"], price=form["price"], authors=authors, genres=form["genres"])
    for name in ("subtitle", "publisher", "published_on", "language", "cover_url", "description"):
        if name == "cover_url" and not form.get("has_cover_url_field", True):
            continue
        if form[name]:
            body[name] = form[name]
        elif not creating:
            body[name] = None
    return body, errors


def _genres(request: Request) -> list[dict[str, Any]]:
    return request.api.get("/genres")["items"]  # never cached here: staff see the current list


@staff_view(route_name="staff_book_new", renderer="staff/book_form.html", request_method="GET")
def book_new(request: Request) -> dict[str, Any]:
    return {"form": {"genres": []}, "errors": {}, "genres": _genres(request), "book": None}


@staff_view(route_name="staff_book_new", renderer="staff/book_form.html", request_method="POST")
def book_create(request: Request) -> Any:
    form = _book_form(request)
    body, errors = book_body(form, creating=True)
    if not errors:
        try:
            created = request.api.post("/books", body)
        except ApiError as exc:
            errors = _api_form_errors(exc)
        else:
            request.session.flash(f"“{created['title']}” is in the catalogue. Add stock to put it on sale.", "success")
            return see_other(request, request.route_path("staff_book_stock", book_id=created["id"]))
    request.response.status = 400
    return {"form": form, "errors": errors, "genres": _genres(request), "book": None}


def _api_form_errors(exc: ApiError) -> dict[str, str]:
    if exc.status == 409:
        return {"isbn": "A book with this ISBN is already in the catalogue."}
    if exc.status == 400:
        return {name.split(".")[0]: message for name, message in exc.fields.items()} or {"form": exc.message}
    raise exc


def _form_from_book(book: dict[str, Any]) -> dict[str, Any]:
    form = {name: "" if book.get(name) is None else str(book.get(name)) for name in BOOK_TEXT_FIELDS}
    form["authors"] = "\n".join(a["name"] for a in book.get("authors", []))
    form["genres"] = [g["slug"] for g in book.get("genres", [])]
    form["description"] = book.get("description") or ""
    return form


@staff_view(route_name="staff_book_edit", renderer="staff/book_form.html", request_method="GET")
def book_edit(request: Request) -> dict[str, Any]:
    book = request.api.get(f"/books/{path_id(request, 'book_id')}")
    return {"form": _form_from_book(book), "errors": {}, "genres": _genres(request), "book": book}


@staff_view(route_name="staff_book_edit", renderer="staff/book_form.html", request_method="POST")
def book_update(request: Request) -> Any:
    book_id = path_id(request, "book_id")
    book = request.api.get(f"/books/{book_id}")
    form = _book_form(request)
    body, errors = book_body(form, creating=False)
    if not errors:
        if body.get("isbn") == book["isbn"]:
            body.pop("isbn")
        try:
            request.api.patch(f"/books/{book_id}", body)
        except ApiError as exc:
            errors = _api_form_errors(exc)
        else:
            request.session.flash("The book is saved.", "success")
            return see_other(request, request.route_path("staff_books"))
    request.response.status = 400
    return {"form": form, "errors": errors, "genres": _genres(request), "book": book}


#: the API's limit for a cover image (the storefront refuses larger files before sending them)
MAX_COVER_BYTES = 5 * 1024 * 1024
COVER_TYPES = ("image/jpeg", "image/png", "image/webp")
#: what the API's refusal of an upload means to the person who chose the file
COVER_REFUSALS = {
    "body_too_large": "The file is larger than 5 MB. Choose a smaller image.",
    "image_too_large": "The image has too many pixels (at most 25 million). Choose a smaller image.",
    "unsupported_media_type": "Choose a JPEG, PNG or WebP image.",
    "undecodable_image": "The file could not be read as an image.",
    "image_dimensions": "A cover is at most four times as tall as it is wide (or as wide as it is tall).",
}


def _cover_file(request: Request) -> tuple[bytes, str] | str:
    """The uploaded file's bytes and declared type, or what is wrong with the form."""
    upload = request.POST.get("cover")
    if upload is None or not hasattr(upload, "file"):
        return "Choose an image file to upload."
    data = upload.file.read(MAX_COVER_BYTES + 1)
    if not data:
        return "Choose an image file to upload."
    if len(data) > MAX_COVER_BYTES:
        return COVER_REFUSALS["body_too_large"]
    media_type = (getattr(upload, "type", "") or "").split(";")[0].strip().lower()
    if media_type not in COVER_TYPES:
        return COVER_REFUSALS["unsupported_media_type"]
    return data, media_type


@staff_view(route_name="staff_book_cover", renderer="staff/book_form.html", request_method="POST")
def book_cover_upload(request: Request) -> Any:
    book_id = path_id(request, "book_id")
    found = _cover_file(request)
    if not isinstance(found, str):
        data, media_type = found
        try:
            request.api.call("PUT", f"/books/{book_id}/cover", content=data, headers={"Content-Type": media_type})
        except ApiError as exc:
            if exc.status not in (400, 413, 415):
                raise
            found = COVER_REFUSALS.get(exc.code, exc.message)
        else:
            request.session.flash("The new cover is on the book.", "success")
            return see_other(request, request.route_path("staff_book_edit", book_id=book_id))
    book = request.api.get(f"/books/{book_id}")
    request.response.status = 400
    return {
        "form": _form_from_book(book),
        "errors": {},
        "cover_error": found,
        "genres": _genres(request),
        "book": book,
    }


@staff_view(route_name="staff_book_cover_delete", request_method="POST")
def book_cover_delete(request: Request) -> Any:
    book_id = path_id(request, "book_id")
    request.api.delete(f"/books/{book_id}/cover")
    request.session.flash("The cover is removed; the shop shows its own until you upload another.", "success")
    return see_other(request, request.route_path("staff_book_edit", book_id=book_id))


@staff_view(route_name="staff_book_archive", request_method="POST")
def book_archive(request: Request) -> Any:
    book_id = path_id(request, "book_id")
    book = request.api.get(f"/books/{book_id}")
    request.api.delete(f"/books/{book_id}")
    request.session.flash(f"“{book['title']}” is no longer for sale.", "success")
    return see_other(request, request.route_path("staff_books"))


@staff_view(route_name="staff_book_stock", renderer="staff/stock.html", request_method="GET")
def book_stock(request: Request) -> dict[str, Any]:
    return _stock_context(request, path_id(request, "book_id"), {}, {})


def _stock_context(request: Request, book_id: int, form: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    book = request.api.get(f"/books/{book_id}")
    ledger = request.api.get(f"/books/{book_id}/stock-movements", {"per_page": 50})
    return {
        "book": book,
        "ledger": ledger.get("items", []),
        "ledger_reasons": LEDGER_REASONS,
        "form": form,
        "errors": errors,
        "reasons": STOCK_REASONS,
    }


def _stock_form_errors(form: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not re.fullmatch(r"[+-]?\d{1,6}", form["delta"]) or int(form["delta"]) == 0:
        errors["delta"] = "Enter how many copies to add (like 10) or remove (like -2)."
    if form["reason"] not in {value for value, _ in STOCK_REASONS}:
        errors["reason"] = "Choose a reason."
    if len(form["note"]) > 500:
        errors["note"] = "Use at most 500 characters."
    return errors


def _record_movement(request: Request, book_id: int, form: dict[str, str], errors: dict[str, str]) -> int | None:
    """Send the movement; None when recorded, else the status to answer with (``errors`` filled in)."""
    movement = {"delta": int(form["delta"]), "reason": form["reason"], "note": form["note"] or None}
    try:
        request.api.post(f"/books/{book_id}/stock-movements", movement)
    except ApiError as exc:
        if exc.status == 409:
            errors["delta"] = "There are not that many copies in stock to remove."
            return 409
        if exc.status != 400:
            raise
        errors.update(
            {k: v for k, v in exc.fields.items() if k in ("delta", "reason", "note")} or {"form": exc.message}
        )
        return 400
    return None


@staff_view(route_name="staff_book_stock", renderer="staff/stock.html", request_method="POST")
def book_stock_adjust(request: Request) -> Any:
    book_id = path_id(request, "book_id")
    form = {name: (request.POST.get(name) or "").strip() for name in ("delta", "reason", "note")}
    errors = _stock_form_errors(form)
    status = 400 if errors else _record_movement(request, book_id, form, errors)
    if status is None:
        delta = int(form["delta"])
        verb = "Added" if delta > 0 else "Removed"
        request.session.flash(f"{verb} {abs(delta)} cop{'y' if abs(delta) == 1 else 'ies'}.", "success")
        return see_other(request, request.route_path("staff_book_stock", book_id=book_id))
    request.response.status = status
    return _stock_context(request, book_id, form, errors)


@staff_view(route_name="staff_low_stock", renderer="staff/low_stock.html", request_method="GET")
def low_stock(request: Request) -> dict[str, Any]:
    threshold = positive_int(request.GET.get("threshold"), 5, maximum=10_000)
    page = positive_int(request.GET.get("page"), 1)
    result = request.api.get("/inventory/low-stock", {"threshold": threshold, "page": page, "per_page": PER_PAGE})
    return {
        "threshold": threshold,
        "books": result["items"],
        "paging": pages(page, PER_PAGE, int(result.get("total", 0))),
    }


@staff_view(route_name="staff_orders", renderer="staff/orders.html", request_method="GET")
def orders(request: Request) -> dict[str, Any]:
    status = request.GET.get("status") or "paid"
    if status not in {value for value, _ in ORDER_STATUSES}:
        status = "paid"
    page = positive_int(request.GET.get("page"), 1)
    result = request.api.get("/orders", {"status": status, "page": page, "per_page": PER_PAGE})
    return {
        "status": status,
        "statuses": ORDER_STATUSES,
        "orders": [order_view(o) for o in result["items"]],
        "paging": pages(page, PER_PAGE, int(result["total"])),
    }


@staff_view(route_name="staff_order", renderer="staff/order.html", request_method="GET")
def order(request: Request) -> dict[str, Any]:
    return {"order": order_view(request.api.get(f"/orders/{path_id(request, 'order_id')}"))}


def _transition(request: Request, action: str, done: str) -> Any:
    order_id = path_id(request, "order_id")
    try:
        request.api.post(f"/orders/{order_id}/{action}", {})
    except ApiError as exc:
        if exc.status != 409:
            raise
        request.session.flash(f"Order {order_id} cannot be marked {done} now: {exc.message}", "error")
    else:
        request.session.flash(f"Order {order_id} is marked {done}.", "success")
    back = request.POST.get("back")
    if back == "order":
        return see_other(request, request.route_path("staff_order", order_id=order_id))
    return see_other(
        request, request.route_path("staff_orders", _query={"status": request.POST.get("status") or "paid"})
    )


@staff_view(route_name="staff_order_ship", request_method="POST")
def order_ship(request: Request) -> Any:
    return _transition(request, "ship", "shipped")


@staff_view(route_name="staff_order_deliver", request_method="POST")
def order_deliver(request: Request) -> Any:
    return _transition(request, "deliver", "delivered")


# -- webhooks ------------------------------------------------------------------------------


def _webhook_form(request: Request) -> dict[str, Any]:
    return {
        "url": (request.POST.get("url") or "").strip(),
        "description": (request.POST.get("description") or "").strip(),
        "events": [name for name in request.POST.getall("events") if name in dict(WEBHOOK_EVENTS)],
    }


def _webhook_form_errors(form: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not re.fullmatch(r"(?i)https?://[!-~]+", form["url"]) or len(form["url"]) > 2000:
        errors["url"] = "Enter the full http:// or https:// address that should receive the events."
    if not form["events"]:
        errors["events"] = "Choose at least one event."
    if len(form["description"]) > 500:
        errors["description"] = "Use at most 500 characters."
    return errors


def _webhook_body(form: dict[str, Any]) -> dict[str, Any]:
    return {"url": form["url"], "events": form["events"], "description": form["description"] or None}


def _webhook_api_errors(exc: ApiError) -> dict[str, str]:
    if exc.status != 400:
        raise exc
    fields = {name.split(".")[0]: message for name, message in exc.fields.items()}
    return {name: fields[name] for name in ("url", "events", "description") if name in fields} or {"form": exc.message}


def _webhooks_context(request: Request, form: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    page = positive_int(request.GET.get("page"), 1)
    result = request.api.get("/webhooks", {"page": page, "per_page": PER_PAGE})
    return {
        "webhooks": result["items"],
        "paging": pages(page, PER_PAGE, int(result["total"])),
        "events": WEBHOOK_EVENTS,
        "form": form,
        "errors": errors,
    }


@staff_view(route_name="staff_webhooks", renderer="staff/webhooks.html", request_method="GET")
def webhooks(request: Request) -> dict[str, Any]:
    return _webhooks_context(request, {"url": "", "description": "", "events": []}, {})


@staff_view(route_name="staff_webhooks", renderer="staff/webhooks.html", request_method="POST")
def webhook_create(request: Request) -> Any:
    form = _webhook_form(request)
    errors = _webhook_form_errors(form)
    if not errors:
        try:
            created = request.api.post("/webhooks", _webhook_body(form))
        except ApiError as exc:
            errors = _webhook_api_errors(exc)
        else:
            # the secret is shown on this page only: never stored in the session or sent again
            response = render_to_response(
                "staff/webhook_created.html", {"webhook": created, "events": WEBHOOK_EVENTS}, request=request
            )
            response.headers["Cache-Control"] = "no-store"
            return response
    request.response.status = 400
    return _webhooks_context(request, form, errors)


def _webhook_context(
    request: Request, webhook_id: int, form: dict[str, Any] | None, errors: dict[str, str]
) -> dict[str, Any]:
    webhook = request.api.get(f"/webhooks/{webhook_id}")
    page = positive_int(request.GET.get("page"), 1)
    log = request.api.get(f"/webhooks/{webhook_id}/deliveries", {"page": page, "per_page": PER_PAGE})
    if form is None:
        form = {"url": webhook["url"], "description": webhook.get("description") or "", "events": webhook["events"]}
    return {
        "webhook": webhook,
        "deliveries": log["items"],
        "paging": pages(page, PER_PAGE, int(log["total"])),
        "events": WEBHOOK_EVENTS,
        "form": form,
        "errors": errors,
    }


@staff_view(route_name="staff_webhook", renderer="staff/webhook.html", request_method="GET")
def webhook(request: Request) -> dict[str, Any]:
    return _webhook_context(request, path_id(request, "webhook_id"), None, {})


@staff_view(route_name="staff_webhook", renderer="staff/webhook.html", request_method="POST")
def webhook_update(request: Request) -> Any:
    webhook_id = path_id(request, "webhook_id")
    form = _webhook_form(request)
    errors = _webhook_form_errors(form)
    if not errors:
        try:
            request.api.patch(f"/webhooks/{webhook_id}", _webhook_body(form))
        except ApiError as exc:
            errors = _webhook_api_errors(exc)
        else:
            request.session.flash("The webhook is saved.", "success")
            return see_other(request, request.route_path("staff_webhook", webhook_id=webhook_id))
    request.response.status = 400
    return _webhook_context(request, webhook_id, form, errors)


@staff_view(route_name="staff_webhook_test", request_method="POST")
def webhook_test(request: Request) -> Any:
    webhook_id = path_id(request, "webhook_id")
    request.api.post(f"/webhooks/{webhook_id}/test", {})
    request.session.flash("A test event is on its way; its delivery shows below.", "success")
    return see_other(request, request.route_path("staff_webhook", webhook_id=webhook_id))


@staff_view(route_name="staff_webhook_delete", request_method="POST")
def webhook_delete(request: Request) -> Any:
    webhook_id = path_id(request, "webhook_id")
    request.api.delete(f"/webhooks/{webhook_id}")
    request.session.flash("The webhook is deleted; it receives no more events.", "success")
    return see_other(request, request.route_path("staff_webhooks"))


def includeme(config) -> None:
    config.add_route("staff", "/staff")
    config.add_route("staff_books", "/staff/books")
    config.add_route("staff_book_new", "/staff/books/new")
    config.add_route("staff_book_edit", "/staff/books/{book_id}/edit")
    config.add_route("staff_book_archive", "/staff/books/{book_id}/archive")
    config.add_route("staff_book_cover", "/staff/books/{book_id}/cover")
    config.add_route("staff_book_cover_delete", "/staff/books/{book_id}/cover/delete")
    config.add_route("staff_book_stock", "/staff/books/{book_id}/stock")
    config.add_route("staff_low_stock", "/staff/low-stock")
    config.add_route("staff_orders", "/staff/orders")
    config.add_route("staff_order", "/staff/orders/{order_id}")
    config.add_route("staff_order_ship", "/staff/orders/{order_id}/ship")
    config.add_route("staff_order_deliver", "/staff/orders/{order_id}/deliver")
    config.add_route("staff_webhooks", "/staff/webhooks")
    config.add_route("staff_webhook", "/staff/webhooks/{webhook_id}")
    config.add_route("staff_webhook_test", "/staff/webhooks/{webhook_id}/test")
    config.add_route("staff_webhook_delete", "/staff/webhooks/{webhook_id}/delete")
    config.add_route("staff_report_csv", "/staff/reports/{name}.csv")
