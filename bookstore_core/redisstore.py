"""Redis access for caches, sessions, token lookups and rate limits (both apps).

Redis is a cache here: nothing the shop must not lose lives only in Redis. Every
call goes through :class:`RedisStore`, which answers ``None`` (a miss) instead of
raising when Redis is down, and stops trying for a short back-off after a failure
so an outage costs one timeout per second, not one per request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

log = logging.getLogger(__name__)
T = TypeVar("T")


class RedisStore:
    """A prefixed Redis client that degrades to misses while Redis is unreachable."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "bookstore:",
        backoff_seconds: float = 1.0,
        reset_pool_on_failure: bool = False,
    ):
        self.client = client
        self.prefix = prefix
        self.backoff_seconds = backoff_seconds
        #: drop every pooled connection after a failure (connections to a server that went
        #: away are useless to the one that comes back)
        self.reset_pool_on_failure = reset_pool_on_failure
        self._down_until = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, prefix: str = "bookstore:", **kwargs: Any) -> RedisStore:
        client = redis.Redis.from_url(
            url,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            health_check_interval=30,
            max_connections=64,
            retry_on_timeout=False,
        )
        return cls(client, prefix, **kwargs)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(part) for part in parts)

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def call(self, operation: Callable[[redis.Redis], T], default: T | None = None) -> T | None:
        """Run ``operation(client)``; on any Redis error log it, back off and return ``default``."""
        if not self.available:
            return default
        try:
            return operation(self.client)
        except redis.RedisError as exc:
            self.failed(exc)
            return default

    def failed(self, exc: Exception) -> None:
        """Note a failure: log it once per outage and stop trying for the back-off."""
        with self._lock:
            if self.available:
                log.warning("redis unavailable, serving without it: %s", exc)
            self._down_until = time.monotonic() + self.backoff_seconds
        if self.reset_pool_on_failure:
            self.client.connection_pool.disconnect()

    def answers(self) -> bool:
        """Whether Redis answers now, honouring the back-off (a failure starts one)."""
        return bool(self.call(lambda client: client.ping(), default=False))

    def ping(self) -> bool:
        """True when Redis answers now (ignores the back-off; for readiness checks)."""
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False


class LuaScript:
    """A Lua script run with ``EVALSHA`` straight through ``execute_command``.

    redis-py's ``Script`` wrapper costs about a third of a cached read on top of
    the command itself. The script is loaded again when the server does not know
    it (after a restart or ``SCRIPT FLUSH``).
    """

    def __init__(self, client: redis.Redis, source: str):
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, keys: list[str] | tuple = (), args: list | tuple = ()) -> Any:
        try:
            return self.client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self.client.script_load(self.source)
            return self.client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
