"""Functional fixtures: the API app in-process (or a deployed shop), a rolled-back database
transaction per test, and small factories.

Against a deployed shop (``BOOKSTORE_TEST_URL``, see :mod:`tests.helpers.live`) the same
fixtures keep their names and meaning: ``testapp`` speaks HTTP to the shop, ``customer``
signs up through ``POST /users``, ``staff`` logs in with ``BOOKSTORE_TEST_STAFF_EMAIL`` /
``_PASSWORD``, and ``dbsession`` is an :class:`~tests.helpers.factories.ApiSession` with
which the factories (``make_book``, ``make_user``, …) make their data through the API.
Whatever a scenario made there is removed when it ends (``live_cleanup``). Fixtures that
only exist in-process (``api_app``'s registry, ``db_connection``, ``redis_clean``) skip a
test that uses them there; mark such tests ``needs_db``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import transaction
import webtest
from sqlalchemy.orm import Session

from bookstore_api.infra.db import make_session_factory
from tests.helpers import live
from tests.helpers.clients import Client, register_and_login, unique_email

#: the API under test when it is a deployed one (None: in-process)
LIVE_URL = live.TARGET.api_url


class InProcessOnly:
    """Stands in for an in-process object (the API app, its registry) against a deployed shop:
    passing it along is fine; using it skips the test, which belongs under ``needs_db``."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        pytest.skip(f"needs the in-process app ({self._name}.{attribute}); mark the test needs_db")

    def __getitem__(self, key):
        pytest.skip(f"needs the in-process app ({self._name}[{key!r}]); mark the test needs_db")


@pytest.fixture(scope="session")
def api_app(request):
    if LIVE_URL:
        return InProcessOnly("api_app")
    from bookstore_api import main

    return main({}, **request.getfixturevalue("app_settings"))


@pytest.fixture
def db_connection(api_app) -> Iterator:
    """One connection in an outer transaction; app sessions use savepoints inside it."""
    if LIVE_URL:
        pytest.skip("needs direct database access; not run against a live URL")
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


@pytest.fixture(scope="session")
def live_api() -> webtest.TestApp:
    """The deployed API over HTTP (one connection per request; read-only mode guards every request)."""
    return webtest.TestApp(live.http_app(LIVE_URL), extra_environ=live.TARGET.browser_environ(LIVE_URL))


@pytest.fixture(scope="session")
def live_staff_token(live_api) -> Iterator[str]:
    """One log-in for the whole run with the staff account QA was given; signed out at the end."""
    target = live.TARGET
    if not target.has_staff:
        pytest.skip("set BOOKSTORE_TEST_STAFF_EMAIL/PASSWORD to run staff scenarios against a live URL")
    body = {"email": target.staff_email, "password": target.staff_password}
    token = Client(live_api).post("/auth/tokens", body).json["token"]
    yield token
    if not target.readonly:
        Client(live_api, token).delete("/auth/tokens/current", status="*")


@pytest.fixture(autouse=True)
def live_cleanup(request) -> Iterator[live.Cleanup | None]:
    """Against a deployed shop: collects what the scenario creates and removes it afterwards."""
    if not LIVE_URL or live.TARGET.readonly:
        yield None
        return
    app = request.getfixturevalue("live_api")
    token = request.getfixturevalue("live_staff_token") if live.TARGET.has_staff else None
    cleanup = live.Cleanup(staff=(lambda: Client(app, token)) if token else None)
    live.CURRENT = cleanup
    try:
        yield cleanup
    finally:
        live.CURRENT = None
        problems = cleanup.run(app)
        if problems:
            warnings.warn("clean-up on the shop: " + "; ".join(problems), stacklevel=1)


@pytest.fixture
def dbsession(request) -> Iterator[Session]:
    """A session for arranging and inspecting data; flushed writes are visible to requests.
    Against a deployed shop: an ApiSession, with which the factories arrange data through the API."""
    if LIVE_URL:
        from tests.helpers.factories import ApiSession

        yield ApiSession(request.getfixturevalue("live_api"), lambda: request.getfixturevalue("staff"))
        return
    request.getfixturevalue("api_app")
    session = Session(bind=request.getfixturevalue("db_connection"), join_transaction_mode="create_savepoint")
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
        return request.getfixturevalue("live_api")
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
        return Client(testapp, request.getfixturevalue("live_staff_token"))
    from tests.helpers.factories import make_user

    dbsession = request.getfixturevalue("dbsession")
    api_app = request.getfixturevalue("api_app")
    email = unique_email("staff")
    make_user(dbsession, api_app, email=email, password="staff password 1", role="staff")
    token = Client(testapp).post("/auth/tokens", {"email": email, "password": "staff password 1"}).json["token"]
    return Client(testapp, token)
