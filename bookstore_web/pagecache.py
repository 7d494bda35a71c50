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

Listings (home, the catalogue with its filters, sorts and searches, author pages) are kept
by :class:`ListingCache` the same way, checked against the catalogue's version and the
version of every book they show; see its docstring.

``release`` is a digest of the templates and of the entry format, so a deploy
that changes either starts from an empty page cache. Staff pages bypass the cache (staff may see
archived books). With Redis down every page is built from the API, as if the
cache did not exist.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from markupsafe import Markup
from pyramid.config import Configurator

from bookstore_core.redisstore import LuaScript, RedisStore
from bookstore_core.versioned import VersionedCache, book_version_key

TEMPLATES = Path(__file__).parent / "templates"
PAGE_TTL = 3600
#: the shape of a cached entry; change it when the entry's keys change
ENTRY_FORMAT = 5

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


#: where each listed book's wishlist button leads back to: the page's own URL, put in per request
RETURN_SLOT = Markup("<return-to/>")
#: where a shared listing page shows the shopper's waiting messages (usually none)
FLASH_SLOT = Markup("<flash-messages/>")
#: a listing is stored from its second view within this time on (views of a one-off search
#: or of made-up filters leave a marker of a few bytes, never a page)
ADMIT_SECONDS = 300
LISTING_TTL = 300
#: listings whose membership or order moves with sales and stock (bestselling, in stock only)
VOLATILE_LISTING_TTL = 60

#: how many listings each process keeps a copy of (each stamp-checked against Redis per view)
LOCAL_COPIES = 256

# KEYS[1] = catalogue version key, KEYS[2] = entry (a hash); ARGV[1] = prefix of the book
# version keys; ARGV[2] = the stamp of the caller's own copy of the entry ('' for none);
# ARGV[3..] = the entry's fields wanted. Answers {catalogue version} (no entry), {catalogue
# version, ids, their current versions} (a stale entry: what a rebuild may use), that and the
# entry's stamp (it is current and the caller's copy is it) or that and the fields (current).
_GET_LISTING = """
local catalog = redis.call('GET', KEYS[1]) or '0'
local head = redis.call('HMGET', KEYS[2], 'cat', 'ids', 'vers', 'stamp')
if not head[1] then return {catalog} end
local keys = {}
for id in string.gmatch(head[2], '%d+') do keys[#keys + 1] = ARGV[1] .. id end
local now = ''
if #keys > 0 then
  local found = redis.call('MGET', unpack(keys))
  for i = 1, #keys do found[i] = found[i] or '0' end
  now = table.concat(found, ',')
end
if head[1] ~= catalog or head[3] ~= now then return {catalog, head[2], now} end
if head[4] == ARGV[2] then return {catalog, head[2], now, head[4]} end
local out = redis.call('HMGET', KEYS[2], unpack(ARGV, 3))
table.insert(out, 1, catalog)
table.insert(out, 2, head[2])
table.insert(out, 3, now)
table.insert(out, 4, head[4])
return out
"""


class ListingCache:
    """Rendered listings (home, the catalogue, search results, genre and author pages) in Redis.

    An entry is a hash: the catalogue version it was built under (``cat``), the ids of the books
    it shows (``ids``) and each one's version (``vers``), and the rendered parts (raw bytes).
    One script checks all of them against the API's counters and answers the parts only when
    nothing changed: a sale, a restock or an edit of a listed book bumps its ``ver:book:<id>``, and
    a book added, archived, re-priced or moved between genres bumps ``ver:catalog``, so the next
    view is built again. Versions are read *before* the data they describe, so an entry can only
    be older than its versions say, never newer: a change made while it was built shows next time.
    """

    def __init__(self, store: RedisStore, catalog_prefix: str, release: str):
        self.store = store
        self.catalog_key = f"{catalog_prefix}ver:catalog"
        self.book_prefix = book_version_key(catalog_prefix, 0)[:-1]
        self.entry_prefix = store.key("web", "list", release, "")
        self._get = LuaScript(store.client, _GET_LISTING)
        #: (key, fields) -> (stamp, fields' values): pages this process has read, so a view of
        #: one that has not changed moves a few bytes from Redis instead of the page
        self._local: dict[tuple[str, tuple[str, ...]], tuple[bytes, list[bytes]]] = {}
        self._local_lock = threading.Lock()

    def entry_key(self, params: object) -> str:
        raw = orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
        return self.entry_prefix + hashlib.sha1(raw, usedforsecurity=False).hexdigest()

    def read(self, key: str, fields: tuple[str, ...]) -> tuple[list, list[bytes] | None] | None:
        """``(answer, fields)``: the script's answer (see ``_GET_LISTING``) and the entry's fields
        when it is current (from this process's copy when Redis says the copy is the entry);
        None while Redis is unavailable."""
        local = self._local.get((key, fields))
        stamp = local[0] if local is not None else b""
        args = [self.book_prefix, stamp, *fields]
        found = self.store.call(lambda client: self._get(keys=[self.catalog_key, key], args=args))
        if found is None:
            return None
        if len(found) == 4 and local is not None and found[3] == stamp:
            return found, local[1]
        if len(found) > 4 and all(value is not None for value in found[4:]):
            values = found[4:]
            with self._local_lock:
                if len(self._local) >= LOCAL_COPIES:
                    self._local.pop(next(iter(self._local)))  # the oldest copy
                self._local[(key, fields)] = (found[3], values)
            return found, values
        return found, None

    def cached(self, key: str, fields: tuple[str, ...]) -> list[bytes] | None:
        """The fields of a current entry, or None (a miss, a stale entry, Redis down): never builds."""
        found = self.read(key, fields)
        return None if found is None else found[1]

    def listing(
        self,
        key: str,
        fields: tuple[str, ...],
        fetch: Callable[[], tuple[Any, list[int]]],
        render: Callable[[Any], dict[str, bytes]],
        ttl: int = LISTING_TTL,
    ) -> dict[str, bytes]:
        """The entry's ``fields``: from Redis when current, else fetched, rendered and stored.

        ``fetch`` reads the data (API calls) and names the listed books; ``render`` makes the
        entry's parts from it.
        """
        read = self.read(key, fields)
        if read is None:  # Redis is unavailable: as if there were no cache
            return render(fetch()[0])
        found, values = read
        if values is not None:
            return dict(zip(fields, values, strict=True))
        if len(found) == 1 and self._first_view(key):
            return render(fetch()[0])
        catalog = found[0]
        known: dict[int, bytes] = {}
        if len(found) >= 3 and found[1]:
            known = dict(zip((int(i) for i in found[1].split(b",")), found[2].split(b","), strict=True))
        data, ids = fetch()
        if not all(book_id in known for book_id in ids):
            # books this key has not listed before: read their versions now, then the data again
            # (so the data is at least as new as the versions stored with it)
            versions = (
                self.store.call(lambda client: client.mget([self.book_prefix + str(i) for i in ids])) if ids else []
            )
            if versions is None:
                return render(data)
            again, ids_again = fetch()
            if ids_again != ids:  # the listing moved meanwhile: serve it, store nothing
                return render(again)
            data = again
            known = {book_id: version or b"0" for book_id, version in zip(ids, versions, strict=True)}
        parts = render(data)
        entry = {
            "cat": catalog,
            "ids": ",".join(str(book_id) for book_id in ids),
            "vers": b",".join(known[book_id] for book_id in ids),
            "stamp": secrets.token_hex(8),
            **parts,
        }

        def store(client):
            pipe = client.pipeline(transaction=False)
            pipe.delete(key)
            pipe.hset(key, mapping=entry)
            pipe.expire(key, ttl)
            return pipe.execute()

        self.store.call(store)
        return parts

    def _first_view(self, key: str) -> bool:
        """Whether this is the first view of a listing not stored (then it is not stored yet)."""
        marker = key + ":seen"
        return self.store.call(lambda client: client.set(marker, b"1", nx=True, ex=ADMIT_SECONDS)) is True


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    cache = VersionedCache(RedisStore(config.registry["session_redis"], settings["redis.prefix"]))
    release = templates_release()
    config.registry["page_cache"] = PageCache(cache, settings["web.catalog_cache_prefix"], release)
    config.registry["listing_cache"] = ListingCache(cache.store, settings["web.catalog_cache_prefix"], release)
