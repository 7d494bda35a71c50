"""Server-side sessions in Redis (``pyramid_session_redis``), made only when needed, and CSRF protection.

The cookie holds only a signed, random session id: HttpOnly, SameSite=Lax, and
Secure in production. Session data is JSON (never pickle) under its own key
prefix.

**No session until the shopper needs one.** Browsing (the catalogue, search,
book and author pages) reads nothing from a session the visitor does not have
and writes none: no Redis key, no ``Set-Cookie``. A session is stored when a
view first writes to it — adding to the cart, logging in, registering — and a
visitor who has one keeps it as before.

**Redis down.** Loading a session that Redis cannot give back does not fail the
page: the shopper gets an :class:`UnavailableSession`. On the catalogue's pages
(:data:`SESSIONLESS_ROUTES`) it reads as empty, so the page is served as to a
signed-out visitor; on every other page, and on any write, it raises
:class:`SessionUnavailable`, which ``views.errors`` answers with a friendly 503
"temporarily unavailable" for that action only. After a failure the store is
not tried again for :data:`BACKOFF_SECONDS` (an outage costs no time per page
view) and the client's pool is dropped, so full service returns by itself
within a second of Redis answering again.

**CSRF.** Every unsafe request (POST) must carry a token, in the ``csrf_token``
form field or the ``X-CSRF-Token`` header, or it is refused with 400 before any
view runs (:class:`LazyCSRFStoragePolicy`):

* a visitor with a session gets, and must send back, the session's own random
  token (the synchronizer-token pattern, as before);
* a visitor without one gets a *form token* that needs no storage: a timestamp
  signed with the session secret (:class:`FormTokens`), valid for a day. It is
  no secret — its signature only says "a form of this shop, rendered recently"
  — so a POST carrying it must also prove it comes from one of our own pages:
  its ``Origin`` (or, without one, its ``Referer``) must be this shop's origin,
  and a POST with neither is refused. Browsers always send ``Origin`` with a
  cross-site POST and a page cannot forge it, which is what makes this sound
  (OWASP's "verifying origin with standard headers"). The form token is never
  accepted for a signed-in shopper: their actions need their session's token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import redis
from pyramid.config import Configurator
from pyramid.csrf import is_same_domain
from pyramid.events import ContextFound
from pyramid.settings import aslist
from pyramid.util import strings_differ
from pyramid_session_redis import RedisSessionFactory
from redis.backoff import NoBackoff
from redis.retry import Retry

from bookstore_core.redisstore import RedisStore

COOKIE_NAME = "bookstore_session"
CART_COUNT_KEY = "cart_count"
#: where pyramid_session_redis keeps a session's CSRF token
SESSION_CSRF_KEY = "_csrft_"
#: the session key that marks a signed-in shopper (bookstore_web.auth)
AUTH_KEY = "auth"
#: pages that serve everybody without a session: with Redis down the shopper looks signed out there
SESSIONLESS_ROUTES = frozenset({"home", "books", "search_suggest", "book", "book_more", "author"})
#: pages that never use a session at all
STORELESS_ROUTES = frozenset({"healthz", "readyz"})
BACKOFF_SECONDS = 0.5
FORM_TOKEN_MAX_AGE = 24 * 3600
FORM_TOKEN_PREFIX = "f1."  # noqa: S105 - a format marker, not a secret


class SessionUnavailable(redis.ConnectionError):
    """The session store cannot be reached: actions that need a session are temporarily unavailable."""


def _dumps(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _loads(raw: bytes) -> dict:
    return json.loads(raw)


class UnavailableSession(dict):
    """Stands in for a session Redis could not load.

    Empty to read on the catalogue's pages (the shopper looks signed out); anywhere else,
    and for every write, it raises :class:`SessionUnavailable`.
    """

    new = True
    unavailable = True

    def __init__(self, readable: bool):
        super().__init__()
        self.readable = readable

    def _read(self) -> None:
        if not self.readable:
            raise SessionUnavailable("the session store is unavailable")

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise SessionUnavailable("the session store is unavailable")

    def get(self, key: Any, default: Any = None) -> Any:
        self._read()
        return default

    def __getitem__(self, key: Any) -> Any:
        self._read()
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        self._read()
        return False

    def peek_flash(self, queue: str = "") -> list:
        self._read()
        return []

    def pop_flash(self, queue: str = "") -> list:
        self._read()
        return []

    __setitem__ = __delitem__ = pop = update = setdefault = clear = popitem = _refuse
    flash = invalidate = new_csrf_token = get_csrf_token = changed = _refuse


class FormTokens:
    """CSRF tokens for visitors without a session: a timestamp signed with the session secret."""

    def __init__(self, secret: str, max_age: int = FORM_TOKEN_MAX_AGE, granularity: int = 3600):
        self.key = hashlib.sha256(f"bookstore-web form token:{secret}".encode()).digest()
        self.max_age = max_age
        self.granularity = granularity
        self._current: tuple[int, str] = (-1, "")

    def _sign(self, issued: int) -> str:
        digest = hmac.new(self.key, str(issued).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode()

    def current(self) -> str:
        """This hour's token (the same for every visitor: it is proof of origin, not a secret)."""
        issued = int(time.time()) // self.granularity * self.granularity
        cached = self._current
        if cached[0] != issued:
            cached = (issued, f"{FORM_TOKEN_PREFIX}{issued}.{self._sign(issued)}")
            self._current = cached
        return cached[1]

    def valid(self, token: str) -> bool:
        if not token.startswith(FORM_TOKEN_PREFIX):
            return False
        issued_text, _, signature = token[len(FORM_TOKEN_PREFIX) :].partition(".")
        if not issued_text.isdigit() or len(issued_text) > 12:
            return False
        issued = int(issued_text)
        if not 0 <= time.time() - issued <= self.max_age + self.granularity:
            return False
        return not strings_differ(signature.encode(), self._sign(issued).encode())


def same_origin(request: Any) -> bool:
    """Whether the request's ``Origin`` (else ``Referer``) is this shop; False when it has neither."""
    origin = request.headers.get("Origin") or request.referrer  # the Referer only without an Origin
    if not origin or origin.strip() == "null":  # "null": a sandboxed or privacy-stripped context
        return False
    parts = urlsplit(origin)
    if parts.scheme != request.scheme or not parts.netloc:
        return False
    if parts.netloc.lower() == request.host.lower():
        return True
    trusted = aslist(request.registry.settings.get("pyramid.csrf_trusted_origins", []))
    return any(is_same_domain(parts.netloc, host) for host in trusted)


def has_session(request: Any) -> bool:
    """Whether the browser sent a session cookie (touching ``request.session`` otherwise makes one)."""
    return bool(request.cookies.get(request.registry["session_cookie_name"]))


def live_session(request: Any) -> Any | None:
    """The shopper's session if they have one with something in it (loaded, or written by this
    request), else None: never creates one, and None while it cannot be read."""
    if "session" not in request.__dict__ and not has_session(request):
        return None  # ``request.session`` is reified: not touched yet, and no cookie to load
    session = request.session
    if getattr(session, "unavailable", False):
        return None
    if session.new and not session.managed_dict:
        return None
    return session


def session_available(request: Any) -> bool:
    """Whether this request can use a session: its own loaded, or Redis answering for a new one."""
    session = request.session
    if getattr(session, "unavailable", False):
        return False
    if not session.new:
        return True
    return request.registry["session_store"].answers()


def cart_count(request: Any) -> int:
    """How many books the shopper's cart holds, as last seen (0 without a session)."""
    session = live_session(request)
    return int(session.get(CART_COUNT_KEY) or 0) if session is not None else 0


class LazyCSRFStoragePolicy:
    """The session's token for a visitor who has a session; a signed form token plus an origin check otherwise."""

    def __init__(self, tokens: FormTokens):
        self.tokens = tokens

    def new_csrf_token(self, request: Any) -> str:
        return request.session.new_csrf_token()

    def get_csrf_token(self, request: Any) -> str:
        session = live_session(request)
        if session is None:
            return self.tokens.current()
        return session.get_csrf_token()

    def check_csrf_token(self, request: Any, supplied_token: str) -> bool:
        # every unsafe request needs the session (its token, the cart, the log-in): refuse it
        # politely, before any side effect, while the store is down
        if not session_available(request):
            raise SessionUnavailable("the session store is unavailable")
        session = request.session
        stored = None if session.new else session.get(SESSION_CSRF_KEY)
        if stored and not strings_differ(stored.encode(), supplied_token.encode()):
            return True
        if not session.new and session.get(AUTH_KEY):
            return False  # a signed-in shopper's actions need their session's own token
        return self.tokens.valid(supplied_token) and same_origin(request)


def _random_id() -> str:
    return secrets.token_urlsafe(32)


def _skip_refresh(force_redis_ttl: int | None = None) -> None:
    return None


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    client = redis.Redis.from_url(
        settings["redis.url"],
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
        max_connections=64,
        # one immediate retry on a fresh connection (a pooled one may predate a Redis restart);
        # no sleeping between attempts while Redis is down
        retry=Retry(NoBackoff(), 1),
    )
    # the client's health: a short back-off after a failure, and the pool dropped then
    store = RedisStore(client, prefix="", backoff_seconds=BACKOFF_SECONDS, reset_pool_on_failure=True)
    config.registry["session_redis"] = client
    config.registry["session_store"] = store
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
        # A visitor without a cookie gets a new session that touches Redis only if a view writes to it.
        if has_session(request):
            if not store.available:
                return _unavailable(request)
            try:
                session = factory(request)  # reads the session from Redis
            except redis.RedisError as exc:
                store.failed(exc)
                return _unavailable(request)
        else:
            session = factory(request)
        # The payload carries its own expiry (python_expires, renewed by a write once a quarter of the
        # timeout is left) and every write renews the Redis TTL with it, so the EXPIRE the library
        # would also send after each request that merely read the session is redundant: skipping
        # it leaves a page view that reads its session with one Redis round trip instead of two.
        session.do_refresh = _skip_refresh
        return session

    config.set_session_factory(session_factory)
    config.add_subscriber(_session_pages_need_the_store, ContextFound)
    config.set_csrf_storage_policy(LazyCSRFStoragePolicy(FormTokens(settings["web.session_secret"])))
    config.set_default_csrf_options(require_csrf=True, token="csrf_token", header="X-CSRF-Token")  # noqa: S106


def _session_pages_need_the_store(event: ContextFound) -> None:
    """A page for shoppers with a session (cart, log-in, account...) says at once when the store is down.

    A visitor with a cookie finds out by loading their session; one without, by a PING.
    """
    request = event.request
    route = getattr(request, "matched_route", None)
    if route is None or route.name in SESSIONLESS_ROUTES or route.name in STORELESS_ROUTES:
        return
    if route.name.startswith("__") or has_session(request):  # static files; a session loads (or not) on use
        return
    if not request.registry["session_store"].answers():
        raise SessionUnavailable("the session store is unavailable")


def _unavailable(request: Any) -> UnavailableSession:
    route = getattr(request, "matched_route", None)
    return UnavailableSession(readable=route is not None and route.name in SESSIONLESS_ROUTES)
