"""Settings from the environment, and the Redis store's degrade-to-miss behaviour."""

import redis

from bookstore_api.infra.db import driver_url
from bookstore_api.settings import build_settings
from bookstore_core.redisstore import RedisStore


def test_environment_overrides_ini_and_defaults():
    settings = build_settings(
        {"sqlalchemy.url": "postgresql://ini/db", "redis.url": "redis://ini"},
        {
            "BOOKSTORE_DATABASE_URL": "postgresql://env/db",
            "BOOKSTORE_TOKEN_TTL_SECONDS": "60",
            "BOOKSTORE_CURRENCY": "eur",
        },
    )
    assert settings["sqlalchemy.url"] == "postgresql://env/db"
    assert settings["redis.url"] == "redis://ini"
    assert settings["bookstore.token_ttl_seconds"] == 60
    assert settings["bookstore.currency"] == "EUR"


def test_a_database_is_required():
    import pytest

    with pytest.raises(ValueError, match="BOOKSTORE_DATABASE_URL"):
        build_settings({}, {})


def test_psycopg2_driver_is_pinned():
    assert driver_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert driver_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert driver_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"


def test_redis_errors_become_misses_and_back_off():
    calls = []

    def failing(client):
        calls.append(1)
        raise redis.ConnectionError("down")

    store = RedisStore(redis.Redis(port=1), backoff_seconds=60)
    assert store.call(failing, default="miss") == "miss"
    assert store.call(failing, default="miss") == "miss"
    assert len(calls) == 1  # the second call did not even try
    assert store.key("tok", "abc") == "bookstore:tok:abc"
