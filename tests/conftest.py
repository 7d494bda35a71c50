"""Test harness: real PostgreSQL and Redis for every functional test.

``BOOKSTORE_TEST_DATABASE_URL`` / ``BOOKSTORE_TEST_REDIS_URL`` name servers to
use (a fresh database is created on that server and dropped afterwards; Redis
keys live under a unique prefix that is deleted afterwards). Without them the
harness starts its own embedded servers. The schema is made once with Alembic;
each test runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_lib

from bookstore_dev import servers as devservers
from bookstore_dev.servers import EmbeddedPostgres, EmbeddedRedis, drop_database, scratch_dir

__all__ = ["create_database", "drop_database"]  # helpers the other test modules import from here

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


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    work = scratch_dir("bookstore-test-")
    pg = rd = None
    server_url = os.environ.get("BOOKSTORE_TEST_DATABASE_URL")
    redis_url = os.environ.get("BOOKSTORE_TEST_REDIS_URL")
    try:
        if not server_url:
            pg = EmbeddedPostgres(work / "pgdata", durable=False).start()
            server_url = pg.url
        if not redis_url:
            rd = EmbeddedRedis(work / "redis").start()
            redis_url = rd.url
        name = f"bookstore_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        database_url = create_database(server_url, name)
        prefix = f"bookstore-test:{uuid.uuid4().hex[:8]}:"
        yield Services(server_url, database_url, redis_url, prefix, pg, rd)
        drop_database(server_url, name)
        delete_prefix(redis_url, prefix)
    finally:
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A scratch directory for a server a test starts itself."""
    path = scratch_dir("bookstore-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated(services: Services) -> Services:
    from bookstore_api.cli.migrate import upgrade

    upgrade(services.database_url)
    return services


def app_settings_for(services: Services, **overrides: object) -> dict:
    ini = Path(__file__).parent.parent / "testing.ini"
    import plaster

    settings = dict(plaster.get_settings(str(ini), "app:main"))
    settings.update(
        {
            "sqlalchemy.url": services.database_url,
            "redis.url": services.redis_url,
            "redis.prefix": services.redis_prefix,
        }
    )
    settings.update({k: str(v) for k, v in overrides.items()})
    return settings


@pytest.fixture(scope="session")
def app_settings(migrated: Services) -> dict:
    return app_settings_for(migrated)
