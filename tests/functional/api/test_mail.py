"""Mails go out through the outbox, by real SMTP (every kind once, as text and HTML), and never block an order."""

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
from tests.helpers.accounts import LINK
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


def _outbox_token(database_url: str, recipient: str, kind: str) -> str:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT body FROM outbox_messages WHERE recipient = %s AND kind = %s ORDER BY id DESC LIMIT 1",
            (recipient, kind),
        )
        (body,) = cursor.fetchone()
    return LINK.search(body).group(2)


def test_every_kind_of_mail_reaches_smtp_once_as_text_and_html(shop):
    from email import message_from_bytes, policy

    from bookstore_api.accounts.services import PasswordService

    app, database_url, engine = shop
    staff_hash = PasswordService(time_cost=1, memory_cost=1024, parallelism=1).hash("staff password 1")
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO books (isbn, title, price, currency, stock_quantity) VALUES "
            "('9780306406157', 'In Stock', 10, 'USD', 5), ('9781861972712', 'Sold Out', 8, 'USD', 0) RETURNING id"
        )
        in_stock, sold_out = (row[0] for row in cursor.fetchall())
        cursor.execute(
            "INSERT INTO users (email, name, password_hash, role, email_verified_at) "
            "VALUES ('staff-mail@example.com', 'Staff', %s, 'staff', now())",
            (staff_hash,),
        )
    staff = Client(app)
    staff.token = staff.post("/auth/tokens", {"email": "staff-mail@example.com", "password": "staff password 1"}).json[
        "token"
    ]
    anon = Client(app)
    email, password = f"every-{uuid.uuid4().hex[:6]}@example.com", "mail password 1"
    client = Client(app)
    client.post("/users", {"email": email, "password": password, "name": "Eve Every"})  # verify_email
    client.token = client.post("/auth/tokens", {"email": email, "password": password}).json["token"]
    anon.post(f"/email-verifications/{_outbox_token(database_url, email, 'verify_email')}", None, status=204)
    client.put(f"/me/wishlist/{sold_out}", None, status=204)
    staff.post(f"/books/{sold_out}/stock-movements", {"delta": 2, "reason": "restock"})  # back_in_stock
    first = client.post("/orders", checkout_body([(in_stock, 1)]), headers=new_key()).json["id"]  # confirmation
    staff.post(f"/orders/{first}/ship", status=200)  # order_shipped
    staff.post(f"/orders/{first}/deliver", status=200)  # order_delivered
    second = client.post("/orders", checkout_body([(in_stock, 1)]), headers=new_key()).json["id"]
    client.post(f"/orders/{second}/cancel", status=200)  # order_cancelled
    anon.post("/password-resets", {"email": email}, status=202)  # password_reset
    token = _outbox_token(database_url, email, "password_reset")
    anon.post(f"/password-resets/{token}", {"password": "another mail password"}, status=204)  # password_changed
    client.token = anon.post("/auth/tokens", {"email": email, "password": "another mail password"}).json["token"]
    client.post("/me/email", {"password": "another mail password", "new_email": "new-" + email}, status=202)

    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT kind, count(*) FROM outbox_messages GROUP BY kind")
        written = dict(cursor.fetchall())
    assert set(written) == {
        "verify_email",
        "back_in_stock",
        "order_confirmation",
        "order_shipped",
        "order_delivered",
        "order_cancelled",
        "password_reset",
        "password_changed",
        "email_change_notice",
    }

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = Mailer(engine, SMTPTransport(f"smtp://127.0.0.1:{port}", "Shop <orders@bookstore.test>"))
        assert mailer.send_pending() == (sum(written.values()), 0)
        assert mailer.send_pending() == (0, 0)  # never twice
    finally:
        controller.stop()

    received: dict[str, int] = {}
    for envelope in inbox.messages:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert message.get_content_type() == "multipart/alternative", message["Subject"]
        parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
        assert set(parts) == {"text/plain", "text/html"}, message["Subject"]
        assert parts["text/html"].lstrip().startswith("<!DOCTYPE html>")
        received[message["Subject"]] = received.get(message["Subject"], 0) + 1
    assert len(inbox.messages) == sum(written.values())
    assert all(count == 1 for subject, count in received.items() if "#" in subject or "Back in stock" in subject)

    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT body FROM outbox_messages WHERE kind IN ('password_reset', 'verify_email')")
        bodies = [row[0] for row in cursor.fetchall()]
    # sent one-time links do not stay behind in the outbox
    assert bodies and all("/reset-password/" not in body and "/verify-email/" not in body for body in bodies)


def test_mail_list_and_show_read_the_outbox(shop, monkeypatch, capsys):
    from bookstore_api.cli import main as cli

    app, database_url, engine = shop
    order_id = place_order(app, database_url)
    monkeypatch.setenv("BOOKSTORE_DATABASE_URL", database_url)
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, recipient FROM outbox_messages")
        ((number, recipient),) = cursor.fetchall()

    assert cli(["mail", "list"]) == 0
    listing = capsys.readouterr().out
    assert str(number) in listing and recipient in listing and "pending" in listing
    assert f"Your order #{order_id}" in listing

    assert cli(["mail", "show", str(number)]) == 0
    shown = capsys.readouterr().out
    assert f"To:      {recipient}" in shown and "Status:  pending" in shown
    assert "Thank you for your order" in shown and f"/orders/{order_id}" in shown and "<html" not in shown
    assert cli(["mail", "show", str(number), "--html"]) == 0
    assert "<!DOCTYPE html>" in capsys.readouterr().out

    Mailer(engine, LogTransport()).send_pending()
    cli(["mail", "list", "--to", recipient])
    assert "sent" in capsys.readouterr().out
    assert cli(["mail", "show", "999999"]) == 1
