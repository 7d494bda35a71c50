"""The functional suites against a deployed shop: where it is, its guard rails, and the data
a scenario makes there (through the public API only, removed again after the scenario).

Without ``BOOKSTORE_TEST_URL`` / ``BOOKSTORE_TEST_WEB_URL`` none of this is used: the
suites drive the in-process apps inside a rolled-back transaction, as always.

=================================== =====================================================
``BOOKSTORE_TEST_URL``               the API's base URL, or that of a load balancer that
                                     serves both apps (``/api/*`` to the API, the rest to
                                     the storefront: the ALB, ``make stack``'s HAProxy)
``BOOKSTORE_TEST_WEB_URL``           the storefront's base URL (default: the one above)
``BOOKSTORE_TEST_STAFF_EMAIL``,      a staff account of that shop: the scenarios that
``BOOKSTORE_TEST_STAFF_PASSWORD``    arrange books and stock, and the staff pages
``BOOKSTORE_TEST_READONLY=1``        read-only mode (also ``--readonly`` / ``--smoke``):
                                     only tests marked ``readonly`` run, and any request
                                     other than GET or HEAD fails the test before it is sent
``BOOKSTORE_TEST_ENVIRONMENT``       what the shop is, when its ``/healthz`` does not say
``BOOKSTORE_TEST_ALLOW_PRODUCTION``  ``yes-really`` together with ``--allow-production``:
                                     the only way to run the full (writing) suite against
                                     a shop that says it is production
=================================== =====================================================
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import pytest

READ_METHODS = frozenset({"GET", "HEAD"})
ALLOW_PRODUCTION_WORD = "yes-really"


@dataclass(frozen=True)
class Target:
    """The deployed shop a run drives (nothing set: the in-process apps)."""

    api_url: str | None = None
    web_url: str | None = None
    staff_email: str | None = None
    staff_password: str | None = None
    readonly: bool = False
    environment: str | None = None
    allow_production: bool = False

    @property
    def live(self) -> bool:
        return bool(self.api_url)

    @property
    def has_staff(self) -> bool:
        return bool(self.staff_email and self.staff_password)

    def browser_environ(self, url: str | None = None) -> dict[str, str]:
        """What a browser on the shop's own pages sends: its host (cookies follow it), its scheme
        (Secure cookies travel over https only) and, with each POST, its origin."""
        parts = urlsplit(url or self.web_url or "")
        return {
            "HTTP_HOST": parts.netloc,
            "wsgi.url_scheme": parts.scheme,
            "HTTP_ORIGIN": f"{parts.scheme}://{parts.netloc}",
        }


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def target_from_environ(environ: Mapping[str, str] | None = None) -> Target:
    environ = os.environ if environ is None else environ
    api = (environ.get("BOOKSTORE_TEST_URL") or "").strip().rstrip("/") or None
    web = (environ.get("BOOKSTORE_TEST_WEB_URL") or "").strip().rstrip("/") or None
    return Target(
        api_url=api or web,
        web_url=web or api,
        staff_email=environ.get("BOOKSTORE_TEST_STAFF_EMAIL") or None,
        staff_password=environ.get("BOOKSTORE_TEST_STAFF_PASSWORD") or None,
        readonly=_flag(environ.get("BOOKSTORE_TEST_READONLY")),
        environment=(environ.get("BOOKSTORE_TEST_ENVIRONMENT") or "").strip().lower() or None,
        allow_production=environ.get("BOOKSTORE_TEST_ALLOW_PRODUCTION") == ALLOW_PRODUCTION_WORD,
    )


#: the run's target; ``tests/conftest.py`` folds the command-line flags in at start-up
TARGET = target_from_environ()


def configure(**changes: object) -> Target:
    global TARGET
    TARGET = dataclasses.replace(TARGET, **changes)
    return TARGET


# --- guard rails -------------------------------------------------------------------------


class ReadOnlyGuard:
    """WSGI middleware in front of the HTTP proxy: in read-only mode a request that could
    write (anything but GET and HEAD) fails the test instead of reaching the shop."""

    def __init__(self, app: Callable):
        self.app = app

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method not in READ_METHODS and TARGET.readonly:
            pytest.fail(
                f"read-only run: {method} {environ.get('PATH_INFO', '')} was stopped before it reached the shop "
                "(mark only scenarios that just read as `readonly`)",
                pytrace=False,
            )
        return self.app(environ, start_response)


def _raw_uri(environ) -> str:
    """The request target as the test wrote it, percent-encoded again (control characters and
    all non-ASCII included), so that a hostile path reaches the shop instead of failing here."""
    path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/;:@&=+$,!~*'()%")
    query = environ.get("QUERY_STRING", "")
    return path + ("?" + query if query else "")


def http_app(url: str) -> Callable:
    """A WSGI app that forwards every request to ``url`` over HTTP (WSGIProxy2), behind the guard.
    Responses come back as the shop sent them: a ``Location`` stays a path when it is one."""
    from wsgiproxy import HostProxy

    class ShopProxy(HostProxy):
        def __call__(self, environ, start_response):
            environ["REQUEST_URI"] = _raw_uri(environ)
            return super().__call__(environ, start_response)

        def process_request(self, uri, method, headers, environ):
            status, _location, headers_list, body = super().process_request(uri, method, headers, environ)
            return status, None, headers_list, body  # None: no rewriting of Location

    return ReadOnlyGuard(ShopProxy(url.rstrip("/"), client="httplib"))


def declared_environment(url: str, timeout: float = 10.0) -> str | None:
    """What the shop says it is: ``environment`` of its ``/healthz`` (both apps name ``BOOKSTORE_ENV``)."""
    request = urllib.request.Request(url.rstrip("/") + "/healthz", headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read().decode("utf-8") or "{}")
    except (OSError, ValueError):
        return None
    value = body.get("environment") if isinstance(body, dict) else None
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def production_refusal(target: Target, allow_flag: bool) -> str | None:
    """Why a writing run must not start against this target (None: it may)."""
    if not target.live or target.readonly:
        return None
    urls = dict.fromkeys(u for u in (target.api_url, target.web_url) if u)
    said = {url: declared_environment(url) for url in urls}
    names = {target.environment, *said.values()} - {None}
    if "production" not in names:
        return None
    if target.allow_production and allow_flag:
        return None
    where = ", ".join(f"{url} says {name or 'nothing'}" for url, name in said.items())
    return (
        f"refusing to run the writing suites against production ({where}; BOOKSTORE_TEST_ENVIRONMENT="
        f"{target.environment or ''}). Use the read-only mode (BOOKSTORE_TEST_READONLY=1, `make qa READONLY=1`), "
        f"or say it twice: BOOKSTORE_TEST_ALLOW_PRODUCTION={ALLOW_PRODUCTION_WORD} and --allow-production."
    )


# --- what a scenario makes, and its removal ----------------------------------------------


@dataclass
class Cleanup:
    """What one scenario made on the shop, removed (newest first) when it ends: its orders are
    cancelled, its books removed from sale (deleted when never ordered, else archived), its
    accounts signed out, or deleted where the shop offers that (see :func:`delete_account`)."""

    books: list[int] = field(default_factory=list)
    orders: list[tuple[object, int]] = field(default_factory=list)
    accounts: list[tuple[str, str]] = field(default_factory=list)
    staff: Callable[[], object] | None = None

    def run(self, app) -> list[str]:
        from tests.helpers.clients import Client

        problems: list[str] = []
        staff = self.staff() if self.staff else None
        for owner, order_id in reversed(self.orders):
            canceller = staff or owner
            response = canceller.post(f"/orders/{order_id}/cancel", status="*")
            if response.status_int not in (200, 409, 404):
                problems.append(f"order {order_id}: cancel answered {response.status_int}")
        for book_id in reversed(self.books):
            if staff is None:
                problems.append(f"book {book_id}: no staff account to remove it")
                continue
            response = staff.delete(f"/books/{book_id}", status="*")
            if response.status_int not in (204, 404):
                problems.append(f"book {book_id}: delete answered {response.status_int}")
        for email, password in reversed(self.accounts):
            problems.extend(delete_account(Client(app), email, password))
        return problems


_spec_cache: dict[str, dict] = {}


def served_spec(app) -> dict:
    """The shop's own OpenAPI document (fetched once per run)."""
    import yaml

    key = str(id(app))
    if key not in _spec_cache:
        response = app.get("/api/v1/openapi.yaml", status="*")
        _spec_cache[key] = yaml.safe_load(response.body) if response.status_int == 200 else {}
    return _spec_cache[key]


def delete_account(client, email: str, password: str) -> list[str]:
    """The hook that removes an account a scenario signed up, after cancelling whatever order
    of it can still be cancelled (the storefront's checkouts too). While the shop's API has no
    ``DELETE /me`` it signs the account out and leaves it; once the served spec has
    ``DELETE /me`` (``{password}`` → 204) the account is deleted."""
    from tests.helpers.clients import Client

    login = client.post("/auth/tokens", {"email": email, "password": password}, status="*")
    if login.status_int != 201:
        return []  # already gone, or its password changed during the scenario
    me = Client(client.app, login.json["token"])
    problems = []
    for order in me.get("/orders", per_page="100", status="*").json.get("items", []):
        if order.get("status") == "paid":
            cancel = me.post(f"/orders/{order['id']}/cancel", status="*")
            if cancel.status_int not in (200, 409):
                problems.append(f"order {order['id']}: cancel answered {cancel.status_int}")
    if "delete" in (served_spec(client.app).get("paths", {}).get("/me") or {}):
        response = me.app.delete_json(
            "/api/v1/me", {"password": password}, headers={"Authorization": f"Bearer {me.token}"}, status="*"
        )
        if response.status_int not in (204, 404):
            problems.append(f"account {email}: delete answered {response.status_int}")
        return problems
    me.delete("/auth/tokens/current", status="*")
    return problems


#: the scenario running now (live runs only): where clients record what they create
CURRENT: Cleanup | None = None


def made_books() -> set[int] | None:
    """Ids of the books the running scenario made on the shop (None in-process, where the
    catalogue holds nothing else)."""
    return None if CURRENT is None else set(CURRENT.books)


def record(kind: str, *value: object) -> None:
    """Note something a scenario made on the shop (a no-op in-process: the transaction rolls back)."""
    if CURRENT is None:
        return
    if kind == "book":
        CURRENT.books.append(int(value[0]))
    elif kind == "order":
        CURRENT.orders.append((value[0], int(value[1])))
    elif kind == "account":
        CURRENT.accounts.append((str(value[0]), str(value[1])))
