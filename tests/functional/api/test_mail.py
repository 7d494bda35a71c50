"""Order confirmations go out through the outbox, by real SMTP, and never block an order."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
import webtest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine

from bookstore_api.cli.migrate import upgrade
from bookstore_api.infra.db import driver_url
from bookstore_api.mail.services import LogTransport, Mailer, SMTPTransport
from bookstore_dev.servers import free_port
from tests.helpers.clients import Client
from tests.helpers.commerce import checkout_body, new_key
from tests.helpers.services import app_settings_for, create_database, drop_database

pytestmark = [pytest.mark.needs_db, pytest.mark.slow]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def shop(services):
    from bookstore_api import main

    name = f"bookstore_mail_{uuid.uuid4().hex[:8]}"
    database_url = create_database(services.server_url, name)
    upgrade(database_url)
    settings = app_settings_for(services)
    settings["sqlalchemy.url"] = database_url
    app = webtest.TestApp(main({}, **settings))
    engine = create_engine(driver_url(database_url))
    yield app, database_url, engine
    engine.dispose()
    app.app.registry["dbengine"].dispose()
    drop_database(services.server_url, name)


def place_order(app, database_url) -> int:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO books (isbn, title, price, currency, stock_quantity) "
            "VALUES ('9780306406157', 'Mail Book', 10, 'USD', 3) RETURNING id"
        )
        book_id = cursor.fetchone()[0]
    client = Client(app)
    email = f"mail-{uuid.uuid4().hex[:6]}@example.com"
    client.post("/users", {"email": email, "password": "mail password 1", "name": "Mo"})
    client.token = client.post("/auth/tokens", {"email": email, "password": "mail password 1"}).json["token"]
    order_id = client.post("/orders", checkout_body([(book_id, 1)]), headers=new_key()).json["id"]
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM outbox_messages WHERE kind <> 'order_confirmation'")  # the sign-up's verification
    return order_id


def outbox(database_url):
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT sent_at IS NOT NULL, attempts, last_error IS NOT NULL, next_attempt_at > now() FROM outbox_messages"
        )
        return cursor.fetchall()


def test_confirmation_is_sent_by_smtp_once(shop):
    app, database_url, engine = shop
    order_id = place_order(app, database_url)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = Mailer(engine, SMTPTransport(f"smtp://127.0.0.1:{port}", "Shop <orders@bookstore.test>"))
        assert mailer.send_pending() == (1, 0)
        assert mailer.send_pending() == (0, 0)  # never twice
    finally:
        controller.stop()
    (message,) = inbox.messages
    text = message.content.decode()
    assert f"Subject: Your order #{order_id}" in text
    assert "visa ending 4242" in text
    assert "4242424242424242" not in text and "4242 4242" not in text
    assert outbox(database_url) == [(True, 0, False, False)]


def test_smtp_failure_is_retried_later_and_the_order_stands(shop):
    app, database_url, engine = shop
    order_id = place_order(app, database_url)
    mailer = Mailer(engine, SMTPTransport(f"smtp://127.0.0.1:{free_port()}", "orders@bookstore.test"))
    assert mailer.send_pending() == (0, 1)
    assert outbox(database_url) == [(False, 1, True, True)]
    assert mailer.send_pending() == (0, 0)  # backing off
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT status FROM orders WHERE id = %s", (order_id,))
        assert cursor.fetchone() == ("paid",)


def test_without_smtp_mail_goes_to_the_log(shop, caplog):
    app, database_url, engine = shop
    place_order(app, database_url)
    caplog.set_level("INFO", logger="bookstore_api.mail.services")
    assert Mailer(engine, LogTransport()).send_pending() == (1, 0)
    assert any(record.getMessage() == "mail" and record.subject.startswith("Your order") for record in caplog.records)
