"""Shop pages: home, the catalog with search/filters/sorting/paging, books, authors, reviews.

htmx parts: live search suggestions (``/search/suggest``) and the results list
of ``/books``, which is re-rendered alone when the filter form or a page link is
used with JavaScript on (the URL is pushed, so back/forward and bookmarks work).

Listings (home, ``/books`` with every filter, sort, page and search, its htmx part, author
pages) are served from the listing cache (:class:`bookstore_web.pagecache.ListingCache`):
whole pages rendered once for signed-out visitors and once for signed-in shoppers, with slots
for what differs per shopper. A visitor without a session is answered before routing
(:func:`cached_visitor_listing`); staff bypass the cache.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from markupsafe import Markup, escape
from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from ..api import ApiError
from ..auth import is_staff, remember_user
from ..pagecache import (
    CART_COUNT_SLOT,
    CSRF_SLOT,
    FLASH_SLOT,
    LISTING_TTL,
    LOCAL_COPIES,
    RETURN_SLOT,
    REVIEW_SLOT,
    VOLATILE_LISTING_TTL,
    WISHLIST_SLOT,
)
from ..sessions import cart_count, has_session
from ..templating import FLASH_QUEUES, csrf_field, render_partial
from . import MAX_ID, clean_price, htmx_target, pages, path_id, positive_int, safe_next, see_other
from .wishlist import in_wishlist, wishlist_button, wishlist_ids

PER_PAGE = 24
SORT_CHOICES = [
    ("relevance", "Best match"),
    ("newest", "Newest first"),
    ("bestselling", "Bestselling"),
    ("rating", "Highest rated"),
    ("title", "Title A–Z"),
    ("price", "Price: low to high"),
    ("-price", "Price: high to low"),
]
SORTS = {value for value, _ in SORT_CHOICES}
RETURN_SLOT_BYTES = str(RETURN_SLOT).encode()
CSRF_SLOT_BYTES = str(CSRF_SLOT).encode()
CART_COUNT_SLOT_BYTES = str(CART_COUNT_SLOT).encode()
FLASH_SLOT_BYTES = str(FLASH_SLOT).encode()


_genres_lock = threading.Lock()


def genres(request: Request) -> list[dict[str, Any]]:
    """All genres, kept in this process for ``web.catalog_cache_seconds`` (they rarely change)."""
    ttl = float(request.registry.settings["web.catalog_cache_seconds"])
    cache = request.registry.setdefault("bookstore_web.genres", {"at": 0.0, "items": None})
    if cache["items"] is None or time.monotonic() - cache["at"] >= ttl:
        items = request.api.get("/genres")["items"]
        with _genres_lock:
            cache.update(items=items, at=time.monotonic())
    return cache["items"]


def _home_fetch(request: Request) -> Callable[[], tuple[dict[str, Any], list[int]]]:
    def fetch() -> tuple[dict[str, Any], list[int]]:
        api = request.api
        newest = api.get("/books", {"sort": "newest", "per_page": 8, "in_stock": "true"})["items"]
        bestsellers = api.get("/books", {"sort": "bestselling", "per_page": 8})["items"]
        top = sorted(genres(request), key=lambda g: -int(g.get("book_count") or 0))[:12]
        context = {"newest": newest, "bestsellers": bestsellers, "genres": top}
        return context, [book["id"] for book in newest + bestsellers]

    return fetch


def _catalog_filters(params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The shopper's filters, cleaned: ``(filters, errors)``."""
    errors: dict[str, str] = {}
    filters: dict[str, Any] = {
        "q": (params.get("q") or "").strip()[:200] or None,
        "genre": (params.get("genre") or "").strip()[:64] or None,
        "author": (params.get("author") or "").strip()[:200] or None,
        "in_stock": "true" if params.get("in_stock") in ("1", "true", "on") else None,
        "sort": params.get("sort") if params.get("sort") in SORTS else None,
    }
    for name in ("min_price", "max_price"):
        value, error = clean_price(params.get(name))
        filters[name] = value
        if error:
            errors[name] = error
    return filters, errors


def _books_fetch(
    request: Request, filters: dict[str, Any], errors: dict[str, str], page: int, partial: bool
) -> Callable[[], tuple[dict[str, Any], list[int]]]:
    def fetch() -> tuple[dict[str, Any], list[int]]:
        found_errors = dict(errors)
        try:
            result = request.api.get("/books", {**filters, "page": page, "per_page": PER_PAGE})
        except ApiError as exc:
            if exc.status != 400:
                raise
            found_errors.update({k: v for k, v in exc.fields.items() if k in ("min_price", "max_price", "q")})
            result = {"items": [], "total": 0}
        context = {
            "filters": filters,
            "errors": found_errors,
            "books": result["items"],
            "paging": pages(page, PER_PAGE, int(result["total"])),
            "genres": [] if partial else genres(request),
            "sort_choices": SORT_CHOICES,
            "search_q": filters["q"],
            "raw": {k: request.GET.get(k) for k in ("min_price", "max_price")},
        }
        return context, [book["id"] for book in result["items"]]

    return fetch


@view_config(route_name="search_suggest", renderer="catalog/_suggestions.html", request_method="GET")
def search_suggest(request: Request) -> dict[str, Any]:
    q = (request.GET.get("q") or "").strip()[:200]
    if len(q) < 2:
        return {"q": q, "books": []}
    result = request.api.get("/books", {"q": q, "per_page": 6})
    return {"q": q, "books": result["items"], "total": result["total"]}


def _reviews(request: Request, book_id: int) -> dict[str, Any]:
    try:
        return request.api.get(f"/books/{book_id}/reviews", {"per_page": 20})
    except ApiError as exc:
        if exc.status in (404, 405):
            return {"items": [], "total": 0}
        raise


def _can_review(request: Request, book_id: int) -> bool:
    """Whether the signed-in shopper may review this book now: the API's ``can_review`` for them."""
    if request.user is None:
        return False
    try:
        return request.api.get(f"/books/{book_id}").get("can_review") is True
    except ApiError:
        return False


def _unverified(request: Request) -> bool:
    """Whether the signed-in shopper has not confirmed their e-mail address (reviews need it).

    The session remembers what the API said at log-in; before telling the shopper, ask again
    (they may have confirmed it in another browser since). Only asked when the shopper could
    otherwise review the book, and remembered then.
    """
    user = request.user
    if user is None or user.get("email_verified") is True:
        return False
    try:
        me = request.api.get("/me")
    except ApiError:
        return False
    remember_user(request, me)
    return me.get("email_verified") is False


def _book_detail(request: Request, book_id: int, *, visitor_page: bool = True) -> dict[str, str]:
    """The part of a book page that is the same for every shopper, rendered (see bookstore_web.pagecache).

    ``visitor_page``: also the whole page as a signed-out visitor sees it (what the cache serves them).
    """
    found = request.api.get(f"/books/{book_id}")
    reviews = _reviews(request, book_id)
    body = render_partial(
        request,
        "catalog/_book_detail.html",
        book=found,
        reviews=reviews.get("items", []),
        shared_fragment=True,
        review_slot=REVIEW_SLOT,
        wishlist_slot=WISHLIST_SLOT,
    )
    description = found.get("description") or found.get("title") or ""
    page = {"title": found.get("title") or "", "description": description, "body": body}
    page["book"] = {"id": found["id"], "title": found.get("title") or ""}  # for the wishlist button
    if not visitor_page:
        return page
    visitor = render_partial(request, "catalog/book.html", page=page, shared_fragment=True)
    login_prompt = render_partial(
        request, "catalog/_review_form.html", book_id=book_id, can_review=False, signed_out=True
    )
    # every signed-out visitor gets the neutral button (its CSRF field is a slot, filled per request)
    neutral = render_partial(
        request,
        "partials/wishlist_button.html",
        book=page["book"],
        in_list=None,
        next_url=request.route_path("book", book_id=book_id),
        shared_fragment=True,
    )
    page["visitor_page"] = visitor.replace(REVIEW_SLOT, login_prompt).replace(WISHLIST_SLOT, neutral)
    return page


def _fill(
    html: str,
    request: Request,
    *,
    review_part: str | None = None,
    wishlist_part: str | None = None,
    cart_count: str | None = None,
) -> Markup:
    """The shared HTML with this shopper's parts put in its slots."""
    if review_part is not None:
        html = html.replace(REVIEW_SLOT, review_part)
    if wishlist_part is not None:
        html = html.replace(WISHLIST_SLOT, wishlist_part)
    if CSRF_SLOT in html:
        html = html.replace(CSRF_SLOT, csrf_field(request))
    if cart_count is not None:
        html = html.replace(CART_COUNT_SLOT, cart_count)
    return Markup(html)  # noqa: S704 - rendered by our templates, every value in it escaped then


def book_page(
    request: Request,
    book_id: int,
    *,
    can_review: bool | None = None,
    review_form: dict[str, str] | None = None,
    review_errors: dict[str, str] | None = None,
) -> dict[str, Any] | Response:
    """A book page: the shared part (cached) with this shopper's parts filled in.

    A signed-out visitor with no messages waiting gets the cached whole page with
    its slots filled (a Response); everybody else a template context for
    ``catalog/book.html``, whose chrome is rendered for them.
    """
    if is_staff(request):  # staff may see archived books: never through the shared cache
        detail = _book_detail(request, book_id, visitor_page=False)
    else:
        detail = request.registry["page_cache"].book_page(book_id, lambda: _book_detail(request, book_id))
    if can_review is None and request.user is None and not _has_flashes(request):
        count = str(cart_count(request))
        return Response(_fill(detail["visitor_page"], request, cart_count=count), content_type="text/html")
    allowed = _can_review(request, book_id) if can_review is None else can_review
    # the API's can_review says "bought it, not reviewed yet"; publishing also needs a confirmed address
    unverified = allowed and _unverified(request)
    review_part = render_partial(
        request,
        "catalog/_review_form.html",
        book_id=book_id,
        can_review=allowed and not unverified,
        unverified=unverified,
        review_form=review_form or {},
        review_errors=review_errors or {},
    )
    book = detail.get("book") or {"id": book_id, "title": detail["title"]}
    wishlist_part = wishlist_button(
        request, book, state=in_wishlist(request, book_id), next_url=request.route_path("book", book_id=book_id)
    )
    body = _fill(detail["body"], request, review_part=review_part, wishlist_part=wishlist_part)
    return {"page": {"title": detail["title"], "description": detail["description"], "body": body}}


def _has_flashes(request: Request) -> bool:
    if not has_session(request):
        return False
    try:
        return any(request.session.peek_flash(queue) for queue in FLASH_QUEUES)
    except redis.RedisError:
        return False


@view_config(route_name="book", renderer="catalog/book.html", request_method="GET")
def book(request: Request) -> dict[str, Any] | Response:
    return book_page(request, path_id(request, "book_id"))


@view_config(route_name="book_more", renderer="catalog/_more_by_author.html", request_method="GET")
def more_by_author(request: Request) -> dict[str, Any]:
    """Other books by the book's first author: loaded after the page (htmx, when scrolled into view)."""
    book_id = path_id(request, "book_id")
    author_id = request.GET.get("author", "")
    if not author_id.isdigit() or not 1 <= int(author_id) <= MAX_ID:
        return {"books": [], "author": None}
    author = request.api.get(f"/authors/{author_id}")
    result = request.api.get("/books", {"author": author_id, "per_page": 5})
    return {"books": [b for b in result["items"] if b["id"] != book_id][:4], "author": author}


@view_config(route_name="book_reviews", request_method="POST", permission="authenticated")
def post_review(request: Request) -> Any:
    book_id = path_id(request, "book_id")
    form = {key: (request.POST.get(key) or "").strip() for key in ("rating", "title", "body")}
    errors: dict[str, str] = {}
    if form["rating"] not in {"1", "2", "3", "4", "5"}:
        errors["rating"] = "Choose a rating from 1 to 5 stars."
    if not form["body"]:
        errors["body"] = "Tell other readers what you thought."
    elif len(form["body"]) > 5000:
        errors["body"] = "Keep the review under 5000 characters."
    if len(form["title"]) > 200:
        errors["title"] = "Keep the title under 200 characters."
    if not errors:
        body = {"rating": int(form["rating"]), "body": form["body"]}
        if form["title"]:
            body["title"] = form["title"]
        try:
            request.api.post(f"/books/{book_id}/reviews", body)
        except ApiError as exc:
            if exc.status == 409:
                request.session.flash("You have already reviewed this book.", "info")
                return see_other(request, request.route_path("book", book_id=book_id) + "#reviews")
            if exc.status == 403 and _unverified(request):
                request.session.flash("Please confirm your email address before writing reviews.", "error")
                return see_other(request, request.route_path("book", book_id=book_id) + "#reviews")
            if exc.status == 403:
                request.session.flash("Only readers who bought this book can review it.", "error")
                return see_other(request, request.route_path("book", book_id=book_id) + "#reviews")
            if exc.status != 400:
                raise
            errors = exc.fields or {"body": exc.message}
    if errors:
        context = book_page(request, book_id, can_review=True, review_form=form, review_errors=errors)
        request.response.status = 400
        return render_to_response("catalog/book.html", context, request=request, response=request.response)
    request.session.flash("Thank you! Your review is published.", "success")
    return see_other(request, request.route_path("book", book_id=book_id) + "#reviews")


def _author_fetch(request: Request, author_id: int, page: int) -> Callable[[], tuple[dict[str, Any], list[int]]]:
    def fetch() -> tuple[dict[str, Any], list[int]]:
        found = request.api.get(f"/authors/{author_id}")
        params = {"author": author_id, "page": page, "per_page": PER_PAGE, "sort": "newest"}
        result = request.api.get("/books", params)
        paging = pages(page, PER_PAGE, int(result["total"]))
        return {"author": found, "books": result["items"], "paging": paging}, [b["id"] for b in result["items"]]

    return fetch


# -- listings through the listing cache (bookstore_web.pagecache.ListingCache) ------------------

#: what a signed-out visitor's view reads from an entry; what a signed-in shopper's does
VISITOR_FIELDS = ("page",)
MEMBER_FIELDS = ("member", "cards")
_INDENT = re.compile(r"\n\s+")


def compact(html: str) -> str:
    """The markup without its indentation and blank lines (listings hold no ``pre`` or ``textarea``)."""
    return _INDENT.sub("\n", html)


AUTHOR_PATH = re.compile(r"^/authors/([1-9][0-9]{0,17})$")


@dataclass
class Listing:
    """What one listing URL shows: its cache key, how long it may stay, its data and its template."""

    key: str
    ttl: int
    fetch: Callable[[], tuple[dict[str, Any], list[int]]]
    template: str
    partial: bool = False


def listing_for(request: Request, route: str, author_id: int | None = None) -> Listing:
    """The listing of a home, ``/books`` (every filter, sort, page and search) or author request."""
    cache = request.registry["listing_cache"]
    if route == "home":
        return Listing(cache.entry_key(["home"]), VOLATILE_LISTING_TTL, _home_fetch(request), "catalog/home.html")
    page = positive_int(request.GET.get("page"), 1)
    if route == "author":
        key = cache.entry_key(["author", author_id, page])
        return Listing(key, LISTING_TTL, _author_fetch(request, author_id, page), "catalog/author.html")
    filters, errors = _catalog_filters(request.GET)
    partial = htmx_target(request) == "results"
    raw = {k: request.GET.get(k) for k in ("min_price", "max_price")}
    key = cache.entry_key(["books", filters, errors, raw, page, partial])
    volatile = filters["in_stock"] or filters["sort"] in ("bestselling", "rating")
    ttl = VOLATILE_LISTING_TTL if volatile else LISTING_TTL
    template = "catalog/_results.html" if partial else "catalog/books.html"
    fetch = _books_fetch(request, filters, errors, page, partial)
    return Listing(key, ttl, fetch, template, partial)


def _render_listing(request: Request, listing: Listing, context: dict[str, Any]) -> dict[str, bytes]:
    """The entry's parts: the whole page as a signed-out visitor gets it and as a signed-in
    (non-staff) shopper does, whose chrome differs only in its links; every per-shopper part is
    a slot (see ``_fill_slots`` and ``_with_wishlist``)."""
    template = request.registry["jinja_env"].get_template(listing.template)
    values = {
        **context,
        "request": request,
        "shared_fragment": True,
        "return_slot": RETURN_SLOT,
        "flash_slot": FLASH_SLOT,
    }
    page = compact(template.render(values))
    member = page if listing.partial else compact(template.render({**values, "shared_member": True}))
    cards = [[b["id"], "", b.get("title") or ""] for b in context.get("books", [])]
    cards += [[b["id"], "-new", b.get("title") or ""] for b in context.get("newest", [])]
    cards += [[b["id"], "-best", b.get("title") or ""] for b in context.get("bestsellers", [])]
    return {"page": page.encode(), "member": member.encode(), "cards": orjson.dumps(cards)}


_SLOTS = re.compile(
    b"("
    + b"|".join(
        re.escape(slot) for slot in (RETURN_SLOT_BYTES, CSRF_SLOT_BYTES, CART_COUNT_SLOT_BYTES, FLASH_SLOT_BYTES)
    )
    + b")"
)
#: cached pages cut at their slots (keyed by the page itself: the listing cache hands out the
#: same bytes object for as long as the page is current, and a bytes object keeps its hash)
_cut_pages: dict[bytes, list[bytes]] = {}


def _fill_slots(request: Request, page: bytes, count: int = 0, messages: bytes = b"", *, reuse: bool = True) -> bytes:
    """A cached page with this shopper's parts in its slots: return URL, CSRF fields, cart count, messages.

    ``reuse``: the page is one the listing cache keeps (so its cut is kept too).
    """
    parts = _cut_pages.get(page) if reuse else None
    if parts is None:
        parts = _SLOTS.split(page)
        if reuse:
            if len(_cut_pages) >= LOCAL_COPIES:
                _cut_pages.clear()
            _cut_pages[page] = parts
    values = {
        RETURN_SLOT_BYTES: escape(safe_next(request.path_qs, "/")).encode(),
        CSRF_SLOT_BYTES: csrf_field(request).encode() if len(parts) > 1 else b"",
        CART_COUNT_SLOT_BYTES: str(count).encode(),
        FLASH_SLOT_BYTES: messages,
    }
    out = parts.copy()
    for index in range(1, len(out), 2):  # the slots: every other part
        out[index] = values[out[index]]
    return b"".join(out)


def _html(body: bytes) -> Response:
    return Response(body=body, content_type="text/html", charset="utf-8")


def cached_visitor_listing(request: Request) -> Response | None:
    """A listing for a visitor without a session, straight from the cache; None on a miss.

    Called before routing (``bookstore_web.tweens.listing_tween``): a hit renders nothing,
    reads no session and calls no API.
    """
    path = request.path_info
    if path == "/":
        route, author_id = "home", None
    elif path == "/books":
        route, author_id = "books", None
    else:
        found = AUTHOR_PATH.match(path)
        if found is None or int(found.group(1)) > MAX_ID:
            return None
        route, author_id = "author", int(found.group(1))
    listing = listing_for(request, route, author_id)
    parts = request.registry["listing_cache"].cached(listing.key, VISITOR_FIELDS)
    if parts is None:
        return None
    return _html(_fill_slots(request, parts[0]))


def _serve_listing(request: Request, listing: Listing) -> Response:
    """A listing: the cached page with this shopper's parts filled in, or built for staff."""
    if is_staff(request):  # staff bypass the shared cache
        context, _ = listing.fetch()
        return render_to_response(listing.template, context, request=request)
    cache = request.registry["listing_cache"]
    render = functools.partial(_render_listing, request, listing)
    messages = b"" if listing.partial else _messages(request)  # htmx parts leave them for the next page
    if request.user is None:
        parts = cache.listing(listing.key, VISITOR_FIELDS, listing.fetch, render, listing.ttl)
        return _html(_fill_slots(request, parts["page"], cart_count(request), messages))
    parts = cache.listing(listing.key, MEMBER_FIELDS, listing.fetch, render, listing.ttl)
    page = _with_wishlist(request, parts["member"], parts["cards"])
    return _html(_fill_slots(request, page, cart_count(request), messages, reuse=page is parts["member"]))


def _messages(request: Request) -> bytes:
    """The shopper's waiting messages, rendered (and taken from the session); usually nothing."""
    if not has_session(request):
        return b""
    try:
        waiting = [
            (queue, message)
            for queue in FLASH_QUEUES
            if request.session.peek_flash(queue)
            for message in request.session.pop_flash(queue)
        ]
    except redis.RedisError:
        return b""
    return render_partial(request, "partials/flashes.html", flashes=waiting).encode() if waiting else b""


def _with_wishlist(request: Request, html: bytes, cards: bytes) -> bytes:
    """The listing with the signed-in shopper's wishlisted books' buttons in their "remove" state."""
    ids = wishlist_ids(request)
    if ids:
        for book_id, suffix, title in orjson.loads(cards):
            if book_id in ids:
                book = {"id": book_id, "title": title}
                neutral = _card_button(request, book, suffix, None).encode()
                html = html.replace(neutral, _card_button(request, book, suffix, True).encode())
    return html


def _card_button(request: Request, book: dict[str, Any], suffix: str, state: bool | None) -> str:
    """A listing card's wishlist button as it is in the cached listing (slots for CSRF and return URL)."""
    html = render_partial(
        request,
        "partials/wishlist_button.html",
        book=book,
        in_list=state,
        suffix=suffix,
        next_url=RETURN_SLOT,
        shared_fragment=True,
    )
    return compact(html)


@view_config(route_name="home", request_method="GET")
def home(request: Request) -> Response:
    return _serve_listing(request, listing_for(request, "home"))


@view_config(route_name="books", request_method="GET")
def books(request: Request) -> Response:
    return _serve_listing(request, listing_for(request, "books"))


@view_config(route_name="author", request_method="GET")
def author(request: Request) -> Response:
    return _serve_listing(request, listing_for(request, "author", path_id(request, "author_id")))


def includeme(config) -> None:
    config.add_route("home", "/")
    config.add_route("books", "/books")
    config.add_route("search_suggest", "/search/suggest")
    config.add_route("book", "/books/{book_id}")
    config.add_route("book_reviews", "/books/{book_id}/reviews")
    config.add_route("book_more", "/books/{book_id}/more-by-author")
    config.add_route("author", "/authors/{author_id}")
