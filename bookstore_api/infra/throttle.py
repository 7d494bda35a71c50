"""Attempt counters in Redis: fixed windows and growing back-off delays.

Both kinds answer "how many seconds must this caller wait" (``None``: go ahead)
and are keyed by whatever the caller is counted by (an address, an account and
an address, a user). They fail open: when Redis is down nobody is throttled,
the same choice the token cache makes (the shop keeps selling).

* :class:`WindowLimit`: at most ``limit`` events per key in a window that starts
  with the first event (sign-ups per address, declined cards per user).
* :class:`Backoff`: the first ``free`` failures cost nothing; each one after
  blocks the key for ``base * 2**n`` seconds (at most ``ceiling``). A success
  clears it; the count itself is forgotten after ``memory`` seconds without a
  failure.
"""

from __future__ import annotations

import hashlib

from bookstore_core.redisstore import RedisStore


def longest_wait(*waits: int | None) -> int | None:
    """The longest of several limits' waits, or None when none of them holds the caller back."""
    return max((wait for wait in waits if wait), default=None)


def digest(*parts: str) -> str:
    """A fixed-length key part (no raw e-mail addresses in Redis key names)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


class WindowLimit:
    def __init__(self, redis: RedisStore, name: str, limit: int, window_seconds: int):
        self.redis = redis
        self.name = name
        self.limit = limit
        self.window = window_seconds

    def key(self, subject: str) -> str:
        return self.redis.key("rl", self.name, subject)

    def retry_after(self, subject: str) -> int | None:
        """Seconds to wait when ``subject`` has used up its window, else None."""
        key = self.key(subject)

        def read(r):
            pipe = r.pipeline(transaction=False)
            pipe.get(key)
            pipe.ttl(key)
            return pipe.execute()

        values = self.redis.call(read)
        if not values or values[0] is None or int(values[0]) < self.limit:
            return None
        ttl = values[1]
        return int(ttl) if ttl and ttl > 0 else self.window

    def hit(self, subject: str) -> None:
        key = self.key(subject)

        def write(r):
            pipe = r.pipeline(transaction=True)
            pipe.set(key, 0, ex=self.window, nx=True)  # the window starts with the first event
            pipe.incr(key)
            return pipe.execute()

        self.redis.call(write)

    def clear(self, subject: str) -> None:
        key = self.key(subject)
        self.redis.call(lambda r: r.delete(key))


class Backoff:
    def __init__(
        self, redis: RedisStore, name: str, free: int, base_seconds: int, ceiling_seconds: int, memory_seconds: int
    ):
        self.redis = redis
        self.name = name
        self.free = free
        self.base = base_seconds
        self.ceiling = ceiling_seconds
        self.memory = max(memory_seconds, ceiling_seconds)

    def _keys(self, subject: str) -> tuple[str, str]:
        return self.redis.key("rl", self.name, "n", subject), self.redis.key("rl", self.name, "wait", subject)

    def delay(self, failures: int) -> int:
        """The wait after the ``failures``-th failure in a row (0 while still free)."""
        over = failures - self.free
        if over < 0:
            return 0
        return min(self.ceiling, self.base * 2 ** min(over, 32))

    def retry_after(self, subject: str) -> int | None:
        _, wait_key = self._keys(subject)
        ttl = self.redis.call(lambda r: r.ttl(wait_key))
        return int(ttl) if ttl and ttl > 0 else None

    def failure(self, subject: str) -> int:
        """Count a failure; returns the delay it starts (0: none yet)."""
        count_key, wait_key = self._keys(subject)

        def write(r):
            pipe = r.pipeline(transaction=True)
            pipe.incr(count_key)
            pipe.expire(count_key, self.memory)
            return pipe.execute()

        values = self.redis.call(write)
        if not values:
            return 0
        wait = self.delay(int(values[0]))
        if wait > 0:
            self.redis.call(lambda r: r.set(wait_key, 1, ex=wait))
        return wait

    def success(self, subject: str) -> None:
        keys = self._keys(subject)
        self.redis.call(lambda r: r.delete(*keys))
