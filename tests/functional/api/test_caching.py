"""The read-through catalog cache and HTTP caching: fresh where it matters, fast where it can be."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event

from bookstore_api.catalog.cache import CatalogCache
from tests.helpers.clients import Client, register_and_login, unique_word
from tests.helpers.commerce import checkout_body, new_key
from tests.helpers.factories import make_book, make_genre, next_isbn
from tests.helpers.transactions import transactions_begun


class QueryCounter:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args, **kwargs):
        self.count += 1


@pytest.mark.needs_db  # counts queries and transactions, or drives the cache object itself
def test_a_cached_book_is_served_without_the_database(anon, dbsession, api_app):
    book = make_book(dbsession, title="Cached Once")
    first = anon.get(f"/books/{book.id}").json
    with QueryCounter(dbsession.get_bind().engine) as counter:
        again = anon.get(f"/books/{book.id}").json
    assert again == first
    assert counter.count == 0


@pytest.mark.needs_db  # counts queries and transactions, or drives the cache object itself
def test_a_cache_hit_is_answered_before_the_transaction_manager(testapp, staff, dbsession, api_app):
    book = make_book(dbsession, title="Hot Book")
    built = testapp.get(f"/api/v1/books/{book.id}")  # a miss: built and stored
    with transactions_begun(api_app) as began:
        hit = testapp.get(f"/api/v1/books/{book.id}", headers={"X-Request-ID": "hot-1"})
    assert began == []  # no transaction was begun for the hit
    assert hit.body == built.body
    for header in ("ETag", "Cache-Control", "Vary", "Content-Type"):
        assert hit.headers[header] == built.headers[header]
    assert hit.headers["X-Request-ID"] == "hot-1"
    testapp.get(f"/api/v1/books/{book.id}", headers={"If-None-Match": hit.headers["ETag"]}, status=304)
    # a token takes the full path: staff see their fields, shoppers' entries are not handed to them
    as_staff = testapp.get(f"/api/v1/books/{book.id}", headers={"Authorization": f"Bearer {staff.token}"})
    assert as_staff.json.keys() > built.json.keys()


def test_stock_changes_show_at_once_on_the_book(anon, staff, customer, dbsession):
    word = unique_word("stocked")
    book = make_book(dbsession, title=f"Stocked {word}", stock=3)
    assert anon.get(f"/books/{book.id}").json["stock_quantity"] == 3
    staff.post(f"/books/{book.id}/stock-movements", {"delta": 4, "reason": "restock"})
    assert anon.get(f"/books/{book.id}").json["stock_quantity"] == 7
    customer.post("/orders", checkout_body([(book.id, 7)]), headers=new_key())
    detail = anon.get(f"/books/{book.id}").json
    assert (detail["stock_quantity"], detail["in_stock"]) == (0, False)
    listed = anon.get("/books", q=word).json["items"]
    assert listed[0]["stock_quantity"] == 0  # listings render items from the fresh per-book entry


def test_catalog_edits_reach_cached_listings_and_searches(anon, staff, dbsession):
    author, zeppelin = f"Ann {unique_word('Air')}", unique_word("zeppelin")  # nothing else on a shop has them

    def poetry_listing():
        return anon.get("/books", genre="poetry", author=author).json

    def poetry_count() -> int:
        return {g["slug"]: g["book_count"] for g in anon.get("/genres").json["items"]}["poetry"]

    make_genre(dbsession, "poetry")
    before = poetry_count()
    make_book(dbsession, title="Old Title Alpha", authors=(author,), genres=("poetry",))
    assert [b["title"] for b in poetry_listing()["items"]] == ["Old Title Alpha"]
    assert anon.get("/books", q=zeppelin).json["total"] == 0
    created = staff.post(
        "/books",
        {
            "isbn": next_isbn(),
            "title": f"{zeppelin.title()} Summer",
            "price": "9.00",
            "authors": [author],
            "genres": ["poetry"],
        },
    ).json
    assert [b["title"] for b in anon.get("/books", q=zeppelin).json["items"]] == [f"{zeppelin.title()} Summer"]
    assert poetry_listing()["total"] == 2
    assert poetry_count() == before + 2
    staff.patch(f"/books/{created['id']}", {"title": "Airship Winter"})
    assert anon.get("/books", q=zeppelin).json["total"] == 0
    assert anon.get(f"/books/{created['id']}").json["title"] == "Airship Winter"
    staff.delete(f"/books/{created['id']}")
    anon.get(f"/books/{created['id']}", status=404)
    assert poetry_listing()["total"] == 1


def test_reviews_update_the_cached_rating(testapp, dbsession, verify_email):
    book = make_book(dbsession, title="Rated", stock=5)
    anon = Client(testapp)
    assert anon.get(f"/books/{book.id}").json["rating_count"] == 0
    buyer, _ = register_and_login(testapp)
    verify_email(buyer)
    buyer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key())
    buyer.post(f"/books/{book.id}/reviews", {"rating": 4, "body": "Good."})
    detail = anon.get(f"/books/{book.id}").json
    assert (detail["rating_count"], detail["average_rating"]) == (1, "4.00")


def test_etags_and_304(testapp, staff, dbsession):
    book = make_book(dbsession, title="Tagged")
    first = testapp.get(f"/api/v1/books/{book.id}")
    etag = first.headers["ETag"]
    assert "public" in first.headers["Cache-Control"]
    not_modified = testapp.get(f"/api/v1/books/{book.id}", headers={"If-None-Match": etag}, status=304)
    assert not_modified.body == b""
    staff.patch(f"/books/{book.id}", {"price": "11.00"})
    changed = testapp.get(f"/api/v1/books/{book.id}", headers={"If-None-Match": etag}, status=200)
    assert changed.headers["ETag"] != etag and changed.json["price"] == "11.00"
    listing = testapp.get("/api/v1/books")
    testapp.get("/api/v1/books", headers={"If-None-Match": listing.headers["ETag"]}, status=304)
    authed = testapp.get("/api/v1/genres", headers={"Authorization": f"Bearer {staff.token}"})
    assert authed.headers["Cache-Control"].startswith("private")


@pytest.mark.needs_db  # counts queries and transactions, or drives the cache object itself
def test_one_rebuild_per_key_under_a_stampede(api_app, redis_clean):
    cache: CatalogCache = api_app.registry["catalog_cache"]
    builds = []
    barrier = threading.Barrier(12)
    results = []

    def build() -> bytes:
        builds.append(1)
        time.sleep(0.2)  # an expensive query
        return b'{"built": true}'

    def reader():
        barrier.wait()
        results.append(cache.catalog_entry("stampede", {"q": "same"}, build))

    threads = [threading.Thread(target=reader) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [b'{"built": true}'] * 12
    assert len(builds) == 1
