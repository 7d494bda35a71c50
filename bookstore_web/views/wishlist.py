"""The wishlist: a button on book pages and listing cards, and the ``/wishlist`` page.

* The button is a plain form posting to ``/wishlist/{book_id}`` (``action`` add or
  remove) that redirects back to the page it was on; with htmx the answer is the
  button in its new state, swapped in place (it keeps its id, so htmx gives the
  focus back to it). A signed-out shopper's click leads to the log-in page, which
  brings them back.
* Whose state is shown: the ids of the books on the shopper's wishlist are kept in
  their session (as the cart count is), read from the API once after log-in and
  kept current by every add and remove made here and by each view of the wishlist
  page. Page views therefore cost no API call. Cached listings carry the neutral
  button on every card; a signed-in shopper's wishlisted books get theirs swapped in
  per request (``views.catalog``). The book page is shared between
  shoppers through the page cache (:mod:`bookstore_web.pagecache`): its button
  is a slot filled per request, and the whole page every signed-out visitor is
  served carries the neutral "Add to wishlist" button, the same for all of them.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup
from pyramid.config import Configurator
from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from ..api import ApiError, ApiUnavailable
from ..auth import session_ended
from ..sessions import live_session
from ..templating import render_partial
from . import htmx_target, is_htmx, pages, path_id, positive_int, safe_next, see_other

log = logging.getLogger(__name__)

WISHLIST_KEY = "wishlist"
API_PAGE = 100
#: how much of a wishlist is read (books beyond it show "Add", which is harmless: adding is idempotent)
MAX_API_PAGES = 10
PER_PAGE = 24
SUFFIX = re.compile(r"^-?[a-z]{0,12}$")
_REQUEST_CACHE = "bookstore_web.wishlist_ids"
#: routes that answer only with a part of another page (loaded by htmx)
FRAGMENT_ROUTES = frozenset({"book_more"})


def _book(item: dict[str, Any]) -> dict[str, Any]:
    """A wishlist entry is a book (or carries one under ``book``)."""
    inner = item.get("book")
    return inner if isinstance(inner, dict) else item


def fetch_wishlist(request: Request) -> list[dict[str, Any]]:
    """The books on the signed-in shopper's wishlist, from the API (and their ids kept in the session)."""
    books: list[dict[str, Any]] = []
    for page in range(1, MAX_API_PAGES + 1):
        found = request.api.get("/me/wishlist", {"page": page, "per_page": API_PAGE})
        items = found.get("items", []) if isinstance(found, dict) else found or []
        books.extend(_book(item) for item in items if isinstance(item, dict))
        total = found.get("total") if isinstance(found, dict) else None
        if len(items) < API_PAGE or not isinstance(total, int) or len(books) >= total:
            break
    _remember(request, {int(book["id"]) for book in books if isinstance(book.get("id"), int)})
    return books


def _remember(request: Request, ids: set[int]) -> None:
    request.session[WISHLIST_KEY] = sorted(ids)
    request.environ[_REQUEST_CACHE] = frozenset(ids)


def wishlist_ids(request: Request) -> frozenset[int] | None:
    """The ids on the shopper's wishlist, or None for a signed-out visitor (never makes a session)."""
    if _REQUEST_CACHE in request.environ:
        return request.environ[_REQUEST_CACHE]
    ids: frozenset[int] | None = None
    if live_session(request) is not None and request.user is not None:
        known = request.session.get(WISHLIST_KEY)
        if isinstance(known, list):
            ids = frozenset(i for i in known if isinstance(i, int))
        else:
            try:
                fetch_wishlist(request)
                ids = request.environ[_REQUEST_CACHE]
            except (ApiError, ApiUnavailable) as exc:  # a 401 has signed the shopper out meanwhile
                log.warning("could not read the wishlist: %s", exc)
                ids = None if request.user is None else frozenset()
    request.environ[_REQUEST_CACHE] = ids
    return ids


def in_wishlist(request: Request, book_id: int) -> bool | None:
    """True/False for a signed-in shopper; None for a visitor (whose button is the neutral one)."""
    ids = wishlist_ids(request)
    return None if ids is None else book_id in ids


def return_to(request: Request) -> str:
    """The page a wishlist button should lead back to: this one, or for a fragment that htmx loads
    into a page (or a form's answer), that page."""
    route = getattr(request, "matched_route", None)
    if is_htmx(request) and (request.method != "GET" or (route is not None and route.name in FRAGMENT_ROUTES)):
        current = urlsplit(request.headers.get("HX-Current-URL") or "")
        path = current.path + (f"?{current.query}" if current.query else "")
        return safe_next(path, "/")
    return safe_next(request.path_qs, "/")


def wishlist_button(
    request: Request, book: dict[str, Any], *, state: bool | None, suffix: str = "", next_url: str | None = None
) -> Markup:
    """The button of one book, for a per-shopper part of a page (the cached book page's slot)."""
    return render_partial(
        request,
        "partials/wishlist_button.html",
        book=book,
        in_list=state,
        suffix=suffix,
        next_url=next_url or return_to(request),
    )


@view_config(route_name="wishlist_item", request_method="POST")
def wishlist_change(request: Request) -> Response:
    book_id = path_id(request, "book_id")
    adding = request.POST.get("action") != "remove"
    next_url = safe_next(request.POST.get("next"), request.route_path("book", book_id=book_id))
    suffix = request.POST.get("suffix") or ""
    suffix = suffix if SUFFIX.match(suffix) else ""
    known = wishlist_ids(request)  # a token the API refuses signs the shopper out here
    if request.user is None:
        if not session_ended(request):
            request.session.flash("Log in to keep a wishlist. We will bring you back to the book.", "info")
        return see_other(request, request.route_path("login", _query={"next": next_url}))
    ids = set(known or ())
    if adding:
        try:
            request.api.put(f"/me/wishlist/{book_id}")  # an unknown book: the friendly 404 page
        except ApiError as exc:
            if exc.status != 409:
                raise
            message, adding = f"Your wishlist is full. {exc.message}", False
        else:
            ids.add(book_id)
            message = "Saved to your wishlist."
    else:
        try:
            request.api.delete(f"/me/wishlist/{book_id}")
        except ApiError as exc:
            if exc.status != 404:  # not on the list (any more): what the shopper wanted
                raise
        ids.discard(book_id)
        message = "Removed from your wishlist."
    _remember(request, ids)
    if htmx_target(request) == "wishlist":
        return render_to_response("wishlist/_wishlist.html", _wishlist_context(request, message), request=request)
    if is_htmx(request):
        book = request.api.get(f"/books/{book_id}")
        return render_to_response(
            "partials/wishlist_button.html",
            {"book": book, "in_list": adding, "suffix": suffix, "next_url": next_url, "button_message": message},
            request=request,
        )
    request.session.flash(message, "success")
    return see_other(request, next_url)


def _wishlist_context(request: Request, message: str | None = None) -> dict[str, Any]:
    books = fetch_wishlist(request)
    paging = pages(positive_int(request.GET.get("page"), 1), PER_PAGE, len(books))
    start = (paging["page"] - 1) * PER_PAGE
    return {
        "books": books[start : start + PER_PAGE],
        "paging": paging,
        "message": message,
        "return_url": request.route_path("wishlist"),
    }


@view_config(route_name="wishlist", renderer="wishlist/wishlist.html", request_method="GET", permission="authenticated")
def wishlist_page(request: Request) -> dict[str, Any]:
    return _wishlist_context(request)


def includeme(config: Configurator) -> None:
    config.add_route("wishlist", "/wishlist")
    config.add_route("wishlist_item", "/wishlist/{book_id}")
    config.registry["jinja_env"].globals.update(in_wishlist=in_wishlist, return_to=return_to)
