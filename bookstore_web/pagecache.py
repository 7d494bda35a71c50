"""Rendered book pages in Redis, stored under the API's version of the book.

The API bumps a book's version counter (``ver:book:<id>``, see
:mod:`bookstore_core.versioned`) after every committed change to the book: its
fields, stock, rating or reviews. The storefront keeps the part of a book page
that is the same for every shopper (details, price, stock state, reviews) under
``web:book:<release>:<id>:<version>``, so one Redis round trip answers both
"which version is current" and "is that version rendered already". A sale or a
restock therefore shows on the very next page view; an old version is never
read again and expires.

What differs per shopper is filled in per request: the CSRF field of each form
(:data:`CSRF_SLOT`), the review form or log-in prompt (:data:`REVIEW_SLOT`),
the wishlist button in the shopper's own state (:data:`WISHLIST_SLOT`; the
neutral one in the signed-out visitors' page), and the page chrome (header, cart count, flash messages). The entry holds the
shared part twice: as the page's main content, which the chrome of a signed-in
shopper is rendered around, and as a whole page with the chrome of a
signed-out visitor, whose only per-visitor parts are slots (:data:`CART_COUNT_SLOT`)
and which is therefore served with no template rendering at all.

``release`` is a digest of the templates and of the entry format, so a deploy
that changes either starts from an empty page cache. Staff pages bypass the cache (staff may see
archived books). With Redis down every page is built from the API, as if the
cache did not exist.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from markupsafe import Markup
from pyramid.config import Configurator

from bookstore_core.redisstore import RedisStore
from bookstore_core.versioned import VersionedCache, book_version_key

TEMPLATES = Path(__file__).parent / "templates"
PAGE_TTL = 3600
#: the shape of a cached entry; change it when the entry's keys change
ENTRY_FORMAT = 3

#: what ``csrf_input()`` renders while a shared fragment is built; a template cannot produce it
#: from data (every value is HTML-escaped), so replacing it per request is safe
CSRF_SLOT = Markup("<csrf-input/>")
REVIEW_SLOT = Markup("<review-slot/>")
WISHLIST_SLOT = Markup("<wishlist-slot/>")
CART_COUNT_SLOT = Markup("<cart-count/>")


def templates_release() -> str:
    """A digest of every template file: pages rendered by other markup are never served."""
    digest = hashlib.sha256(f"format {ENTRY_FORMAT}".encode())
    for path in sorted(TEMPLATES.rglob("*.html")):
        digest.update(path.relative_to(TEMPLATES).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class PageCache:
    def __init__(self, cache: VersionedCache, catalog_prefix: str, release: str, ttl: int = PAGE_TTL):
        self.cache = cache
        self.catalog_prefix = catalog_prefix
        self.release = release
        self.ttl = ttl

    def book_page(self, book_id: int, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The shared part of a book's page: from Redis, or built (which may raise) and stored.

        The shared versioned read: one round trip, one rebuild at a time.
        """
        entry = self.cache.versioned(
            book_version_key(self.catalog_prefix, book_id),
            self.cache.store.key("web", "book", self.release, book_id, ""),
            "",
            lambda: orjson.dumps(build()),
            self.ttl,
        )
        return orjson.loads(entry)


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    cache = VersionedCache(RedisStore(config.registry["session_redis"], settings["redis.prefix"]))
    config.registry["page_cache"] = PageCache(cache, settings["web.catalog_cache_prefix"], templates_release())
