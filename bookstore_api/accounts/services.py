"""Accounts: password hashing, bearer tokens, log-in throttling and the sign-up limit.

Tokens carry 256 random bits; only their SHA-256 is stored. PostgreSQL is the
record (expiry, revocation); Redis caches the token -> identity lookup so an
authenticated request needs no database round trip, and losing Redis logs
nobody out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
import threading
import time
from typing import Any

import orjson
import transaction
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pyramid.config import Configurator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bookstore_core.accounts import password_problem
from bookstore_core.redisstore import RedisStore

from ..exceptions import Busy, Conflict, Forbidden, InvalidInput, RateLimited
from ..infra.throttle import Backoff, WindowLimit, digest, longest_wait
from .identity import Identity
from .models import ROLES, AuthToken, User

HASHES_AT_ONCE = 2
#: how long a request waits for a hashing slot before it is told to come back (503)
HASH_QUEUE_WAIT_SECONDS = 0.5
#: cache entries are short-lived so a revocation missed while Redis was away expires soon
TOKEN_CACHE_SECONDS = 300


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class PasswordService:
    """argon2id hashing with a dummy verification for unknown accounts (no timing oracle)."""

    def __init__(
        self,
        time_cost: int = 2,
        memory_cost: int = 19456,
        parallelism: int = 1,
        slots: int = HASHES_AT_ONCE,
        queue_wait_seconds: float = HASH_QUEUE_WAIT_SECONDS,
    ):
        # OWASP's argon2id baseline (19 MiB, 2 passes): each concurrent log-in costs 19 MiB.
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._dummy_hash: str | None = None
        # Hashing is CPU-bound and needs memory_cost per call: a couple at a time per
        # process keeps memory flat under a log-in storm and costs no throughput. The
        # queue in front of them is bounded in time: a request that cannot get a slot
        # soon is told to retry (503 + Retry-After) instead of holding a server thread
        # that cached reads need (a sign-up or log-in flood slows nothing else).
        self._slots = threading.BoundedSemaphore(slots)
        self.queue_wait = queue_wait_seconds

    @contextlib.contextmanager
    def _slot(self):
        if not self._slots.acquire(timeout=self.queue_wait):
            raise Busy("Too many log-ins and sign-ups at once; please retry in a moment.", retry_after=1)
        try:
            yield
        finally:
            self._slots.release()

    @property
    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
        return self._dummy_hash

    def hash(self, password: str) -> str:
        with self._slot():
            return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        reference = password_hash or self._dummy
        try:
            with self._slot():
                return self.hasher.verify(reference, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


def check_password(password: str, email: str) -> None:
    """The password policy (``bookstore_core.accounts``), for every password set: 400 naming the field."""
    problem = password_problem(password, email)
    if problem:
        raise InvalidInput(problem, {"password": problem})


class UserService:
    def __init__(self, dbsession: Session, passwords: PasswordService):
        self.db = dbsession
        self.passwords = passwords

    def get(self, user_id: int) -> User | None:
        return self.db.get(User, user_id)

    def by_email(self, email: str) -> User | None:
        return self.db.scalar(select(User).where(User.email == email.strip().lower()))

    def create(self, email: str, password: str, name: str, role: str = "customer") -> User:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        email = email.strip().lower()
        check_password(password, email)
        if self.by_email(email) is not None:
            raise Conflict("email_taken", "An account with this email already exists.", {"fields": {"email": "taken"}})
        user = User(email=email, name=name.strip(), role=role, password_hash=self.passwords.hash(password))
        try:
            with self.db.begin_nested():
                self.db.add(user)
                self.db.flush()
        except IntegrityError as exc:
            raise Conflict("email_taken", "An account with this email already exists.") from exc
        return user

    def check_credentials(self, email: str, password: str) -> User | None:
        user = self.by_email(email)
        hashed = user.password_hash if user is not None and user.is_active else None
        if not self.passwords.verify(hashed, password):
            return None
        assert user is not None
        if self.passwords.needs_rehash(user.password_hash):
            user.password_hash = self.passwords.hash(password)
        return user

    def set_password(self, user: User, password: str) -> None:
        check_password(password, user.email)
        user.password_hash = self.passwords.hash(password)

    def confirm_password(self, user: User, password: str, throttle: LoginThrottle, address: str) -> None:
        """A signed-in user re-enters their password (to change it, their address, or close the account).

        Wrong guesses count against the same limits as log-ins of that account from that
        address (a stolen token gets no more guesses than the log-in form): 403, then 429.
        """
        throttle.check(user.email, address)
        if not user.is_active or not self.passwords.verify(user.password_hash, password):
            throttle.failure(user.email, address)
            raise Forbidden("The password is not right.", code="wrong_password")
        throttle.success(user.email, address)


class TokenService:
    def __init__(self, dbsession: Session, redis: RedisStore, ttl_seconds: int):
        self.db = dbsession
        self.redis = redis
        self.ttl_seconds = ttl_seconds

    def issue(self, user: User) -> tuple[str, dt.datetime]:
        token = secrets.token_urlsafe(32)  # 256 random bits
        expires_at = utcnow() + dt.timedelta(seconds=self.ttl_seconds)
        self.db.add(AuthToken(user_id=user.id, token_hash=hash_token(token), expires_at=expires_at))
        self.db.flush()
        return token, expires_at

    def _cache_key(self, token_hash: bytes) -> str:
        return self.redis.key("tok", token_hash.hex())

    def authenticate(self, token: str) -> Identity | None:
        if len(token) > 256:
            return None
        token_hash = hash_token(token)
        key = self._cache_key(token_hash)
        cached = self.redis.call(lambda r: r.get(key))
        now = time.time()
        if cached:
            data = orjson.loads(cached)
            if data["exp"] > now:
                return Identity(data["id"], data["email"], data["name"], data["role"], token_hash)
        row = self.db.execute(
            select(User.id, User.email, User.name, User.role, AuthToken.expires_at)
            .join(AuthToken, AuthToken.user_id == User.id)
            .where(
                AuthToken.token_hash == token_hash,
                AuthToken.revoked_at.is_(None),
                AuthToken.expires_at > utcnow(),
                User.is_active.is_(True),
            )
        ).first()
        if row is None:
            return None
        expires = row.expires_at.timestamp()
        payload: dict[str, Any] = {"id": row.id, "email": row.email, "name": row.name, "role": row.role, "exp": expires}
        cache_for = int(min(TOKEN_CACHE_SECONDS, expires - now))
        if cache_for > 0:
            self.redis.call(lambda r: r.set(key, orjson.dumps(payload), ex=cache_for))
        return Identity(row.id, row.email, row.name, row.role, token_hash)

    def revoke(self, token_hash: bytes) -> None:
        self.db.execute(
            update(AuthToken)
            .where(AuthToken.token_hash == token_hash, AuthToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        key = self._cache_key(token_hash)
        self.redis.call(lambda r: r.delete(key))

    def revoke_all(self, user_id: int, *, keep: bytes | None = None) -> int:
        """Revoke every live token of the account (but ``keep``, the caller's own); returns how many."""
        condition = [AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None)]
        if keep is not None:
            condition.append(AuthToken.token_hash != keep)
        revoked = self.db.scalars(
            update(AuthToken).where(*condition).values(revoked_at=utcnow()).returning(AuthToken.token_hash)
        ).all()
        self._drop_cached(list(revoked))
        return len(revoked)

    def forget_cached(self, user_id: int) -> None:
        """The account's e-mail, name or role changed: its tokens' cached identities go (now and at commit)."""
        hashes = self.db.scalars(
            select(AuthToken.token_hash).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
        ).all()
        self._drop_cached(list(hashes))

    def _drop_cached(self, hashes: list[bytes]) -> None:
        """Delete the cached identities now and again once the transaction commits: a request that
        re-cached one from the database in between (before the commit) would otherwise keep it alive."""
        if not hashes:
            return
        keys = [self._cache_key(token_hash) for token_hash in hashes]

        def drop(*args: object) -> None:
            self.redis.call(lambda r: r.delete(*keys))

        drop()
        transaction.get().addAfterCommitHook(drop)


class LoginThrottle:
    """Failed log-ins slow down one (account, address) pair, never the account everywhere.

    * per (account, address): the first few failures are free, then each one makes
      that pair wait twice as long as the last (30 s, 1 min, 2 min, ... up to an
      hour). Someone guessing a password from their own address only delays
      themselves; the owner logging in from anywhere else is not affected.
    * per address: a fixed window of failures across all accounts (credential
      stuffing from one address), which only ever blocks that address.
    A correct password clears its pair. Addresses are the shopper's own behind the
    trusted proxies (the load balancer, the storefront): see ``http.security``.
    """

    def __init__(self, pair: Backoff, address: WindowLimit):
        self.pair = pair
        self.address = address

    @staticmethod
    def _pair(email: str, address: str) -> str:
        return digest(email.strip().lower(), address)

    def check(self, email: str, address: str) -> None:
        """Raise RateLimited when this pair or this address must wait (never when Redis is down)."""
        wait = longest_wait(self.pair.retry_after(self._pair(email, address)), self.address.retry_after(address))
        if wait is not None:
            raise RateLimited("Too many failed log-ins; try again later.", wait)

    def failure(self, email: str, address: str) -> None:
        self.pair.failure(self._pair(email, address))
        self.address.hit(address)

    def success(self, email: str, address: str) -> None:
        self.pair.success(self._pair(email, address))


class SignupLimit:
    """At most so many sign-ups per address in a window, counted before any password is hashed."""

    def __init__(self, limit: WindowLimit):
        self.limit = limit

    def take(self, address: str) -> None:
        wait = self.limit.retry_after(address)
        if wait is not None:
            raise RateLimited("Too many sign-ups from this address; try again later.", wait)
        self.limit.hit(address)


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    passwords = PasswordService(
        time_cost=int(settings.get("argon2.time_cost", 2)),
        memory_cost=int(settings.get("argon2.memory_cost", 19456)),
        parallelism=int(settings.get("argon2.parallelism", 1)),
        slots=int(settings.get("argon2.slots", HASHES_AT_ONCE)),
        queue_wait_seconds=float(settings.get("argon2.queue_wait_seconds", HASH_QUEUE_WAIT_SECONDS)),
    )
    config.register_service(passwords, PasswordService)
    register_limits(config, settings)
    config.register_service_factory(lambda context, request: UserService(request.dbsession, passwords), UserService)
    config.register_service_factory(
        lambda context, request: TokenService(
            request.dbsession, request.redis, int(settings["bookstore.token_ttl_seconds"])
        ),
        TokenService,
    )


def register_limits(config: Configurator, settings: dict) -> None:
    def number(name: str) -> int:
        return int(settings[f"bookstore.{name}"])

    def login_throttle(context, request) -> LoginThrottle:
        pair = Backoff(
            request.redis,
            "login:pair",
            free=number("login_max_failures_per_email"),
            base_seconds=number("login_backoff_base_seconds"),
            ceiling_seconds=number("login_backoff_max_seconds"),
            memory_seconds=24 * 3600,
        )
        address = WindowLimit(
            request.redis,
            "login:addr",
            number("login_max_failures_per_address"),
            number("login_failure_window_seconds"),
        )
        return LoginThrottle(pair, address)

    def signup_limit(context, request) -> SignupLimit:
        return SignupLimit(
            WindowLimit(
                request.redis,
                "signup:addr",
                number("signup_max_per_address"),
                number("signup_window_seconds"),
            )
        )

    config.register_service_factory(login_throttle, LoginThrottle)
    config.register_service_factory(signup_limit, SignupLimit)
