"""Server-side sessions in Redis (``pyramid_session_redis``) and CSRF protection.

The cookie holds only a signed, random session id: HttpOnly, SameSite=Lax, and
Secure in production. Session data is JSON (never pickle) under its own key
prefix. Every unsafe request (POST) must carry the session's CSRF token, in the
``csrf_token`` form field or the ``X-CSRF-Token`` header, or it is refused
with 400 before any view runs.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from pyramid.config import Configurator
from pyramid_session_redis import RedisSessionFactory

COOKIE_NAME = "bookstore_session"
CART_COUNT_KEY = "cart_count"


def _dumps(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _loads(raw: bytes) -> dict:
    return json.loads(raw)


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    client = redis.Redis.from_url(
        settings["redis.url"],
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
        max_connections=64,
    )
    config.registry["session_redis"] = client
    config.registry["session_cookie_name"] = COOKIE_NAME

    def redis_client(request: Any, **options: Any) -> redis.Redis:
        return client

    factory = RedisSessionFactory(
        secret=settings["web.session_secret"],
        timeout=int(settings["web.session_timeout_seconds"]),
        timeout_trigger=int(settings["web.session_timeout_seconds"]) // 4,
        cookie_name=COOKIE_NAME,
        cookie_secure=bool(settings["web.secure_cookies"]),
        cookie_httponly=True,
        cookie_samesite="Lax",
        cookie_on_exception=True,
        redis_client_callable=redis_client,
        serialize=_dumps,
        deserialize=_loads,
        deserialized_fails_new=True,
        # every change is an assignment (session[key] = value), which marks the session for
        # saving; comparing a re-serialised copy after each request is not needed
        detect_changes=False,
        id_generator=lambda: f"{settings['web.session_prefix']}{_random_id()}",
    )

    def session_factory(request: Any) -> Any:
        session = factory(request)
        # The payload carries its own expiry (python_expires, renewed by a write once a quarter of the
        # timeout is left) and every write renews the Redis TTL with it, so the EXPIRE the library
        # would also send after each request that merely read the session is redundant: skipping
        # it leaves a page view that reads its session with one Redis round trip instead of two.
        session.do_refresh = _skip_refresh
        return session

    config.set_session_factory(session_factory)
    config.set_default_csrf_options(require_csrf=True, token="csrf_token", header="X-CSRF-Token")  # noqa: S106


def has_session(request: Any) -> bool:
    """Whether the browser sent a session cookie (touching ``request.session`` otherwise makes one)."""
    return bool(request.cookies.get(request.registry["session_cookie_name"]))


def cart_count(request: Any) -> int:
    """How many books the shopper's cart holds, as last seen (0 without a session)."""
    return int(request.session.get(CART_COUNT_KEY) or 0) if has_session(request) else 0


def _skip_refresh(force_redis_ttl: int | None = None) -> None:
    return None


def _random_id() -> str:
    import secrets

    return secrets.token_urlsafe(32)
