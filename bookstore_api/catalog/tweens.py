"""The catalogue's tween: anonymous book reads answered above the transaction manager."""

from __future__ import annotations

import logging
import re
from contextlib import nullcontext

from sqlalchemy.engine import Engine

from ..http.helpers import cacheable_json
from .cache import CatalogCache
from .views import listing_body, render_books

log = logging.getLogger(__name__)

_LISTING_PATH = "/api/v1/books"
_BOOK_PATH = re.compile(r"^/api/v1/books/([1-9][0-9]{0,17})$")


def cached_book_tween(handler, registry):
    """Answer anonymous ``GET /api/v1/books/{id}`` and cached listings before the transaction manager.

    It is the shop's hottest read (every book page and cart line). One Redis round
    trip returns the entry of the book's current version or, on a miss, the right to
    build it; a hit needs no database, and a miss is one SQL statement (the book with
    its authors and genres) and one more round trip to store the entry. Answering here
    skips the transaction, routing, validation and view machinery. Everything else —
    a request with a token (staff see more than shoppers, customers get
    ``can_review``), an id outside the spec's range, a book that does not exist or is
    archived, a miss another request is already building, Redis or PostgreSQL
    unavailable — goes down the normal path, which answers it exactly as before. The
    response is the same as the view's (``cacheable_json``: ETag, 304, Cache-Control).

    An anonymous ``GET /api/v1/books?...`` whose exact query string the view has
    accepted before (:meth:`CatalogCache.remember_query`) is answered here when its
    listing and every book in it are cached (one round trip), with the view's bytes.
    """
    cache: CatalogCache = registry["catalog_cache"]

    def tween(request):
        if request.method == "GET" and "Authorization" not in request.headers:
            match = _BOOK_PATH.match(request.path_info)
            if match is not None:
                book_id = int(match.group(1))
                found = cache.book_json_or_claim(book_id)
                if found is not None:
                    body, claim = found
                    if body is None and claim is not None:
                        body = _build(registry, cache, book_id, claim)
                    if body is not None:
                        return cacheable_json(request, body, max_age=0)
            elif request.path_info == _LISTING_PATH:
                found = cache.listing_by_query(request.query_string)
                if found is not None:
                    query, listing, items = found
                    body = listing_body(listing, query["page"], query["per_page"], items)
                    return cacheable_json(request, body, max_age=0)
        return handler(request)

    return tween


def _reading(registry):
    """A connection to read from, wherever the app's sessions read (their factory's ``bind``).

    An engine (what the app runs with): one of its connections in autocommit, since a
    single statement needs no transaction begun and rolled back around it. A connection
    (what the tests bind sessions to, inside a transaction of their own): that one.
    """
    bind = registry["dbsession_factory"].kw["bind"]
    if isinstance(bind, Engine):
        return bind.connect().execution_options(isolation_level="AUTOCOMMIT")
    return nullcontext(bind)


def _build(registry, cache: CatalogCache, book_id: int, claim: str) -> bytes | None:
    """Render a live book in one query, store it under the claimed key; None: leave it to the view."""
    body = None
    try:
        with _reading(registry) as connection:
            body = render_books(connection, [book_id]).get(book_id)
    except Exception:  # the view's path reports database trouble the usual way
        log.debug("building book %s in the tween failed", book_id, exc_info=True)
    cache.store_claimed(claim, body)
    return body
