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
from tests.helpers import live
from tests.helpers.services import (
    Services,
    app_settings_for,
    covers_dir_for,
    create_database,
    delete_prefix,
    drop_database,
)


def pytest_addoption(parser):
    group = parser.getgroup("bookstore", "running the functional suites against a deployed shop")
    group.addoption(
        "--readonly",
        "--smoke",
        action="store_true",
        dest="bookstore_readonly",
        help="read-only mode (as BOOKSTORE_TEST_READONLY=1): only tests marked readonly, no request but GET/HEAD",
    )
    group.addoption(
        "--allow-production",
        action="store_true",
        dest="bookstore_allow_production",
        help=f"with BOOKSTORE_TEST_ALLOW_PRODUCTION={live.ALLOW_PRODUCTION_WORD}: let the writing suites run "
        "against a shop that says it is production",
    )


def pytest_configure(config):
    if config.getoption("bookstore_readonly", False):
        live.configure(readonly=True)


def pytest_sessionstart(session):
    refusal = live.production_refusal(live.TARGET, session.config.getoption("bookstore_allow_production", False))
    if refusal:
        pytest.exit(refusal, returncode=4)


def pytest_report_header(config):
    target = live.TARGET
    if not target.live:
        return None
    mode = "read-only" if target.readonly else "full (creates its data through the API, removes it after)"
    return [
        f"bookstore: API {target.api_url}, storefront {target.web_url}; {mode}; "
        f"staff account {'set' if target.has_staff else 'not set (staff scenarios skip)'}"
    ]


def pytest_collection_modifyitems(config, items):
    """Against a deployed shop: scenarios that need the database are skipped; in read-only mode
    everything not marked ``readonly`` is deselected."""
    if not live.TARGET.live:
        return
    skip = pytest.mark.skip(reason="needs direct database access; not run against a live URL")
    for item in items:
        if "needs_db" in item.keywords:
            item.add_marker(skip)
    if live.TARGET.readonly:
        keep = [item for item in items if "readonly" in item.keywords and "needs_db" not in item.keywords]
        kept = {id(item) for item in keep}
        dropped = [item for item in items if id(item) not in kept]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    if live.TARGET.live:
        pytest.skip("needs the in-process apps and their database; not run against a live URL")
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
