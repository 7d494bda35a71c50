"""``bookstore mail list`` and ``bookstore mail show N``: read the outbox as a person reads mail.

Useful with ``make run`` (where no mail server is configured and mails only reach
the log): every message the shop wrote is in the outbox, with its recipient,
subject, status and text. Messages that held a one-time link and went to a real
mail server have had their text removed (see ``mail/services.py``).
"""

from __future__ import annotations

from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..infra.db import make_engine
from ..mail.models import OutboxMessage


def status(message: OutboxMessage) -> str:
    if message.sent_at is not None:
        return "sent"
    if message.attempts:
        return f"retrying ({message.attempts} failed)"
    return "pending"


def list_mails(settings: dict[str, Any], out: TextIO, limit: int = 20, recipient: str | None = None) -> int:
    engine = make_engine(settings, application_name="bookstore cli")
    try:
        with Session(engine) as session:
            statement = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
            if recipient:
                statement = statement.where(OutboxMessage.recipient == recipient.strip().lower())
            messages = list(session.scalars(statement))
        if not messages:
            print("no mail", file=out)
            return 0
        print(f"{'#':>6}  {'when':16}  {'status':10}  {'to':32}  subject", file=out)
        for message in reversed(messages):
            when = message.created_at.strftime("%Y-%m-%d %H:%M")
            print(
                f"{message.id:>6}  {when:16}  {status(message):10}  {message.recipient[:32]:32}  {message.subject}",
                file=out,
            )
        return 0
    finally:
        engine.dispose()


def show_mail(settings: dict[str, Any], number: int, out: TextIO, html: bool = False) -> int:
    engine = make_engine(settings, application_name="bookstore cli")
    try:
        with Session(engine) as session:
            message = session.get(OutboxMessage, number)
            if message is None:
                print(f"no mail #{number}", file=out)
                return 1
            print(f"Mail #{message.id} ({message.kind})", file=out)
            print(f"To:      {message.recipient}", file=out)
            print(f"Subject: {message.subject}", file=out)
            print(f"Written: {message.created_at.isoformat(timespec='seconds')}", file=out)
            print(f"Status:  {status(message)}", file=out)
            if message.last_error and message.sent_at is None:
                print(f"Error:   {message.last_error}", file=out)
            print("", file=out)
            print(message.html_body if html and message.html_body else message.body, file=out, end="")
            return 0
    finally:
        engine.dispose()
