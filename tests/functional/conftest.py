"""Functional fixtures: the API app in-process (or a live URL), a rolled-back
database transaction per test, and small factories."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import transaction
import webtest
from sqlalchemy.orm import Session

from bookstore_api.infra.db import make_session_factory
from tests.helpers.clients import Client, register_and_login, unique_email

LIVE_URL = os.environ.get("BOOKSTORE_TEST_URL")


def pytest_collection_modifyitems(config, items):
    if not LIVE_URL:
        return
    skip = pytest.mark.skip(reason="needs direct database access; not run against a live URL")
    for item in items:
        if "needs_db" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def api_app(app_settings):
    from bookstore_api import main

    return main({}, **app_settings)


@pytest.fixture
def db_connection(api_app) -> Iterator:
    """One connection in an outer transaction; app sessions use savepoints inside it."""
    engine = api_app.registry["dbengine"]
    connection = engine.connect()
    outer = connection.begin()
    original = api_app.registry["dbsession_factory"]
    api_app.registry["dbsession_factory"] = make_session_factory(connection, join_transaction_mode="create_savepoint")
    try:
        yield connection
    finally:
        api_app.registry["dbsession_factory"] = original
        transaction.abort()
        outer.rollback()
        connection.close()


@pytest.fixture
def dbsession(api_app, db_connection) -> Iterator[Session]:
    """A session for arranging and inspecting data; flushed writes are visible to requests."""
    session = Session(bind=db_connection, join_transaction_mode="create_savepoint")
    yield session
    session.close()


@pytest.fixture
def redis_clean(api_app, services):
    from tests.helpers.services import delete_prefix

    delete_prefix(services.redis_url, services.redis_prefix)
    yield api_app.registry["redis"]
    delete_prefix(services.redis_url, services.redis_prefix)


@pytest.fixture
def testapp(request) -> webtest.TestApp:
    if LIVE_URL:
        return webtest.TestApp(LIVE_URL)
    request.getfixturevalue("db_connection")
    request.getfixturevalue("redis_clean")
    app = request.getfixturevalue("api_app")
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.10"})


@pytest.fixture
def anon(testapp) -> Client:
    return Client(testapp)


@pytest.fixture
def customer(testapp) -> Client:
    client, _ = register_and_login(testapp)
    return client


@pytest.fixture
def verify_email(request):
    """``verify_email(client)`` confirms a client's e-mail address with the link the shop mailed it
    (read from the outbox through the test's database session). A deployed shop's outbox is out of
    reach, so against a live URL a test that needs it is skipped."""
    if LIVE_URL:
        pytest.skip("confirming an e-mail address needs the mailed link: not run against a live URL")
    from tests.helpers.accounts import confirm_email

    dbsession = request.getfixturevalue("dbsession")
    return lambda client: confirm_email(client, dbsession)


@pytest.fixture
def staff(testapp, request) -> Client:
    """A staff client: made in the database in-process, or from env credentials against a live URL."""
    if LIVE_URL:
        email, password = os.environ.get("BOOKSTORE_TEST_STAFF_EMAIL"), os.environ.get("BOOKSTORE_TEST_STAFF_PASSWORD")
        if not email or not password:
            pytest.skip("set BOOKSTORE_TEST_STAFF_EMAIL/PASSWORD to run staff tests against a live URL")
        token = Client(testapp).post("/auth/tokens", {"email": email, "password": password}).json["token"]
        return Client(testapp, token)
    from tests.helpers.factories import make_user

    dbsession = request.getfixturevalue("dbsession")
    api_app = request.getfixturevalue("api_app")
    email = unique_email("staff")
    make_user(dbsession, api_app, email=email, password="staff password 1", role="staff")
    token = Client(testapp).post("/auth/tokens", {"email": email, "password": "staff password 1"}).json["token"]
    return Client(testapp, token)
