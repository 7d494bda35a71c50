"""Redis and PostgreSQL outages: degrade, answer 503 in JSON, and recover by themselves."""

from __future__ import annotations

import pytest
import webtest

from bookstore_dev.servers import EmbeddedPostgres, EmbeddedRedis, free_port
from tests.helpers.clients import Client, unique_email
from tests.helpers.services import app_settings_for, create_database

pytestmark = pytest.mark.needs_db

PASSWORD = "a long enough password"


@pytest.fixture
def own_redis(server_dir):
    server = EmbeddedRedis(server_dir / "redis").start()
    yield server
    server.stop()


def test_redis_down_logins_and_reads_still_work(migrated, own_redis):
    from bookstore_api import main

    settings = app_settings_for(migrated)
    settings["redis.url"] = own_redis.url
    app = webtest.TestApp(main({}, **settings))
    client = Client(app)
    email = unique_email()
    client.post("/users", {"email": email, "password": PASSWORD, "name": "Resilient"})
    token = client.post("/auth/tokens", {"email": email, "password": PASSWORD}).json["token"]
    authed = Client(app, token)
    authed.get("/me")
    client.get("/genres")  # the cache's Lua scripts are loaded into this server
    assert app.get("/readyz").json["checks"]["redis"] == "ok"

    own_redis.kill()  # our own server, not the machine's

    assert app.get("/readyz", status=503).json["checks"] == {"database": "ok", "redis": "down"}
    assert authed.get("/me").json["email"] == email  # token found in PostgreSQL
    client.get("/books", q="anything")
    client.get("/genres")
    second = client.post("/auth/tokens", {"email": email, "password": PASSWORD})
    assert Client(app, second.json["token"]).get("/me").status_int == 200
    authed.delete("/auth/tokens/current")
    authed.get("/me", status=401)  # revocation holds without Redis

    own_redis.start()
    app.get("/readyz", status=200)
    # the cache refills by itself once Redis is back (after a short back-off), its scripts
    # loaded again into the restarted server
    import time

    import redis

    fresh = redis.Redis.from_url(own_redis.url)
    deadline = time.monotonic() + 10
    while not list(fresh.scan_iter(match="*cat:*")) and time.monotonic() < deadline:
        client.get("/genres")
        time.sleep(0.1)
    assert list(fresh.scan_iter(match="*cat:*"))


@pytest.mark.slow
def test_postgres_down_is_503_and_service_resumes(server_dir, services):
    from bookstore_api import main
    from bookstore_api.cli.migrate import upgrade

    pg = EmbeddedPostgres(server_dir / "pg", free_port()).start()
    try:
        database_url = create_database(pg.url, "outage")
        upgrade(database_url)
        settings = app_settings_for(services)
        settings["sqlalchemy.url"] = database_url
        app = webtest.TestApp(main({}, **settings))
        client = Client(app)
        client.get("/books")  # now in the Redis cache

        pg.kill()

        assert client.get("/books").json["total"] == 0  # cached reads keep being served
        for path in ("/books?q=not-cached-yet", "/authors", "/books/1"):
            response = client.app.get("/api/v1" + path, status=503)
            assert response.json["error"]["code"] == "service_unavailable"
            assert response.headers["Retry-After"]
        failed = client.post("/users", {"email": unique_email(), "password": PASSWORD, "name": "X"}, status=503)
        assert failed.json["error"]["code"] == "service_unavailable"
        assert app.get("/readyz", status=503).json["checks"]["database"] == "down"
        assert app.get("/healthz").status_int == 200

        pg.start()
        assert client.get("/books", q="not-cached-yet").json["total"] == 0
        app.get("/readyz", status=200)
    finally:
        pg.stop()
