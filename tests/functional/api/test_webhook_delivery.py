"""Webhook delivery against a real receiver (a threaded HTTP server on 127.0.0.1, no mocks).

The worker is driven one round at a time (``deliver_due``, what ``--once`` runs); instead of
waiting for back-off, tests move "next attempt" (and a delivery's age) in the database.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from pathlib import Path

import pytest
import webtest
from sqlalchemy import create_engine, text

from bookstore_api.cli.migrate import upgrade
from bookstore_api.cli.users import ensure_user
from bookstore_api.infra.db import driver_url
from bookstore_api.webhooks.addresses import AddressPolicy, resolve
from bookstore_api.webhooks.delivery import BACKOFF_BASE_SECONDS, Deliverer, Sender
from tests.helpers.clients import Client, register_and_login
from tests.helpers.commerce import checkout_body, new_key
from tests.helpers.factories import make_book
from tests.helpers.receiver import Receiver
from tests.helpers.services import app_settings_for, create_database, drop_database

pytestmark = pytest.mark.needs_db

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_verifier():
    """The verification snippet exactly as README.md documents it, executed."""
    text_ = README.read_text()
    block = re.search(r"<!-- webhook-verify-snippet -->\n```python\n(.*?)```", text_, re.S)
    assert block, "README.md lost its webhook verification snippet"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own documented code
    return namespace["verify_webhook"]


@pytest.fixture
def loopback(api_app):
    """Endpoints on 127.0.0.1 may be created (the receiver of these tests); restored afterwards."""
    registry = api_app.registry
    original = registry["webhook_address_policy"]
    registry["webhook_address_policy"] = AddressPolicy(allow_loopback=True)
    yield
    registry["webhook_address_policy"] = original


@pytest.fixture
def worker(api_app, db_connection):
    """``worker(allow_loopback=True, resolver=...)``: a Deliverer on the test's transaction."""
    made = []

    def make(allow_loopback: bool = True, resolver=resolve, concurrency: int = 4) -> Deliverer:
        sender = Sender(AddressPolicy(allow_loopback=allow_loopback, resolver=resolver), timeout=3, deadline=6)
        deliverer = Deliverer(
            db_connection,
            api_app.registry["webhook_secret_box"],
            sender,
            concurrency=concurrency,
            rng=random.Random(7),
        )
        made.append(deliverer)
        return deliverer

    yield make
    for deliverer in made:
        deliverer.close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.stop()


def make_due(dbsession) -> None:
    """Move every pending delivery's next attempt to now (instead of sleeping through the back-off)."""
    dbsession.execute(
        text("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second' WHERE status = 'pending'")
    )


def log_of(staff, hook) -> list[dict]:
    return staff.get(f"/webhooks/{hook['id']}/deliveries", per_page="100").json["items"][::-1]


def order(customer, book, quantity: int = 1) -> dict:
    return customer.post("/orders", checkout_body([(book.id, quantity)]), headers=new_key()).json


def test_a_delivery_is_signed_as_documented(staff, customer, dbsession, loopback, worker, receiver):
    verify_webhook = readme_verifier()
    receiver.start()
    book = make_book(dbsession, stock=20)
    hook = staff.post("/webhooks", {"url": receiver.url, "events": ["order.paid"]}).json
    placed = order(customer, book)

    assert worker().deliver_due() == (1, 0)
    (got,) = receiver.received
    (delivery,) = log_of(staff, hook)
    assert got.path == "/hooks"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Bookstore-Event"] == "order.paid"
    assert got.headers["Bookstore-Delivery"] == delivery["id"]
    signature = got.headers["Bookstore-Signature"]
    timestamp = int(re.fullmatch(r"t=(\d+),v1=[0-9a-f]{64}", signature).group(1))

    # the documented snippet accepts it, and nothing altered
    assert verify_webhook(hook["secret"], got.body, signature, now=timestamp + 10)
    assert not verify_webhook("whsec_someone-else", got.body, signature, now=timestamp)
    assert not verify_webhook(hook["secret"], got.body.replace(b"paid", b"PAID"), signature, now=timestamp)
    assert not verify_webhook(hook["secret"], got.body, signature, now=timestamp + 301)  # too old: a replay
    assert not verify_webhook(hook["secret"], got.body, "v1=00", now=timestamp)

    body = got.json
    assert body["id"] == delivery["event_id"] and body["type"] == "order.paid"
    assert body["data"] == {key: value for key, value in placed.items() if key != "actions"}
    assert set(body) == {"id", "type", "created_at", "data"}
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1 and delivery["status_code"] == 200
    assert delivery["delivered_at"] and delivery["next_attempt_at"] is None and delivery["error"] is None
    assert delivery["duration_ms"] >= 0
    assert worker().deliver_due() == (0, 0)  # never twice


def test_a_receiver_that_was_down_gets_every_event_in_order(staff, customer, dbsession, loopback, worker, receiver):
    book = make_book(dbsession, stock=50)
    hook = staff.post(
        "/webhooks",
        {"url": receiver.url, "events": ["order.paid", "order.shipped", "order.delivered", "order.cancelled"]},
    ).json
    first, second = order(customer, book), order(customer, book, 2)
    staff.post(f"/orders/{first['id']}/ship", status=200)
    staff.post(f"/orders/{first['id']}/deliver", status=200)
    customer.post(f"/orders/{second['id']}/cancel", status=200)
    deliverer = worker()

    # the receiver is down: only the first event of each order is tried; the later ones wait their turn
    for _ in range(3):
        assert deliverer.deliver_due() == (0, 2)
        make_due(dbsession)
    attempts = {(d["event"], d["attempts"]) for d in log_of(staff, hook)}
    assert attempts == {("order.paid", 3), ("order.shipped", 0), ("order.delivered", 0), ("order.cancelled", 0)}
    assert all("ConnectionRefused" in d["error"] for d in log_of(staff, hook) if d["attempts"])

    receiver.start()
    for _ in range(10):
        make_due(dbsession)
        if deliverer.deliver_due() == (0, 0):
            break
    log = log_of(staff, hook)
    assert {d["status"] for d in log} == {"delivered"}
    by_order: dict[int, list[str]] = {}
    for got in receiver.received:
        by_order.setdefault(got.json["data"]["id"], []).append(got.json["type"])
    assert by_order == {
        first["id"]: ["order.paid", "order.shipped", "order.delivered"],
        second["id"]: ["order.paid", "order.cancelled"],
    }
    assert len({got.headers["Bookstore-Delivery"] for got in receiver.received}) == 5  # each exactly once


def test_a_failing_receiver_is_retried_with_growing_backoff_then_given_up(staff, dbsession, loopback, worker, receiver):
    receiver.status = 500
    receiver.start()
    hook = staff.post("/webhooks", {"url": receiver.url, "events": ["book.low_stock"]}).json
    staff.post(f"/webhooks/{hook['id']}/test", status=202)
    deliverer = worker()

    waits = []
    for attempt in range(1, 7):
        assert deliverer.deliver_due() == (0, 1)
        wait = dbsession.execute(
            text("SELECT extract(epoch FROM next_attempt_at - now()) FROM webhook_deliveries")
        ).scalar_one()
        step = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
        assert step / 2 <= wait <= step  # exponential, with jitter
        waits.append(float(wait))
        make_due(dbsession)
    assert waits == sorted(waits) and waits[-1] > 10 * waits[0]
    (delivery,) = log_of(staff, hook)
    assert delivery["status"] == "pending" and delivery["status_code"] == 500 and "HTTP 500" in delivery["error"]
    assert staff.get(f"/webhooks/{hook['id']}").json["failing"] is False

    # a day later it is given up on, and the endpoint is marked failing
    dbsession.execute(text("UPDATE webhook_deliveries SET created_at = now() - interval '24 hours 1 minute'"))
    make_due(dbsession)
    assert deliverer.deliver_due() == (0, 1)
    (delivery,) = log_of(staff, hook)
    assert delivery["status"] == "failed" and delivery["attempts"] == 7 and delivery["failed_at"]
    assert delivery["next_attempt_at"] is None
    assert staff.get(f"/webhooks/{hook['id']}").json["failing"] is True
    assert dbsession.execute(text("SELECT count(*) FROM webhook_attempts")).scalar_one() == 7
    assert len(receiver.received) == 7
    assert len({got.headers["Bookstore-Delivery"] for got in receiver.received}) == 1  # stable across retries
    assert len({got.body for got in receiver.received}) == 1  # the same bytes every time
    make_due(dbsession)
    assert deliverer.deliver_due() == (0, 0)  # given up: never tried again

    # a successful delivery clears the failing state
    receiver.status = 204
    staff.post(f"/webhooks/{hook['id']}/test", status=202)
    assert deliverer.deliver_due() == (1, 0)
    assert staff.get(f"/webhooks/{hook['id']}").json["failing"] is False


def test_an_edit_clears_the_failing_state(staff, dbsession):
    hook = staff.post("/webhooks", {"url": "https://93.184.215.14/x", "events": ["order.paid"]}).json
    dbsession.execute(text("UPDATE webhook_endpoints SET failing_since = now() WHERE id = :id"), {"id": hook["id"]})
    listed = staff.get("/webhooks", per_page="100").json["items"]
    assert [h["failing"] for h in listed if h["id"] == hook["id"]] == [True]
    assert staff.patch(f"/webhooks/{hook['id']}", {"description": "fixed"}).json["failing"] is False


def test_endpoints_take_turns_so_a_busy_one_cannot_hold_up_the_rest(staff, dbsession, loopback, api_app, receiver):
    receiver.start()
    busy = staff.post("/webhooks", {"url": receiver.url + "/busy", "events": ["order.paid"]}).json
    quiet = staff.post("/webhooks", {"url": receiver.url + "/quiet", "events": ["order.paid"]}).json
    for _ in range(6):
        staff.post(f"/webhooks/{busy['id']}/test", status=202)
    staff.post(f"/webhooks/{quiet['id']}/test", status=202)
    deliverer = Deliverer(
        dbsession.connection(),
        api_app.registry["webhook_secret_box"],
        Sender(AddressPolicy(allow_loopback=True)),
        batch=3,
        concurrency=1,
        per_endpoint=2,
    )
    assert deliverer.deliver_due() == (3, 0)
    assert sorted(got.path for got in receiver.received) == ["/hooks/busy", "/hooks/busy", "/hooks/quiet"]
    while deliverer.deliver_due() != (0, 0):
        pass
    assert len(receiver.received) == 7


def test_redirects_are_not_followed(staff, loopback, worker, receiver):
    receiver.status = 302
    receiver.start()
    hook = staff.post("/webhooks", {"url": receiver.url, "events": ["order.paid"]}).json
    staff.post(f"/webhooks/{hook['id']}/test", status=202)
    assert worker().deliver_due() == (0, 1)
    (delivery,) = log_of(staff, hook)
    assert delivery["status_code"] == 302 and "redirect not followed" in delivery["error"]
    assert len(receiver.received) == 1


# -- where deliveries may go, checked again at delivery time ----------------------------------------


def test_a_name_resolving_to_loopback_is_refused_at_delivery_in_production(
    staff, dbsession, loopback, worker, receiver
):
    """Created while loopback was allowed; the production worker refuses it before connecting."""
    receiver.start()
    hook = staff.post("/webhooks", {"url": f"http://localhost:{receiver.port}/hooks", "events": ["order.paid"]}).json
    staff.post(f"/webhooks/{hook['id']}/test", status=202)
    assert worker(allow_loopback=False).deliver_due() == (0, 1)
    (delivery,) = log_of(staff, hook)
    assert delivery["error"].startswith("refused:") and "loopback" in delivery["error"]
    assert delivery["status_code"] is None
    assert receiver.received == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://10.0.0.1:9/hooks", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
    ],
)
def test_private_addresses_are_refused_at_delivery_without_connecting(staff, dbsession, worker, url, problem):
    """A URL that slipped into the table (an older version, a manual edit) is still never contacted.

    The check runs before any socket exists; with loopback allowed too, these stay refused."""
    hook = staff.post("/webhooks", {"url": "https://93.184.215.14/x", "events": ["order.paid"]}).json
    dbsession.execute(text("UPDATE webhook_endpoints SET url = :url WHERE id = :id"), {"url": url, "id": hook["id"]})
    staff.post(f"/webhooks/{hook['id']}/test", status=202)
    assert worker(allow_loopback=True).deliver_due() == (0, 1)
    (delivery,) = log_of(staff, hook)
    assert delivery["error"].startswith("refused:") and problem in delivery["error"], delivery["error"]


def test_the_worker_connects_to_the_address_it_checked(staff, dbsession, worker, receiver):
    """DNS rebinding: the name is resolved once, every answer checked, and that answer is where it connects."""
    receiver.start()
    hook = staff.post("/webhooks", {"url": "https://93.184.215.14/x", "events": ["order.paid"]}).json
    url = f"http://hooks.example.test:{receiver.port}/hooks"
    dbsession.execute(text("UPDATE webhook_endpoints SET url = :url WHERE id = :id"), {"url": url, "id": hook["id"]})
    answers = {"hooks.example.test": ["127.0.0.1"]}
    lookups = []

    def resolver(host, port):
        lookups.append(host)
        import ipaddress

        return [ipaddress.ip_address(a) for a in answers[host]]

    staff.post(f"/webhooks/{hook['id']}/test", status=202)
    assert worker(resolver=resolver).deliver_due() == (1, 0)
    assert lookups == ["hooks.example.test"]  # resolved once
    assert receiver.received[0].headers["Host"] == f"hooks.example.test:{receiver.port}"

    # one bad address among the answers refuses the delivery: nothing is sent anywhere
    answers["hooks.example.test"] = ["127.0.0.1", "10.1.2.3"]
    staff.post(f"/webhooks/{hook['id']}/test", status=202)
    assert worker(resolver=resolver).deliver_due() == (0, 1)
    assert len(receiver.received) == 1
    assert "10.1.2.3" in log_of(staff, hook)[-1]["error"]


# -- several workers, and the command line, on a database of their own (real commits) -------------


@pytest.fixture
def committed(services, monkeypatch):
    """A fresh database and an API app on it (loopback receivers allowed): every request commits."""
    from bookstore_api import main

    name = f"bookstore_hooks_{uuid.uuid4().hex[:8]}"
    database_url = create_database(services.server_url, name)
    upgrade(database_url)
    settings = app_settings_for(services, **{"webhooks.allow_loopback": "true"})
    settings["sqlalchemy.url"] = database_url
    app = webtest.TestApp(main({}, **settings))
    engine = create_engine(driver_url(database_url))
    monkeypatch.setenv("BOOKSTORE_DATABASE_URL", database_url)
    monkeypatch.setenv("BOOKSTORE_ENV", "testing")
    monkeypatch.setenv("BOOKSTORE_WEBHOOKS_ALLOW_LOOPBACK", "true")
    staff_email = f"staff-{uuid.uuid4().hex[:6]}@example.com"
    ensure_user(settings, staff_email, "staff password 1", "Staff", "staff")
    staff = Client(app)
    staff.token = staff.post("/auth/tokens", {"email": staff_email, "password": "staff password 1"}).json["token"]
    yield app, staff, engine, settings
    engine.dispose()
    app.app.registry["dbengine"].dispose()
    drop_database(services.server_url, name)


def test_several_workers_share_the_queue_and_keep_each_order_in_sequence(committed, receiver):
    app, staff, engine, settings = committed
    receiver.start()
    staff.post("/webhooks", {"url": receiver.url, "events": ["order.paid", "order.shipped", "order.delivered"]})
    book = staff.post("/books", {"isbn": "9780306406157", "title": "Shared", "price": "5.00", "authors": ["A"]}).json
    staff.post(f"/books/{book['id']}/stock-movements", {"delta": 100, "reason": "restock"})
    customer, _ = register_and_login(app)
    orders = [customer.post("/orders", checkout_body([(book["id"], 1)]), headers=new_key()).json for _ in range(12)]
    for placed in orders:
        staff.post(f"/orders/{placed['id']}/ship", status=200)
        staff.post(f"/orders/{placed['id']}/deliver", status=200)

    box = app.app.registry["webhook_secret_box"]
    workers = [
        Deliverer(engine, box, Sender(AddressPolicy(allow_loopback=True)), batch=5, concurrency=2) for _ in range(3)
    ]
    errors = []

    def run(deliverer):
        try:
            for _ in range(40):
                deliverer.deliver_due()
                with engine.connect() as connection:
                    if not connection.execute(
                        text("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
                    ).scalar_one():
                        return
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for deliverer in workers:
        deliverer.close()
    assert not errors
    ids = [got.headers["Bookstore-Delivery"] for got in receiver.received]
    assert len(ids) == 36 and len(set(ids)) == 36  # every delivery once, none twice
    by_order: dict[int, list[str]] = {}
    for got in receiver.received:
        by_order.setdefault(got.json["data"]["id"], []).append(got.json["type"])
    assert all(kinds == ["order.paid", "order.shipped", "order.delivered"] for kinds in by_order.values())
    assert len(by_order) == 12


def test_the_command_sends_what_is_due_once(committed, receiver, capsys):
    from bookstore_api.cli import main as bookstore

    app, staff, engine, settings = committed
    receiver.start()
    hook = staff.post("/webhooks", {"url": receiver.url, "events": ["order.paid"]}).json
    staff.post(f"/webhooks/{hook['id']}/test", status=202)
    assert bookstore(["deliver-webhooks", "--once"]) == 0
    assert "delivered 1, failed 0" in capsys.readouterr().out
    assert [got.json["type"] for got in receiver.received] == ["webhook.test"]
    receiver.stop()
    staff.post(f"/webhooks/{hook['id']}/test", status=202)
    assert bookstore(["deliver-webhooks", "--once"]) == 1  # the receiver is down: retried later
    assert "delivered 0, failed 1" in capsys.readouterr().out


def test_finished_deliveries_are_purged_after_30_days(staff, dbsession, worker):
    hook = staff.post("/webhooks", {"url": "https://93.184.215.14/x", "events": ["order.paid"]}).json
    for _ in range(3):
        staff.post(f"/webhooks/{hook['id']}/test", status=202)
    old_delivered, old_failed, pending = [row["id"] for row in log_of(staff, hook)]
    dbsession.execute(
        text(
            "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now() - interval '31 days' "
            "WHERE public_id = :id"
        ),
        {"id": old_delivered},
    )
    dbsession.execute(
        text(
            "UPDATE webhook_deliveries SET status = 'failed', failed_at = now() - interval '29 days' WHERE public_id = :id"
        ),
        {"id": old_failed},
    )
    dbsession.execute(text("UPDATE webhook_events SET created_at = now() - interval '40 days'"))
    assert worker().purge() == 1
    assert [row["id"] for row in log_of(staff, hook)] == [old_failed, pending]
    assert dbsession.execute(text("SELECT count(*) FROM webhook_events")).scalar_one() == 2
