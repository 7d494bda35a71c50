"""The mailer: sends what the outbox holds, after the writing transaction committed.

Messages are claimed with ``FOR UPDATE SKIP LOCKED`` so several mailers never
send one message twice. With ``BOOKSTORE_SMTP_URL`` (``smtp://user:pass@host:port``,
``smtps://`` for TLS, ``?starttls=1`` to upgrade) messages go out by SMTP;
without it they are written to the log. A failure is retried later with
exponential back-off; an order never depends on mail.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import time
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlparse

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .models import OutboxMessage

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 3600


#: what a sent message that held a one-time link keeps of its body (the link is a password reset or
#: verification token: the database keeps only its hash, so the outbox must not keep it either)
REDACTED_BODY = "(This message held a one-time link; its text was removed once it was sent.)\n"


class SMTPTransport:
    #: messages handed to a mail server leave no one-time links behind in the outbox
    redacts_secrets = True

    def __init__(self, url: str, sender: str):
        parsed = urlparse(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.ssl = parsed.scheme == "smtps"
        self.port = parsed.port or (465 if self.ssl else 25)
        self.username = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.starttls = parse_qs(parsed.query).get("starttls", ["0"])[0] in ("1", "true")
        self.sender = sender

    def send(self, message: OutboxMessage) -> None:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email.set_content(message.body)
        if message.html_body:
            email.add_alternative(message.html_body, subtype="html")
        factory = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        with factory(self.host, self.port, timeout=10) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(email)


class LogTransport:
    """Development without a mail server: the message is logged (recipient, subject, kind) and kept
    whole in the outbox, so ``bookstore mail show`` can display it, links included."""

    redacts_secrets = False

    def send(self, message: OutboxMessage) -> None:
        log.info("mail", extra={"to": message.recipient, "subject": message.subject, "kind": message.kind})


class Mailer:
    def __init__(self, engine: Engine, transport: SMTPTransport | LogTransport):
        self.engine = engine
        self.transport = transport

    def send_pending(self, batch: int = 50) -> tuple[int, int]:
        """Send up to ``batch`` due messages; return (sent, failed)."""
        sent = failed = 0
        with Session(self.engine) as session, session.begin():
            now = dt.datetime.now(dt.UTC)
            messages = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            for message in messages:
                try:
                    self.transport.send(message)
                except Exception as exc:  # noqa: BLE001 - any failure is retried later
                    message.attempts += 1
                    message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                    delay = min(MAX_BACKOFF_SECONDS, 30 * 2 ** (message.attempts - 1))
                    message.next_attempt_at = now + dt.timedelta(seconds=delay)
                    failed += 1
                    log.warning(
                        "mail failed; will retry", extra={"outbox_id": message.id, "attempts": message.attempts}
                    )
                else:
                    message.sent_at = dt.datetime.now(dt.UTC)
                    if message.payload.get("one_time_link") and self.transport.redacts_secrets:
                        message.body, message.html_body = REDACTED_BODY, None
                    sent += 1
        return sent, failed

    def run_forever(self, interval: float = 5.0, should_stop=lambda: False) -> None:
        while not should_stop():
            sent, failed = self.send_pending()
            if not sent and not failed:
                time.sleep(interval)


def make_transport(smtp_url: str | None, sender: str) -> SMTPTransport | LogTransport:
    return SMTPTransport(smtp_url, sender) if smtp_url else LogTransport()
