"""Accounts: password hashing, bearer tokens and login rate limiting.

Tokens carry 256 random bits; only their SHA-256 is stored. PostgreSQL is the
record (expiry, revocation); Redis caches the token -> identity lookup so an
authenticated request needs no database round trip, and losing Redis logs
nobody out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pyramid.config import Configurator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bookstore_core.redisstore import RedisStore

from ..exceptions import Conflict
from .identity import Identity
from .models import ROLES, AuthToken, User

HASHES_AT_ONCE = 2
#: cache entries are short-lived so a revocation missed while Redis was away expires soon
TOKEN_CACHE_SECONDS = 300


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class PasswordService:
    """argon2id hashing with a dummy verification for unknown accounts (no timing oracle)."""

    def __init__(self, time_cost: int = 2, memory_cost: int = 19456, parallelism: int = 1):
        # OWASP's argon2id baseline (19 MiB, 2 passes): each concurrent log-in costs 19 MiB.
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._dummy_hash: str | None = None
        # Hashing is CPU-bound and needs memory_cost per call: a couple at a time per
        # process keeps memory flat under a log-in storm and costs no throughput.
        self._slots = threading.BoundedSemaphore(HASHES_AT_ONCE)

    @property
    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
        return self._dummy_hash

    def hash(self, password: str) -> str:
        with self._slots:
            return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        reference = password_hash or self._dummy
        try:
            with self._slots:
                return self.hasher.verify(reference, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


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
        user.password_hash = self.passwords.hash(password)


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


class LoginRateLimiter:
    """Counts failed logins per email and per client address in fixed windows (Redis)."""

    def __init__(self, redis: RedisStore, per_email: int, per_address: int, window_seconds: int):
        self.redis = redis
        self.limits = {"email": per_email, "addr": per_address}
        self.window = window_seconds

    def _keys(self, email: str, address: str) -> dict[str, str]:
        email_digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return {
            "email": self.redis.key("rl", "login", "email", email_digest),
            "addr": self.redis.key("rl", "login", "addr", address),
        }

    def retry_after(self, email: str, address: str) -> int | None:
        """Seconds to wait when either counter is over its limit, else None (also when Redis is down)."""
        keys = self._keys(email, address)

        def read(r):
            pipe = r.pipeline(transaction=False)
            for key in keys.values():
                pipe.get(key)
                pipe.ttl(key)
            return pipe.execute()

        values = self.redis.call(read)
        if not values:
            return None
        waits = []
        for index, kind in enumerate(keys):
            count, ttl = values[2 * index], values[2 * index + 1]
            if count is not None and int(count) >= self.limits[kind]:
                waits.append(ttl if ttl and ttl > 0 else self.window)
        return max(waits) if waits else None

    def record_failure(self, email: str, address: str) -> None:
        keys = self._keys(email, address)

        def write(r):
            pipe = r.pipeline(transaction=True)
            for key in keys.values():
                pipe.set(key, 0, ex=self.window, nx=True)  # start the window on the first failure
                pipe.incr(key)
            return pipe.execute()

        self.redis.call(write)

    def record_success(self, email: str, address: str) -> None:
        key = self._keys(email, address)["email"]
        self.redis.call(lambda r: r.delete(key))


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    passwords = PasswordService(
        time_cost=int(settings.get("argon2.time_cost", 2)),
        memory_cost=int(settings.get("argon2.memory_cost", 19456)),
        parallelism=int(settings.get("argon2.parallelism", 1)),
    )
    config.register_service(passwords, PasswordService)
    config.register_service_factory(lambda context, request: UserService(request.dbsession, passwords), UserService)
    config.register_service_factory(
        lambda context, request: TokenService(
            request.dbsession, request.redis, int(settings["bookstore.token_ttl_seconds"])
        ),
        TokenService,
    )
    limiter_args = (
        int(settings["bookstore.login_max_failures_per_email"]),
        int(settings["bookstore.login_max_failures_per_address"]),
        int(settings["bookstore.login_failure_window_seconds"]),
    )
    config.register_service_factory(
        lambda context, request: LoginRateLimiter(request.redis, *limiter_args), LoginRateLimiter
    )
