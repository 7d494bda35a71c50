"""Test harness: real PostgreSQL and Redis for every functional test.

``BOOKSTORE_TEST_DATABASE_URL`` / ``BOOKSTORE_TEST_REDIS_URL`` name servers to
use (a fresh database is created on that server and dropped afterwards; Redis
keys live under a unique prefix that is deleted afterwards). Without them the
harness starts its own embedded servers. The schema is made once with Alembic;
each test runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bookstore_dev.servers import EmbeddedPostgres, EmbeddedRedis, scratch_dir
from tests.helpers.services import (
    Services,
    app_settings_for,
    covers_dir_for,
    create_database,
    delete_prefix,
    drop_database,
)


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
        shutil.rmtree(covers_dir_for(Services(server_url, database_url, redis_url, prefix)), ignore_errors=True)
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


@pytest.fixture(scope="session")
def app_settings(migrated: Services) -> dict:
    return app_settings_for(migrated)
