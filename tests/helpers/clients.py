"""A readable API client over WebTest, and fresh accounts for tests.

The same client drives the in-process API and a deployed one (``BOOKSTORE_TEST_URL``); there
it notes the books, orders and accounts a scenario creates, which are removed after it
(:mod:`tests.helpers.live`)."""

from __future__ import annotations

import itertools
import os
import random
import string

import webtest

from tests.helpers import live

_counter = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{os.getpid()}-{next(_counter)}-{os.urandom(3).hex()}@example.com"


def unique_word(prefix: str = "qa") -> str:
    """A word no other run has used (letters only, so search treats it as one word): for names
    that must not meet an earlier run's data on a deployed shop."""
    return prefix + "".join(random.SystemRandom().choices(string.ascii_lowercase, k=8))


class Client:
    """A thin, readable API client over WebTest for tests."""

    def __init__(self, app: webtest.TestApp, token: str | None = None):
        self.app = app
        self.token = token

    def _headers(self, headers: dict | None) -> dict:
        merged = dict(headers or {})
        if self.token:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    def get(self, path: str, status: int | str = 200, headers: dict | None = None, params: dict | None = None, **kw):
        query = {**(params or {}), **kw} or None
        return self.app.get("/api/v1" + path, params=query, headers=self._headers(headers), status=status)

    def post(self, path: str, body: object = None, status: int | str = 201, headers: dict | None = None):
        response = self.app.post_json("/api/v1" + path, body, headers=self._headers(headers), status=status)
        if live.CURRENT is not None and response.status_int == 201:
            self._note_created(path, body, response)
        return response

    def _note_created(self, path: str, body: object, response) -> None:
        """On a deployed shop: remember what this request made, for the clean-up after the scenario."""
        if path == "/books":
            live.record("book", response.json["id"])
        elif path == "/orders":
            live.record("order", self, response.json["id"])
        elif path == "/users" and isinstance(body, dict):
            live.record("account", body.get("email", ""), body.get("password", ""))

    def patch(self, path: str, body: object, status: int | str = 200, headers: dict | None = None):
        return self.app.patch_json("/api/v1" + path, body, headers=self._headers(headers), status=status)

    def put(self, path: str, body: object, status: int | str = 200, headers: dict | None = None):
        return self.app.put_json("/api/v1" + path, body, headers=self._headers(headers), status=status)

    def delete(self, path: str, status: int | str = 204, headers: dict | None = None):
        return self.app.delete("/api/v1" + path, headers=self._headers(headers), status=status)


def register_and_login(app: webtest.TestApp, password: str = "correct horse battery", name: str = "Test Shopper"):
    email = unique_email()
    Client(app).post("/users", {"email": email, "password": password, "name": name})
    token = Client(app).post("/auth/tokens", {"email": email, "password": password}).json["token"]
    return Client(app, token), email
