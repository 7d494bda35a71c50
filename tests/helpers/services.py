"""The servers a test run uses, fresh databases on them, and the apps' settings for them."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import redis as redis_lib

from bookstore_dev import servers as devservers
from bookstore_dev.servers import EmbeddedPostgres, EmbeddedRedis, drop_database

__all__ = ["Services", "app_settings_for", "covers_dir_for", "create_database", "delete_prefix", "drop_database"]

#: tests always start from an empty database of the given name
create_database = functools.partial(devservers.create_database, replace=True)


@dataclass
class Services:
    server_url: str  # PostgreSQL server (maintenance database)
    database_url: str  # the test database
    redis_url: str
    redis_prefix: str
    embedded_postgres: EmbeddedPostgres | None = None
    embedded_redis: EmbeddedRedis | None = None


def delete_prefix(redis_url: str, prefix: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    except redis_lib.RedisError:
        pass
    finally:
        client.close()


def covers_dir_for(services: Services) -> Path:
    """Where the apps of this test run keep uploaded covers (local storage), removed with the run."""
    return Path(tempfile.gettempdir()) / f"bookstore-test-covers-{services.redis_prefix.split(':')[1]}"


def app_settings_for(services: Services, **overrides: object) -> dict:
    ini = Path(__file__).resolve().parents[2] / "testing.ini"
    import plaster

    settings = dict(plaster.get_settings(str(ini), "app:main"))
    settings.update(
        {
            "sqlalchemy.url": services.database_url,
            "redis.url": services.redis_url,
            "redis.prefix": services.redis_prefix,
            "bookstore.covers_dir": str(covers_dir_for(services)),
        }
    )
    settings.update({k: str(v) for k, v in overrides.items()})
    return settings
