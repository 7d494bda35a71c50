"""Read-through cache of catalog reads in Redis, with versioned keys.

Two kinds of version counters decide what a write invalidates:

* ``ver:book:<id>`` — bumped after any transaction that changed that book (its
  fields, stock, rating). A book's rendered JSON is stored under
  ``book:<id>:<version>``, so a stock change is visible on the next read.
* ``ver:catalog`` — bumped after a change to what the catalog contains (a book
  added, edited, archived or deleted, or one selling out or coming back in stock,
  which changes what "in stock only" lists). Listings, searches, genres and author
  pages are stored under that version. Listings hold only book ids and the
  total; their items are rendered from the per-book entries, so stock and
  ratings in a listing are always as fresh as the book page.

Versions are bumped after commit (a transaction hook), so a reader can never
cache data older than the version it read. The key/version contract and the
one-rebuild-at-a-time read are :mod:`bookstore_core.versioned`, which the
storefront's page cache shares. With Redis down every read goes to PostgreSQL
and nothing fails.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import redis
import transaction

from bookstore_core.redisstore import LuaScript, RedisStore
from bookstore_core.versioned import LOCK_MS, VersionedCache, book_version_key

BOOK_TTL = 3600
LIST_TTL = 300
VOLATILE_LIST_TTL = 60  # orderings that move with every sale or review
# KEYS = version keys of several books; ARGV[1] = prefix of the data keys.
_GET_BOOKS = """
local out = {}
for i, key in ipairs(KEYS) do
  local version = redis.call('GET', key) or '0'
  out[i] = {version, redis.call('GET', ARGV[i] .. version)}
end
return out
"""

# KEYS[1] = a book's version key; ARGV[1] = its data key prefix; ARGV[2] = the lock key prefix;
# ARGV[3] = the lock's lifetime (ms). The entry of the current version, or the right to build it.
_GET_BOOK_OR_CLAIM = """
local version = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. version
local data = redis.call('GET', key)
if data then return {version, data, 0} end
if redis.call('SET', ARGV[2] .. key, '1', 'NX', 'PX', ARGV[3]) then return {version, false, 1} end
return {version, false, 0}
"""

# KEYS[1] = the catalogue version key; ARGV[1], ARGV[2] = a listing's data key prefix and suffix;
# ARGV[3] = the key prefix. A listing's entry (ids, total) and, when it is there, the version
# and entry of each of its books: a cached listing in one round trip.
_GET_LISTING = """
local version = redis.call('GET', KEYS[1]) or '0'
local entry = redis.call('GET', ARGV[1] .. version .. ARGV[2])
if not entry then return {version, false} end
local out = {version, entry}
for _, id in ipairs(cjson.decode(entry)['ids']) do
  local book = string.format('%d', id)
  local book_version = redis.call('GET', ARGV[3] .. 'ver:book:' .. book) or '0'
  out[#out + 1] = book_version
  out[#out + 1] = redis.call('GET', ARGV[3] .. 'book:' .. book .. ':' .. book_version)
end
return out
"""

# KEYS[1] = a raw query string's entry ({"s": the listing key's suffix, "page", "per_page"});
# KEYS[2] = the catalogue version key; ARGV[1] = the listings' data key prefix; ARGV[2] = the
# key prefix. ``{query entry, listing entry, book JSON...}`` when all of it is cached, else nil.
_GET_LISTING_BY_QUERY = """
local query = redis.call('GET', KEYS[1])
if not query then return false end
local version = redis.call('GET', KEYS[2]) or '0'
local entry = redis.call('GET', ARGV[1] .. version .. cjson.decode(query)['s'])
if not entry then return false end
local out = {query, entry}
for _, id in ipairs(cjson.decode(entry)['ids']) do
  local book = string.format('%d', id)
  local book_version = redis.call('GET', ARGV[2] .. 'ver:book:' .. book) or '0'
  local data = redis.call('GET', ARGV[2] .. 'book:' .. book .. ':' .. book_version)
  if not data then return false end
  out[#out + 1] = data
end
return out
"""


def digest(value: object) -> str:
    return hashlib.sha1(
        orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS), usedforsecurity=False
    ).hexdigest()


class ThreadScript:
    """A Lua script run on a Redis connection of the calling thread's own, outside the pool.

    For the hottest reads (a book, a listing): every waitress thread keeps one
    connection (made by the client's pool, so with its address, TLS, password and
    database), and a call is the command and its reply, without the pool's lock
    and the client's per-command wrapping (about two thirds of a cached read's
    Redis cost in Python). A broken connection is dropped and the call tried once
    more on a new one; a second failure is the store's (its back-off, then misses).
    """

    def __init__(self, store: RedisStore, source: str):
        self.store = store
        self.script = LuaScript(store.client, source)
        self._local = threading.local()

    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self.store.client.connection_pool.make_connection()
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.disconnect()

    def _run(self, packed: list[bytes]):
        connection = self._connection()
        connection.send_packed_command(packed)
        return connection.read_response()

    def __call__(self, keys: list[str], args: list) -> Any:
        """The script's reply; None while Redis is unavailable."""
        if not self.store.available:
            return None
        command = ("EVALSHA", self.script.sha, len(keys), *keys, *args)
        packed = self._connection().pack_command(*command)
        for attempt in (1, 2):
            try:
                return self._run(packed)
            except redis.exceptions.NoScriptError:
                self.store.call(lambda client: client.script_load(self.script.source))
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self._drop()
                if attempt == 2:
                    self.store.failed(exc)
                    return None
            except redis.RedisError as exc:
                self._drop()
                self.store.failed(exc)
                return None
        return self.store.call(lambda client: self.script(keys=keys, args=args))


class CatalogCache(VersionedCache):
    """The API's catalogue reads on top of the shared versioned read (:mod:`bookstore_core.versioned`)."""

    def __init__(self, store: RedisStore):
        super().__init__(store)
        self._get_books = LuaScript(store.client, _GET_BOOKS)
        self._get_book_or_claim = ThreadScript(store, _GET_BOOK_OR_CLAIM)
        self._get_listing = ThreadScript(store, _GET_LISTING)
        self._get_listing_by_query = ThreadScript(store, _GET_LISTING_BY_QUERY)

    # -- keys ------------------------------------------------------------------

    def _book_version_key(self, book_id: int) -> str:
        return book_version_key(self.store.prefix, book_id)

    def _book_key_prefix(self, book_id: int) -> str:
        return self.store.key("book", book_id, "")

    # -- invalidation ----------------------------------------------------------

    def after_commit_bump(self, *, books: Iterable[int] = (), catalog: bool = False) -> None:
        """Bump versions once the current transaction has committed."""
        keys = [self._book_version_key(book_id) for book_id in set(books)]
        if catalog:
            keys.append(self.store.key("ver", "catalog"))
        if not keys:
            return

        def bump(committed: bool) -> None:
            if committed:
                self.bump_now(keys)

        transaction.get().addAfterCommitHook(bump)

    def bump_now(self, keys: list[str]) -> None:
        def run(client):
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
            return pipe.execute()

        self.store.call(run)

    # -- reads -----------------------------------------------------------------

    def book_json(self, book_id: int, build: Callable[[], bytes | None]) -> bytes | None:
        """A book's rendered JSON: from the cache, or built and stored (None: no such book)."""
        return self.versioned(self._book_version_key(book_id), self._book_key_prefix(book_id), "", build, BOOK_TTL)

    def cached_book_json(self, book_id: int) -> bytes | None:
        """A book's current JSON if it is in the cache; None on a miss or with Redis down (never builds)."""
        found = self.read_versioned(self._book_version_key(book_id), self._book_key_prefix(book_id), "")
        return found[1] if found is not None else None

    def book_json_or_claim(self, book_id: int) -> tuple[bytes | None, str | None] | None:
        """One round trip: ``(json, None)`` on a hit; on a miss ``(None, key)`` when this caller
        may build the entry (store it with :meth:`store_claimed`), ``(None, None)`` when another
        request is building it. None while Redis is unavailable."""
        version_key, prefix = self._book_version_key(book_id), self._book_key_prefix(book_id)
        lock_prefix = self.store.key("lock", "")
        found = self._get_book_or_claim(keys=[version_key], args=[prefix, lock_prefix, LOCK_MS])
        if found is None:
            return None
        version, data, claimed = found
        if data is not None:
            return data, None
        return None, (prefix + version.decode()) if claimed else None

    def store_claimed(self, key: str, body: bytes | None) -> None:
        """Store a claimed entry (unless there is no such book) and release the claim: one round trip."""

        def run(client):
            pipe = client.pipeline(transaction=False)
            if body is not None:
                pipe.set(key, body, ex=BOOK_TTL)
            pipe.delete(self.store.key("lock", key))
            return pipe.execute()

        self.store.call(run)

    def books_json(self, book_ids: list[int], build_many: Callable[[list[int]], dict[int, bytes]]) -> list[bytes]:
        """Rendered JSON of several books in one round trip; misses are built together."""
        if not book_ids:
            return []
        keys = [self._book_version_key(book_id) for book_id in book_ids]
        prefixes = [self._book_key_prefix(book_id) for book_id in book_ids]
        found = self.store.call(lambda client: self._get_books(keys=keys, args=prefixes))
        if found is None:
            built = build_many(book_ids)
            return [built[book_id] for book_id in book_ids if book_id in built]
        return self._complete(book_ids, [version for version, _ in found], [data for _, data in found], build_many)

    def _complete(
        self,
        book_ids: list[int],
        versions: list[bytes],
        datas: list[bytes | None],
        build_many: Callable[[list[int]], dict[int, bytes]],
    ) -> list[bytes]:
        """The books' JSON from what the cache held; the missing ones built together and stored."""
        missing = [book_id for book_id, data in zip(book_ids, datas, strict=True) if data is None]
        built = build_many(missing) if missing else {}
        if built:

            def store(client):
                pipe = client.pipeline(transaction=False)
                for book_id, version in zip(book_ids, versions, strict=True):
                    if book_id in built:
                        pipe.set(self._book_key_prefix(book_id) + version.decode(), built[book_id], ex=BOOK_TTL)
                return pipe.execute()

            self.store.call(store)
        out = []
        for book_id, data in zip(book_ids, datas, strict=True):
            body = data if data is not None else built.get(book_id)
            if body is not None:
                out.append(body)
        return out

    def listing(
        self,
        params: object,
        build_ids: Callable[[], bytes],
        ttl: int,
        build_many: Callable[[list[int]], dict[int, bytes]],
    ) -> tuple[dict, list[bytes]]:
        """A listing's ``{"ids", "total", "capped"}`` and its books' JSON.

        Cached, that is one round trip for the listing and every book in it; a missing
        listing is built one request at a time (:meth:`catalog_entry`), missing books
        together (:meth:`books_json`).
        """
        version_key = self.store.key("ver", "catalog")
        suffix = self.listing_suffix(params)
        prefix = self.store.key("cat", "")
        found = self._get_listing(keys=[version_key], args=[prefix, suffix, self.store.prefix])
        if found is None or found[1] is None:
            entry = orjson.loads(self.versioned(version_key, prefix, suffix, build_ids, ttl))
            return entry, self.books_json(entry["ids"], build_many)
        entry = orjson.loads(found[1])
        return entry, self._complete(entry["ids"], found[2::2], found[3::2], build_many)

    @staticmethod
    def listing_suffix(params: object) -> str:
        return f":books:{digest(params)}"

    def _query_key(self, query_string: str) -> str:
        return self.store.key("q", "books", hashlib.sha1(query_string.encode(), usedforsecurity=False).hexdigest())

    def remember_query(self, query_string: str, params: object, page: int, per_page: int, ttl: int) -> None:
        """Note which listing a raw query string asks for, once the spec and the view have accepted it.

        Validation is a function of the query string alone, so the next request with the
        same string can be answered from the cache without being validated again
        (:meth:`listing_by_query`).
        """
        value = orjson.dumps({"s": self.listing_suffix(params), "page": page, "per_page": per_page})
        self.store.call(lambda client: client.set(self._query_key(query_string), value, ex=ttl))

    def listing_by_query(self, query_string: str) -> tuple[dict, dict, list[bytes]] | None:
        """``(query, listing, books' JSON)`` for a query string seen before, in one round trip, when
        all of it is cached; None otherwise (the view's path then answers)."""
        found = self._get_listing_by_query(
            keys=[self._query_key(query_string), self.store.key("ver", "catalog")],
            args=[self.store.key("cat", ""), self.store.prefix],
        )
        if not found:
            return None
        return orjson.loads(found[0]), orjson.loads(found[1]), found[2:]

    def book_entry(self, book_id: int, name: str, params: object, build: Callable[[], bytes]) -> bytes:
        """An entry that changes with one book (its reviews, say): same version as the book."""
        prefix = self.store.key("book", book_id, name, digest(params), "")
        return self.versioned(self._book_version_key(book_id), prefix, "", build, BOOK_TTL)

    def catalog_entry(self, name: str, params: object, build: Callable[[], bytes], ttl: int = LIST_TTL) -> bytes:
        """An entry that depends on what the catalog contains (listings, genres, authors)."""
        version_key = self.store.key("ver", "catalog")
        return self.versioned(version_key, self.store.key("cat", ""), f":{name}:{digest(params)}", build, ttl)


def includeme(config) -> None:
    config.registry["catalog_cache"] = CatalogCache(config.registry["redis"])
