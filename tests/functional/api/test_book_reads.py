"""Anonymous book reads answered in the book tween, and listings read in one Redis round trip.

The tween builds a missing book itself (one SQL statement) and serves hits from the
cache; the view's path answers everything else. Both must answer byte for byte alike,
and a change must show on the very next read.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from bookstore_api.catalog.cache import CatalogCache
from bookstore_api.catalog.models import Book
from bookstore_api.catalog.schemas import book_out
from bookstore_api.http.renderers import dumps
from tests.helpers.clients import unique_word
from tests.helpers.factories import make_book, make_genre
from tests.helpers.transactions import transactions_begun

HEADERS = ("Content-Type", "ETag", "Cache-Control", "Vary")


class Statements:
    """SQL statements the app sends while the block runs."""

    def __init__(self, engine):
        self.engine = engine
        self.sent: list[str] = []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, *args):
        self.sent.append(statement)


def _forget(cache: CatalogCache, book_id: int) -> None:
    """Make the book's cache entry stale, as any committed change to the book does."""
    cache.bump_now([cache._book_version_key(book_id)])


@pytest.mark.needs_db  # drives the cache object and counts the app's SQL statements
def test_the_tween_and_the_view_answer_a_book_alike(testapp, dbsession, api_app):
    make_genre(dbsession, "poetry")
    make_genre(dbsession, "history")
    book = make_book(
        dbsession, title="Both Ways", authors=("Zed Second", "Amy First"), genres=("poetry", "history"), stock=2
    )
    cache: CatalogCache = api_app.registry["catalog_cache"]
    path = f"/api/v1/books/{book.id}"

    # another request holds the right to build the entry: this one takes the view's path
    # (which waits for the builder, then builds the entry itself)
    _, claim = cache.book_json_or_claim(book.id)
    assert claim is not None
    by_view = testapp.get(path)
    cache.store_claimed(claim, None)  # the other request gives up; the view has stored its entry

    _forget(cache, book.id)
    with transactions_begun(api_app) as began, Statements(dbsession.get_bind().engine) as statements:
        by_tween = testapp.get(path)  # a miss the tween builds: one statement, no transaction
    assert began == []
    # (the tests' engine wraps every checkout in a savepoint: only the queries count)
    assert len([sql for sql in statements.sent if sql.lstrip().upper().startswith("SELECT")]) == 1
    hit = testapp.get(path)

    orm_book = dbsession.scalars(select(Book).where(Book.id == book.id)).one()
    assert by_view.body == by_tween.body == hit.body == dumps(book_out(orm_book))
    assert [a["name"] for a in by_tween.json["authors"]] == ["Zed Second", "Amy First"]  # the given order
    assert [g["slug"] for g in by_tween.json["genres"]] == ["history", "poetry"]  # by name
    for header in HEADERS:
        assert by_view.headers[header] == by_tween.headers[header] == hit.headers[header]
    testapp.get(path, headers={"If-None-Match": by_tween.headers["ETag"]}, status=304)
    # nothing is left claimed: the next miss is built at once
    assert not list(api_app.registry["redis"].client.scan_iter(match=cache.store.key("lock", "*")))


@pytest.mark.needs_db  # drives the cache object
def test_unknown_and_deleted_books_are_404_and_leave_no_claim(testapp, staff, dbsession, api_app):
    book = make_book(dbsession, title="Short Lived")
    testapp.get(f"/api/v1/books/{book.id}")
    staff.delete(f"/books/{book.id}")
    for book_id in (book.id, 999_999_999_999_999_999):
        gone = testapp.get(f"/api/v1/books/{book_id}", status=404)
        assert gone.content_type == "application/json"
        assert gone.json["error"]["code"] == "not_found"
    cache: CatalogCache = api_app.registry["catalog_cache"]
    assert not list(api_app.registry["redis"].client.scan_iter(match=cache.store.key("lock", "*")))


def test_a_change_shows_on_the_next_read_of_the_book_and_of_cached_listings(anon, staff, dbsession):
    word = unique_word("ledger")
    book = make_book(dbsession, title=f"The {word.title()} Ledger", price="10.00", stock=4)
    first = anon.get(f"/books/{book.id}").json
    listed = anon.get("/books", q=word).json
    assert anon.get("/books", q=word).json == listed  # now served from the cache
    assert listed["items"] == [first] and listed["total"] == 1

    staff.patch(f"/books/{book.id}", {"price": "12.50"})
    assert anon.get(f"/books/{book.id}").json["price"] == "12.50"
    assert anon.get("/books", q=word).json["items"][0]["price"] == "12.50"

    staff.post(f"/books/{book.id}/stock-movements", {"delta": 3, "reason": "restock"})
    again = anon.get("/books", q=word).json["items"][0]
    assert (again["price"], again["stock_quantity"]) == ("12.50", 7)
    assert anon.get(f"/books/{book.id}").json == again


@pytest.mark.needs_db  # drives the cache's own Redis connections
def test_a_connection_redis_dropped_is_replaced_without_degrading(testapp, dbsession, api_app):
    book = make_book(dbsession, title="Reconnected")
    path = f"/api/v1/books/{book.id}"
    first = testapp.get(path)
    store = api_app.registry["redis"]
    connection = api_app.registry["catalog_cache"]._get_book_or_claim._connection()
    host, port = connection._sock.getsockname()[:2]
    assert store.client.client_kill(f"{host}:{port}")  # as a restarted or failed-over server would
    again = testapp.get(path)
    assert again.body == first.body and again.headers["ETag"] == first.headers["ETag"]
    assert store.available  # not taken for an outage: no back-off began
    assert api_app.registry["catalog_cache"]._get_book_or_claim._connection() is not connection


@pytest.mark.needs_db  # watches the transaction manager
def test_a_cached_listing_is_answered_before_the_transaction_manager_with_the_views_bytes(testapp, dbsession, api_app):
    word = unique_word("atlas")
    for n in range(3):
        make_book(dbsession, title=f"{word.title()} Volume {n}", price=f"{10 + n}.00")
    path = f"/api/v1/books?q={word}&sort=price&per_page=2&page=2"
    by_view = testapp.get(path)  # the view builds the listing and notes the query string
    with transactions_begun(api_app) as began:
        by_tween = testapp.get(path)
    assert began == []  # answered in the tween
    assert by_tween.body == by_view.body
    assert (by_tween.json["total"], by_tween.json["page"], by_tween.json["per_page"]) == (3, 2, 2)
    for header in HEADERS:
        assert by_tween.headers[header] == by_view.headers[header]
    testapp.get(path, headers={"If-None-Match": by_tween.headers["ETag"]}, status=304)


def test_a_query_the_spec_refuses_is_refused_every_time(testapp):
    for _ in range(2):
        refused = testapp.get("/api/v1/books?per_page=1000", status=400)
        assert refused.json["error"]["code"] == "invalid_input"
        testapp.get("/api/v1/books?min_price=20&max_price=10", status=400)
