"""Webhook endpoints (staff): managing them, who may, which URLs are refused, and events written
in the transaction that caused them. Delivery itself is tests/functional/api/test_webhook_delivery.py."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
import transaction
from sqlalchemy import text
from sqlalchemy.orm import Session

from bookstore_api.accounts.identity import Identity
from bookstore_api.carts.services import CartService
from bookstore_api.inventory.services import InventoryService
from bookstore_api.orders.schemas import parse_checkout
from bookstore_api.orders.services import OrderService, ShippingRule
from tests.helpers.commerce import DECLINED_CARD, checkout_body, new_key
from tests.helpers.factories import make_book

#: a public address for endpoints that nothing in these tests ever sends to (no worker runs here)
PUBLIC_URL = "https://93.184.215.14/bookstore-hooks"
ALL_EVENTS = ["order.paid", "order.shipped", "order.delivered", "order.cancelled", "book.low_stock"]


def create(staff, url=PUBLIC_URL, events=None, **extra):
    return staff.post("/webhooks", {"url": url, "events": events or ALL_EVENTS, **extra}).json


def test_staff_manage_endpoints_and_see_the_secret_once(staff):
    created = staff.post(
        "/webhooks", {"url": PUBLIC_URL, "events": ["order.shipped", "order.paid"], "description": "ERP"}
    )
    body = created.json
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["events"] == ["order.paid", "order.shipped"]  # the documented order
    assert body["failing"] is False and body["description"] == "ERP"
    assert created.headers["Location"].endswith(f"/api/v1/webhooks/{body['id']}")

    listed = staff.get("/webhooks", per_page="100").json
    mine = [item for item in listed["items"] if item["id"] == body["id"]]
    assert mine and "secret" not in mine[0]
    assert "secret" not in staff.get(f"/webhooks/{body['id']}").json

    changed = staff.patch(
        f"/webhooks/{body['id']}", {"events": ["book.low_stock"], "url": "https://93.184.215.14/v2"}
    ).json
    assert changed["events"] == ["book.low_stock"] and changed["url"].endswith("/v2")
    assert staff.patch(f"/webhooks/{body['id']}", {"description": None}).json["description"] is None

    staff.delete(f"/webhooks/{body['id']}")
    staff.get(f"/webhooks/{body['id']}", status=404)
    staff.delete(f"/webhooks/{body['id']}", status=404)
    staff.get(f"/webhooks/{body['id']}/deliveries", status=404)
    staff.post(f"/webhooks/{body['id']}/test", status=404)


@pytest.mark.needs_db
def test_the_secret_is_stored_encrypted(staff, dbsession):
    body = create(staff)
    stored = dbsession.execute(
        text("SELECT secret_ciphertext FROM webhook_endpoints WHERE id = :id"), {"id": body["id"]}
    ).scalar_one()
    assert body["secret"] not in stored and body["secret"][6:] not in stored
    assert stored.startswith("v1.")


def test_only_staff_may_touch_webhooks(customer, anon, staff):
    hook = create(staff)
    calls = [
        ("post", "/webhooks", {"url": PUBLIC_URL, "events": ["order.paid"]}),
        ("get", "/webhooks", None),
        ("get", f"/webhooks/{hook['id']}", None),
        ("patch", f"/webhooks/{hook['id']}", {"description": "mine now"}),
        ("delete", f"/webhooks/{hook['id']}", None),
        ("get", f"/webhooks/{hook['id']}/deliveries", None),
        ("post", f"/webhooks/{hook['id']}/test", None),
    ]
    for client, status in ((customer, 403), (anon, 401)):
        for method, path, body in calls:
            call = getattr(client, method)
            response = (
                call(path, body, status=status) if body is not None or method == "post" else call(path, status=status)
            )
            assert response.json["error"]["code"] in ("forbidden", "unauthorized", "not_authenticated"), path
    assert staff.get(f"/webhooks/{hook['id']}").json["description"] is None  # nothing changed


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://localhost:8080/hooks",  # a name that resolves to 127.0.0.1
        "http://127.0.0.1:9/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.7/",
        "http://192.168.1.20/",
        "http://172.16.5.4/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "https://user:secret@93.184.215.14/",
        "http://93.184.215.14/#fragment",
        "http://does-not-resolve.invalid/",
    ],
)
def test_urls_that_are_not_public_are_refused(staff, url):
    error = staff.post("/webhooks", {"url": url, "events": ["order.paid"]}, status=400).json["error"]
    assert error["code"] == "url_refused" and "url" in error["details"]["fields"], error


def test_a_changed_url_is_checked_too(staff):
    hook = create(staff)
    staff.patch(f"/webhooks/{hook['id']}", {"url": "http://169.254.169.254/"}, status=400)
    assert staff.get(f"/webhooks/{hook['id']}").json["url"] == PUBLIC_URL


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://93.184.215.14/", "events": ["order.paid"]},
        {"url": PUBLIC_URL, "events": []},
        {"url": PUBLIC_URL, "events": ["order.refunded"]},
        {"url": PUBLIC_URL, "events": ["order.paid", "order.paid"]},
        {"url": PUBLIC_URL},
        {"url": PUBLIC_URL, "events": ["order.paid"], "secret": "mine"},
        {"url": "http://93.184.215.14/\u0000", "events": ["order.paid"]},
    ],
)
def test_invalid_bodies_are_400(staff, body):
    assert staff.post("/webhooks", body, status=400).json["error"]["code"] == "invalid_input"


def test_a_test_event_is_queued_for_the_endpoint(staff):
    hook = create(staff, events=["book.low_stock"])
    queued = staff.post(f"/webhooks/{hook['id']}/test", status=202).json
    assert queued["event"] == "webhook.test" and queued["status"] == "pending" and queued["attempts"] == 0
    log = staff.get(f"/webhooks/{hook['id']}/deliveries").json
    assert [item["id"] for item in log["items"]] == [queued["id"]] and log["total"] == 1


# -- events, written in the transaction that caused them -------------------------------------------


def deliveries(staff, hook) -> list[dict]:
    return staff.get(f"/webhooks/{hook['id']}/deliveries", per_page="100").json["items"][::-1]


def event_rows(dbsession) -> list[tuple]:
    return dbsession.execute(text("SELECT type, ordering_key, data FROM webhook_events ORDER BY created_at")).all()


@pytest.mark.needs_db
def test_order_events_follow_the_lifecycle(staff, customer, dbsession):
    book = make_book(dbsession, title="Hooked", stock=20)
    hook = create(staff, events=["order.paid", "order.shipped", "order.delivered", "order.cancelled"])
    other = create(staff, events=["order.cancelled"])
    first = customer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key()).json
    second = customer.post("/orders", checkout_body([(book.id, 2)]), headers=new_key()).json
    staff.post(f"/orders/{first['id']}/ship", status=200)
    delivered = staff.post(f"/orders/{first['id']}/deliver", status=200).json
    customer.post(f"/orders/{second['id']}/cancel", status=200)

    assert [d["event"] for d in deliveries(staff, hook)] == [
        "order.paid",
        "order.paid",
        "order.shipped",
        "order.delivered",
        "order.cancelled",
    ]
    assert [d["event"] for d in deliveries(staff, other)] == ["order.cancelled"]
    rows = event_rows(dbsession)
    # one event per change, shared by the endpoints that want it; keyed by order for in-order delivery
    assert [(kind, key) for kind, key, _ in rows] == [
        ("order.paid", f"order:{first['id']}"),
        ("order.paid", f"order:{second['id']}"),
        ("order.shipped", f"order:{first['id']}"),
        ("order.delivered", f"order:{first['id']}"),
        ("order.cancelled", f"order:{second['id']}"),
    ]
    # the data is the order as the API shows it (without the caller's actions)
    paid = rows[0][2]
    assert paid == {key: value for key, value in first.items() if key != "actions"}
    assert rows[3][2] == {key: value for key, value in delivered.items() if key != "actions"}


@pytest.mark.needs_db
def test_nothing_is_written_when_no_endpoint_listens(customer, dbsession, staff):
    book = make_book(dbsession, stock=10)
    create(staff, events=["order.cancelled"])
    customer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key())
    assert event_rows(dbsession) == []


@pytest.mark.needs_db
def test_a_declined_order_writes_no_event(staff, customer, dbsession):
    book = make_book(dbsession, stock=10)
    create(staff, events=["order.paid", "book.low_stock"])
    customer.post("/orders", checkout_body([(book.id, 9)], card=DECLINED_CARD), headers=new_key(), status=402)
    assert event_rows(dbsession) == []


@pytest.mark.needs_db
def test_a_rolled_back_checkout_takes_its_events_with_it(staff, customer, dbsession, api_app):
    """The events are written inside the order's transaction: seen before its commit, gone with its rollback."""
    book = make_book(dbsession, stock=6)
    create(staff, events=["order.paid", "book.low_stock"])
    me = customer.get("/me").json
    identity = Identity(user_id=me["id"], role="customer", email=me["email"], name=me["name"], token_hash=b"")
    registry = api_app.registry
    transaction.begin()
    try:
        db = registry["dbsession_factory"]()
        service = OrderService(
            db,
            registry["payment_provider"],
            ShippingRule(Decimal("4.99"), None),
            "USD",
            CartService(db, "USD"),
            InventoryService(db, registry["catalog_cache"]),
        )
        order, created = service.place_order(identity, "rollback-key", parse_checkout(checkout_body([(book.id, 2)])))
        assert created
        inside = db.execute(text("SELECT type FROM webhook_events ORDER BY type")).scalars().all()
        assert inside == ["book.low_stock", "order.paid"]  # 6 -> 4 copies: low stock too
    finally:
        transaction.abort()
    assert event_rows(dbsession) == []
    assert dbsession.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar_one() == 0
    assert dbsession.execute(text("SELECT count(*) FROM orders WHERE id = :id"), {"id": order.id}).scalar_one() == 0


@pytest.mark.needs_db
def test_low_stock_is_sent_when_stock_falls_to_the_threshold(staff, customer, dbsession):
    book = make_book(dbsession, stock=8)
    hook = create(staff, events=["book.low_stock"])
    customer.post("/orders", checkout_body([(book.id, 2)]), headers=new_key())  # 8 -> 6: not low yet
    assert deliveries(staff, hook) == []
    customer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key())  # 6 -> 5: low
    staff.post(f"/books/{book.id}/stock-movements", {"delta": -1, "reason": "adjustment"})  # 5 -> 4: already low
    staff.post(f"/books/{book.id}/stock-movements", {"delta": 10, "reason": "restock"})  # 4 -> 14
    staff.post(f"/books/{book.id}/stock-movements", {"delta": -12, "reason": "adjustment"})  # 14 -> 2: low again
    assert [d["event"] for d in deliveries(staff, hook)] == ["book.low_stock", "book.low_stock"]
    data = [row[2] for row in event_rows(dbsession)]
    assert data == [
        {"book_id": book.id, "stock_quantity": 5, "threshold": 5},
        {"book_id": book.id, "stock_quantity": 2, "threshold": 5},
    ]


# -- configuration -------------------------------------------------------------------------------


def test_loopback_is_never_allowed_in_production():
    from bookstore_api.settings import build_settings

    env = {"BOOKSTORE_DATABASE_URL": "postgresql://db/x", "BOOKSTORE_ENV": "production"}
    assert build_settings({}, env)["webhooks.allow_loopback"] == "false"
    with pytest.raises(ValueError, match="development and tests only"):
        build_settings({}, {**env, "BOOKSTORE_WEBHOOKS_ALLOW_LOOPBACK": "true"})


@pytest.mark.needs_db
def test_production_without_a_secret_key_refuses_webhooks(app_settings, monkeypatch, capsys):
    import webtest

    from bookstore_api import main
    from bookstore_api.cli import main as bookstore
    from tests.helpers.clients import Client
    from tests.helpers.factories import make_user

    settings = {**app_settings, "bookstore.env": "production"}
    app = main({}, **settings)
    try:
        client = Client(webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.11"}))
        email = f"prod-staff-{uuid4().hex[:8]}@example.com"
        with Session(app.registry["dbengine"]) as session, session.begin():
            make_user(session, app, email=email, password="staff password 1", role="staff")
        try:
            client.token = client.post("/auth/tokens", {"email": email, "password": "staff password 1"}).json["token"]
            error = client.post("/webhooks", {"url": PUBLIC_URL, "events": ["order.paid"]}, status=503).json["error"]
            assert error["code"] == "not_configured" and "BOOKSTORE_WEBHOOK_SECRET_KEY" in error["message"]
        finally:
            with Session(app.registry["dbengine"]) as session, session.begin():
                session.execute(text("DELETE FROM users WHERE email = :email"), {"email": email})
    finally:
        app.registry["dbengine"].dispose()

    monkeypatch.setenv("BOOKSTORE_DATABASE_URL", app_settings["sqlalchemy.url"])
    monkeypatch.setenv("BOOKSTORE_ENV", "production")
    monkeypatch.delenv("BOOKSTORE_WEBHOOK_SECRET_KEY", raising=False)
    assert bookstore(["deliver-webhooks", "--once"]) == 2
    assert "BOOKSTORE_WEBHOOK_SECRET_KEY" in capsys.readouterr().err
