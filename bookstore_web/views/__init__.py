"""Page views, one module per area (catalog, accounts, cart, orders, staff, errors), and their helpers."""

from __future__ import annotations

import re
from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response

from bookstore_core.money import parse_price

MAX_ID = 2**63 - 1


def is_htmx(request: Request) -> bool:
    """True for an htmx request that wants a fragment (not a history restore)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def htmx_target(request: Request) -> str | None:
    return request.headers.get("HX-Target") if is_htmx(request) else None


def flash(request: Request, message: str, queue: str = "info") -> None:
    request.session.flash(message, queue)


def see_other(request: Request, location: str) -> Response:
    """Redirect after a POST; htmx follows it as a full navigation (``HX-Redirect``)."""
    if is_htmx(request):
        response = Response(status=204)
        response.headers["HX-Redirect"] = location
        return response
    return HTTPSeeOther(location=location)


def form_values(request: Request, *names: str) -> dict[str, str]:
    """The named fields of a posted form, stripped (missing ones empty)."""
    return {name: (request.POST.get(name) or "").strip() for name in names}


#: what a mailed one-time token (a reset or verification link) may look like
MAILED_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,256}$")


def mailed_token(request: Request) -> str | None:
    """The ``{token}`` of a mailed link's page, or None when it cannot be one (no API call)."""
    token = request.matchdict.get("token", "")
    return token if MAILED_TOKEN.match(token) else None


def session_for_forms(request: Request) -> None:
    """Give a visitor without a session one now, so this page's forms carry its own CSRF token.

    For pages sent with ``Referrer-Policy: no-referrer``: a browser posts their forms with
    ``Origin: null`` and no ``Referer``, so the session-less form token (which needs the shop's
    origin as proof, see :mod:`bookstore_web.sessions`) could never be accepted from them.
    """
    from ..sessions import live_session

    if live_session(request) is None:
        request.session.get_csrf_token()  # stores the token: the session is saved and its cookie set


def retry_minutes(exc: Any) -> int | None:
    """Whole minutes to wait, from a 429's ``details.retry_after`` (seconds), when the API says."""
    wait = exc.details.get("retry_after") if isinstance(getattr(exc, "details", None), dict) else None
    return max(1, -(-int(wait) // 60)) if isinstance(wait, int) and wait > 0 else None


def safe_next(value: Any, default: str = "/") -> str:
    """Only local paths are acceptable redirect targets (no ``//evil.example``), in printable
    ASCII only: no control characters, spaces or anything a browser would strip or re-read."""
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isascii()
        and value.isprintable()
        and " " not in value
        and len(value) <= 2000
    ):
        return value
    return default


def path_id(request: Request, name: str) -> int:
    """A positive integer id from the URL (ASCII digits only: not ``²`` or ``٣``), or 404."""
    raw = request.matchdict.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 1 <= int(raw) <= MAX_ID:
        raise HTTPNotFound()
    return int(raw)


def positive_int(value: Any, default: int, maximum: int = 100_000) -> int:
    text = str(value)
    if not (text.isascii() and text.strip().isdigit()) or len(text) > 12:
        return default
    number = int(text)
    return number if 1 <= number <= maximum else default


def clean_price(value: Any) -> tuple[str | None, str | None]:
    """``(price, error)`` for a price filter typed by a shopper."""
    text = str(value or "").strip().lstrip("$")
    if not text:
        return None, None
    if parse_price(text) is None:
        return None, "Enter an amount such as 10 or 12.50."
    return text, None


def pages(page: int, per_page: int, total: int) -> dict[str, Any]:
    """Pagination facts for the templates."""
    last = max(1, -(-total // per_page))
    page = min(page, last)
    window = [n for n in range(max(1, page - 2), min(last, page + 2) + 1)]
    return {
        "page": page,
        "last": last,
        "total": total,
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < last else None,
        "window": window,
        "first_item": (page - 1) * per_page + 1 if total else 0,
        "last_item": min(page * per_page, total),
    }
