"""Catalogue import (CSV, dry run and real, idempotent, through the ledger) and export (round trip)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from bookstore_api.http import tweens
from bookstore_api.inventory.models import StockMovement
from bookstore_dev.seed import make_isbn
from tests.helpers.factories import make_genre

HEADER = "isbn,title,authors,genres,price,stock,description,publisher,published,language,pages\n"

ISBN_A, ISBN_B, ISBN_C = make_isbn(900_000_001), make_isbn(900_000_002), make_isbn(900_000_003)


def post_csv(client, body: str | bytes, *, dry_run: bool, status: int = 200, content_type: str = "text/csv"):
    data = body.encode() if isinstance(body, str) else body
    return client.app.post(
        f"/api/v1/imports/books?dry_run={'true' if dry_run else 'false'}",
        data,
        headers={**client._headers(None), "Content-Type": content_type},
        status=status,
    )


@pytest.fixture
def genres(dbsession):
    return [make_genre(dbsession, "fiction"), make_genre(dbsession, "history"), make_genre(dbsession, "science")]


def good_file() -> str:
    return HEADER + (
        f'{ISBN_A},The First Book,Ann Author;Bob Writer,fiction;history,12.50,7,"A long\nstory, told",Pub House,2020-05-01,en,320\n'
        f"{ISBN_B},=SUM(A1),Cy Poet,,9.99,0,,,,,\n"
        f"{ISBN_C},Third,ann author,science,30,,,,,pt-BR,\n"
    )


def test_dry_run_lists_every_bad_row_with_its_reason(staff, genres):
    body = HEADER + (
        f"{ISBN_A},Good,Ann Author,fiction,12.50,1,,,,,\n"  # row 2: fine
        "9780000000001,Bad checksum,Ann,fiction,1.00,1,,,,,\n"  # row 3
        f"{ISBN_A},Again,Ann,fiction,1.00,1,,,,,\n"  # row 4: duplicate ISBN
        f"{ISBN_B},Unknown genre,Ann,no-such-genre,1.00,1,,,,,\n"  # row 5
        f"{ISBN_C},Bad price,Ann,,12.345,1,,,,,\n"  # row 6
        f"{make_isbn(900_000_004)},,Ann,,1.00,1,,,,,\n"  # row 7: no title
        f"{make_isbn(900_000_005)},No authors,,,1.00,1,,,,,\n"  # row 8
        f"{make_isbn(900_000_006)},Bad stock,Ann,,1.00,-3,,,,,\n"  # row 9
        f"{make_isbn(900_000_007)},Bad date,Ann,,1.00,1,,,2020-02-30,,\n"  # row 10
        f"{make_isbn(900_000_008)},Bad language,Ann,,1.00,1,,,,English,\n"  # row 11
        f"{make_isbn(900_000_009)},Bad pages,Ann,,1.00,1,,,,,0\n"  # row 12
        "only,three,cells\n"  # row 13
        f"{make_isbn(900_000_010)},,Ann,,free,1,,,,,\n"  # row 14: two problems
    )
    report = post_csv(staff, body, dry_run=True).json
    found = [(e["row"], e["field"], e["code"]) for e in report["errors"]]
    assert found == [
        (3, "isbn", "invalid_isbn"),
        (4, "isbn", "duplicate_isbn"),
        (5, "genres", "unknown_genre"),
        (6, "price", "invalid_price"),
        (7, "title", "required"),
        (8, "authors", "required"),
        (9, "stock", "invalid_stock"),
        (10, "published", "invalid_date"),
        (11, "language", "invalid_language"),
        (12, "pages", "invalid_pages"),
        (13, "row", "bad_row"),
        (14, "title", "required"),
        (14, "price", "invalid_price"),
    ]
    assert "row 2" in report["errors"][1]["message"]
    assert (report["rows"], report["created"], report["updated"], report["unchanged"]) == (13, 1, 0, 0)
    assert report["dry_run"] is True and report["error_count"] == 13
    # a dry run writes nothing
    staff.get(f"/books/isbn/{ISBN_A}", status=404)

    # a real run of the same file refuses with the same report, and writes nothing
    refused = post_csv(staff, body, dry_run=False, status=400).json["error"]
    assert refused["code"] == "import_invalid"
    assert [(e["row"], e["field"], e["code"]) for e in refused["details"]["errors"]] == found
    staff.get(f"/books/isbn/{ISBN_A}", status=404)


def test_import_then_again_changes_nothing(staff, anon, genres, dbsession):
    first = post_csv(staff, good_file(), dry_run=False).json
    assert (first["rows"], first["created"], first["updated"], first["unchanged"], first["errors"]) == (3, 3, 0, 0, [])
    assert first["stock_movements"] == 1
    book = staff.get(f"/books/isbn/{ISBN_A}").json
    assert book["title"] == "The First Book"
    assert [a["name"] for a in book["authors"]] == ["Ann Author", "Bob Writer"]
    assert sorted(g["slug"] for g in book["genres"]) == ["fiction", "history"]
    assert (book["price"], book["stock_quantity"], book["description"]) == ("12.50", 7, "A long\nstory, told")
    assert (book["publisher"], book["published_on"], book["language"], book["pages"]) == (
        "Pub House",
        "2020-05-01",
        "en",
        320,
    )
    third = staff.get(f"/books/isbn/{ISBN_C}").json
    assert [a["name"] for a in third["authors"]] == ["Ann Author"]  # the same author, matched case-insensitively
    assert third["authors"][0]["id"] == book["authors"][0]["id"]
    assert staff.get(f"/books/isbn/{ISBN_B}").json["title"] == "=SUM(A1)"
    # searchable at once (authors_text and genre_ids were written with the book)
    hits = staff.get("/books", params={"q": "Bob Writer"}).json["items"]
    assert [hit["isbn"] for hit in hits] == [ISBN_A]
    assert ISBN_C in [hit["isbn"] for hit in staff.get("/books", params={"genre": "science"}).json["items"]]

    ledger = dbsession.scalars(select(StockMovement).where(StockMovement.book_id == book["id"])).all()
    assert [(m.delta, m.reason, m.note, m.resulting_quantity) for m in ledger] == [
        (7, "adjustment", "catalogue import", 7)
    ]

    again = post_csv(staff, good_file(), dry_run=False).json
    assert (again["created"], again["updated"], again["unchanged"], again["stock_movements"]) == (0, 0, 3, 0)
    assert len(dbsession.scalars(select(StockMovement).where(StockMovement.book_id == book["id"])).all()) == 1

    assert anon.get(f"/books/{book['id']}").json["price"] == "12.50"  # now in the cache
    changed = good_file().replace("12.50,7,", "13.00,4,")
    dry = post_csv(staff, changed, dry_run=True).json
    assert (dry["created"], dry["updated"], dry["unchanged"], dry["stock_movements"]) == (0, 1, 2, 1)
    assert staff.get(f"/books/isbn/{ISBN_A}").json["price"] == "12.50"
    done = post_csv(staff, changed, dry_run=False).json
    assert (done["updated"], done["unchanged"]) == (1, 2)
    book = staff.get(f"/books/isbn/{ISBN_A}").json
    assert (book["price"], book["stock_quantity"]) == ("13.00", 4)
    cached = anon.get(f"/books/{book['id']}").json  # the import bumped the book's cache version
    assert (cached["price"], cached["stock_quantity"]) == ("13.00", 4)
    ledger = dbsession.scalars(
        select(StockMovement).where(StockMovement.book_id == book["id"]).order_by(StockMovement.id)
    ).all()
    assert [(m.delta, m.resulting_quantity) for m in ledger] == [(7, 7), (-3, 4)]


def test_export_then_import_is_unchanged(staff, genres, anon):
    post_csv(staff, good_file(), dry_run=False)
    response = staff.app.get("/api/v1/exports/books", headers=staff._headers(None))
    assert response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_isbn = {row["isbn"]: row for row in rows}
    assert by_isbn[ISBN_A] == {
        "isbn": ISBN_A,
        "title": "The First Book",
        "authors": "Ann Author;Bob Writer",
        "genres": "fiction;history",
        "price": "12.50",
        "stock": "7",
        "description": "A long\nstory, told",
        "publisher": "Pub House",
        "published": "2020-05-01",
        "language": "en",
        "pages": "320",
    }
    assert by_isbn[ISBN_B]["title"] == "'=SUM(A1)"  # guarded in the file; the import takes the guard off
    report = post_csv(staff, response.body, dry_run=False).json
    assert report["errors"] == []
    assert report["unchanged"] == report["rows"] == len(rows)
    assert report["created"] == report["updated"] == 0


def test_refusals(staff, customer, anon, genres, monkeypatch):
    assert post_csv(anon, good_file(), dry_run=True, status=401).json["error"]["code"] == "not_authenticated"
    assert post_csv(customer, good_file(), dry_run=True, status=403).json["error"]["code"] == "forbidden"
    customer.app.get("/api/v1/exports/books", headers=customer._headers(None), status=403)
    wrong_type = post_csv(staff, good_file(), dry_run=True, status=415, content_type="application/json")
    assert wrong_type.json["error"]["code"] == "unsupported_media_type"
    for body, says in (
        ("", "header"),
        ("isbn,title\n1,2\n", "missing"),
        (HEADER.replace("pages", "pages,colour"), "unknown"),
        (b"\xff\xfe" + HEADER.encode(), "UTF-8"),
        (HEADER + f'{ISBN_A},"unclosed\n', "CSV"),
    ):
        error = post_csv(staff, body, dry_run=True, status=400).json["error"]
        assert says.lower() in (error["message"] + error["details"]["fields"]["body"]).lower(), error
    small = tweens.RawBody("POST", re.compile(r"/api/v1/imports/books"), ("text/csv",), 100, "Over 100 bytes.")
    monkeypatch.setattr(tweens, "RAW_BODIES", (small,))
    assert post_csv(staff, good_file(), dry_run=True, status=413).json["error"]["code"] == "body_too_large"
