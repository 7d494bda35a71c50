"""The Redis key/version contract of cached catalogue reads.

The API keeps one version counter per book, ``<prefix>ver:book:<id>``, and bumps
it after every committed change to the book (its fields, stock, rating or
reviews). Anything rendered from a book is stored under a key that ends in the
version it was built from, so a change is visible on the very next read and an
old entry is never read again (it simply expires). The storefront's page cache
keys its rendered book pages by the same counter; that is the whole contract
between the two apps' caches, and it lives here.

:class:`VersionedCache` reads "the current version and the entry built from it"
in one round trip (a Lua script) and, on a miss, lets one caller rebuild while
the others wait briefly for it (``lock:`` keys), so a popular entry expiring
never sends a stampede to the database. With Redis down every read is built
fresh and nothing fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .redisstore import LuaScript, RedisStore

LOCK_MS = 3000
WAIT_FOR_BUILDER_SECONDS = 0.5

# KEYS[1] = version key; ARGV[1] = data key prefix; ARGV[2] = data key suffix.
_GET_VERSIONED = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version .. ARGV[2])}
"""


def book_version_key(prefix: str, book_id: int) -> str:
    """The Redis key of a book's version counter, under the API's key prefix."""
    return f"{prefix}ver:book:{book_id}"


class VersionedCache:
    """Entries stored under ``prefix + <current version> + suffix``, rebuilt one at a time."""

    def __init__(self, store: RedisStore):
        self.store = store
        self._get_versioned = LuaScript(store.client, _GET_VERSIONED)

    def versioned(self, version_key: str, prefix: str, suffix: str, build: Callable[[], Any], ttl: int) -> Any:
        """Read ``prefix + <current version> + suffix`` in one round trip; rebuild on a miss."""
        found = self.read_versioned(version_key, prefix, suffix)
        if found is None:  # Redis is unavailable
            return build()
        version, data = found
        if data is not None:
            return data
        return self._rebuild(prefix + version.decode() + suffix, build, ttl)

    def read_versioned(self, version_key: str, prefix: str, suffix: str) -> list | None:
        """``[version, data or None]`` in one round trip; None while Redis is unavailable."""
        return self.store.call(lambda client: self._get_versioned(keys=[version_key], args=[prefix, suffix]))

    def _rebuild(self, key: str, build: Callable[[], bytes | None], ttl: int) -> bytes | None:
        """Build a missing entry; if another request is already building it, wait for that one."""
        lock = self.store.key("lock", key)
        acquired = self.store.call(lambda client: client.set(lock, b"1", nx=True, px=LOCK_MS), default="unavailable")
        if acquired is None:  # somebody else holds the lock
            deadline = time.monotonic() + WAIT_FOR_BUILDER_SECONDS
            while time.monotonic() < deadline:
                time.sleep(0.01)
                data = self.store.call(lambda client: client.get(key))
                if data is not None:
                    return data
        try:
            value = build()
            if value is not None:
                self.store.call(lambda client: client.set(key, value, ex=ttl))
            return value
        finally:
            if acquired is True:
                self.store.call(lambda client: client.delete(lock))
