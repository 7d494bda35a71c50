"""Account helpers: reading the links the shop mails, and confirming a client's e-mail address.

The shop mails one-time links (e-mail verification, password reset); a test reads
them from the outbox through the test's own database session (the in-process app
writes there). Against a live URL there is no outbox to read, so the
``verify_email`` fixture skips the test (``tests/functional/conftest.py``).
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from bookstore_api.mail.models import OutboxMessage
from tests.helpers.clients import Client

LINK = re.compile(r"/(verify-email|reset-password)/([A-Za-z0-9_-]+)")


def mails(dbsession: Session, recipient: str, kind: str | None = None) -> list[OutboxMessage]:
    """The outbox's messages to ``recipient`` (of one kind), oldest first."""
    statement = select(OutboxMessage).where(OutboxMessage.recipient == recipient.lower())
    if kind is not None:
        statement = statement.where(OutboxMessage.kind == kind)
    dbsession.expire_all()
    return list(dbsession.scalars(statement.order_by(OutboxMessage.id)))


def mailed_token(dbsession: Session, recipient: str, kind: str) -> str:
    """The token in the latest ``kind`` mail to ``recipient``."""
    found = mails(dbsession, recipient, kind)
    assert found, f"no {kind} mail to {recipient}"
    match = LINK.search(found[-1].body)
    assert match, found[-1].body
    return match.group(2)


def confirm_email(client: Client, dbsession: Session) -> None:
    """Confirm the signed-in client's address with the link mailed to it."""
    me = client.get("/me").json
    if me["email_verified"]:
        return
    client.post("/email-verifications", None, status=202)  # a fresh link, whatever happened before
    token = mailed_token(dbsession, me["email"], "verify_email")
    Client(client.app).post(f"/email-verifications/{token}", None, status=204)
    assert client.get("/me").json["email_verified"] is True
