"""Helpers for the account pages' tests: links from the outbox, forms by action, a shopper's API client."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from bookstore_api.mail.models import OutboxMessage

from .conftest import PASSWORD, csrf_token, log_in


def outbox_links(dbsession, recipient: str, path: str) -> list[str]:
    """Every ``/<path>/<token>`` link mailed to ``recipient`` (the newest first), as local paths."""
    dbsession.flush()
    rows = dbsession.execute(
        select(OutboxMessage.body, OutboxMessage.payload)
        .where(OutboxMessage.recipient == recipient.lower())
        .order_by(OutboxMessage.id.desc())
    ).all()
    links: list[str] = []
    for body, payload in rows:
        for match in re.finditer(rf"/{path}/([A-Za-z0-9_-]+)", f"{body}\n{json.dumps(payload or {})}"):
            link = f"/{path}/{match.group(1)}"
            if link not in links:
                links.append(link)
    return links


def last_link(dbsession, recipient: str, path: str) -> str:
    links = outbox_links(dbsession, recipient, path)
    assert links, f"no /{path}/ link was mailed to {recipient}"
    return links[0]


def form_with_action(page, action: str):
    """The page's form that posts to ``action`` (the first, when several do)."""
    for form in page.forms.values():
        if form.action == action:
            return form
    raise AssertionError(f"no form posts to {action}; forms: {[f.action for f in page.forms.values()]}")


def post_without_csrf(web, path: str, data: dict | None = None):
    """A forged POST: no CSRF token (and a wrong one) must both be refused with the friendly 400."""
    refused = web.post(path, data or {}, status=400)
    assert "This form has expired" in refused.text
    forged = web.post(path, {**(data or {}), "csrf_token": "forged"}, status=400)
    assert "This form has expired" in forged.text


def signed_in_again(web, email: str, password: str = PASSWORD) -> bool:
    """Whether logging in with these credentials works (a 303 away from the log-in page)."""
    response = log_in(web, email, password)
    return response.status_int == 303


def token_of(page) -> str:
    return csrf_token(page)


def confirm_address(web, dbsession, email: str) -> None:
    """Confirm the shopper's e-mail address with the link mailed at sign-up (reviews need it)."""
    page = web.get(last_link(dbsession, email, "verify-email"))
    page.forms["verify-email-form"].submit(status=303)
