"""Catalog: staff management of books, reads by id and ISBN, authors and genres."""

from __future__ import annotations

import pytest

from tests.helpers import live
from tests.helpers.clients import unique_word
from tests.helpers.commerce import checkout_body, new_key
from tests.helpers.factories import make_book, make_genre, next_isbn


def new_book(**overrides):
    body = {
        "isbn": next_isbn(),
        "title": "The Quiet Lighthouse",
        "price": "14.99",
        "authors": ["Mara Quill", "Ivo Stone"],
        "genres": ["mystery"],
        "description": "A keeper, a storm and a letter.",
        "published_on": "2024-05-31",
        "pages": 320,
        "language": "en",
    }
    body.update(overrides)
    return body


@pytest.fixture
def genres(dbsession):
    return [make_genre(dbsession, "mystery"), make_genre(dbsession, "fantasy")]


def test_staff_create_a_book_with_new_authors_and_stock_zero(staff, anon, genres):
    body = new_book()
    created = staff.post("/books", body).json
    assert created["isbn"] == body["isbn"]
    assert created["price"] == "14.99" and created["currency"] == "USD"
    assert created["stock_quantity"] == 0 and created["in_stock"] is False
    assert [a["name"] for a in created["authors"]] == ["Mara Quill", "Ivo Stone"]
    assert created["genres"] == [{"slug": "mystery", "name": "Mystery"}]
    assert created["published_on"] == "2024-05-31"
    fetched = anon.get(f"/books/{created['id']}").json
    assert fetched["title"] == "The Quiet Lighthouse"
    assert "archived" not in fetched
    assert anon.get(f"/books/isbn/{body['isbn']}").json["id"] == created["id"]


def test_isbn_lookup_accepts_hyphens_and_rejects_bad_checksums(staff, anon, genres):
    isbn = next_isbn()
    staff.post("/books", new_book(isbn=isbn))
    hyphenated = f"{isbn[:3]}-{isbn[3:4]}-{isbn[4:8]}-{isbn[8:12]}-{isbn[12]}"
    assert anon.get(f"/books/isbn/{hyphenated}").json["isbn"] == isbn
    bad = isbn[:12] + str((int(isbn[12]) + 1) % 10)
    assert anon.get(f"/books/isbn/{bad}", status=400).json["error"]["code"] == "invalid_input"
    assert anon.get("/books/isbn/9780000000002", status=404).json["error"]["code"] == "not_found"


def test_existing_authors_are_reused_by_name(staff, genres):
    first = staff.post("/books", new_book(authors=["Mara Quill"])).json
    second = staff.post("/books", new_book(authors=["mara quill"])).json
    assert first["authors"][0]["id"] == second["authors"][0]["id"]


def test_only_staff_manage_books(anon, customer, genres):
    assert anon.post("/books", new_book(), status=401).json["error"]["code"] == "not_authenticated"
    assert customer.post("/books", new_book(), status=403).json["error"]["code"] == "forbidden"
    assert customer.patch("/books/1", {"title": "x"}, status=403).status_int == 403
    assert customer.delete("/books/1", status=403).status_int == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"isbn": "9780306406158"}, "isbn"),  # wrong check digit
        ({"isbn": "123"}, "isbn"),
        ({"isbn": "1234567890128"}, "isbn"),  # valid checksum, not a 978/979 prefix
        ({"price": "-1.00"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"price": 12.5}, "price"),  # a float is never money
        ({"title": ""}, "title"),
        ({"authors": []}, "authors"),
        ({"genres": ["no-such-genre"]}, "genres"),
        ({"published_on": "31/05/2024"}, "published_on"),
        ({"pages": -3}, "pages"),
        ({"currency": "EUR"}, "currency"),
    ],
)
def test_invalid_books_are_400_naming_the_field(staff, anon, genres, overrides, field):
    body = new_book(**overrides)
    response = staff.post("/books", body, status=400)
    assert field in response.json["error"]["details"]["fields"]
    if "isbn" not in overrides:
        staff.get(f"/books/isbn/{body['isbn']}", status=404)  # nothing written


def test_duplicate_isbn_is_409(staff, genres):
    body = new_book()
    staff.post("/books", body)
    response = staff.post("/books", new_book(isbn=body["isbn"]), status=409)
    assert response.json["error"]["code"] == "isbn_exists"


def test_patch_changes_only_what_is_sent(staff, anon, genres):
    book = staff.post("/books", new_book()).json
    changed = staff.patch(
        f"/books/{book['id']}", {"price": "9.50", "authors": ["Solo Writer"], "genres": ["fantasy"]}
    ).json
    assert changed["price"] == "9.50"
    assert changed["title"] == book["title"]
    assert [a["name"] for a in changed["authors"]] == ["Solo Writer"]
    assert [g["slug"] for g in changed["genres"]] == ["fantasy"]
    staff.patch(f"/books/{book['id']}", {"price": "-2"}, status=400)
    staff.patch(f"/books/{book['id']}", {}, status=400)
    staff.patch("/books/999999999", {"title": "Nope"}, status=404)
    assert anon.get(f"/books/{book['id']}").json["price"] == "9.50"


def test_patch_to_an_existing_isbn_is_409(staff, genres):
    first = staff.post("/books", new_book()).json
    second = staff.post("/books", new_book()).json
    staff.patch(f"/books/{second['id']}", {"isbn": first["isbn"]}, status=409)


def test_delete_removes_a_never_ordered_book(staff, anon, genres):
    book = staff.post("/books", new_book()).json
    staff.delete(f"/books/{book['id']}")
    anon.get(f"/books/{book['id']}", status=404)
    staff.get(f"/books/{book['id']}", status=404)  # gone, not archived: staff would still see it


def test_delete_archives_a_book_that_was_sold(staff, anon, customer, dbsession):
    title = f"Sold Before {unique_word('sold')}"
    book = make_book(dbsession, title=title, stock=3)
    customer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key())
    staff.delete(f"/books/{book.id}")
    anon.get(f"/books/{book.id}", status=404)
    assert staff.get(f"/books/{book.id}").json["archived"] is True
    assert anon.get("/books", q=title).json["total"] == 0


@pytest.mark.readonly
def test_listing_a_book_its_isbn_genres_and_authors_read_on_the_shops_own_books(anon, request):
    """What a shopper reads first, on whatever the catalogue holds (a deployed shop's own books)."""
    if not live.TARGET.live:
        make_book(request.getfixturevalue("dbsession"), title="Shelf Reader", authors=("Ann Author",))
    listing = anon.get("/books", per_page="5").json
    assert listing["items"] and listing["page"] == 1 and listing["per_page"] == 5
    first = listing["items"][0]
    book = anon.get(f"/books/{first['id']}").json
    assert book["id"] == first["id"] and book["title"] == first["title"]
    assert anon.get(f"/books/isbn/{book['isbn']}").json["id"] == book["id"]
    assert book["id"] in [b["id"] for b in anon.get("/books", q=book["title"], per_page="100").json["items"]]
    author = anon.get(f"/authors/{book['authors'][0]['id']}").json
    assert author["name"] == book["authors"][0]["name"] and author["book_count"] >= 1
    assert isinstance(anon.get("/genres").json["items"], list)


@pytest.mark.readonly
def test_unknown_and_malformed_ids(anon):
    anon.get("/books/999999999", status=404)
    assert anon.get("/books/abc", status=400).json["error"]["code"] == "invalid_input"
    anon.get("/books/0", status=400)
    anon.get("/books/99999999999999999999999", status=400)
    anon.get("/authors/abc", status=400)
    anon.get("/authors/999999999", status=404)


def test_genres_list_with_book_counts(anon, dbsession):
    def counts() -> dict[str, int]:
        return {g["slug"]: g["book_count"] for g in anon.get("/genres").json["items"]}

    make_genre(dbsession, "poetry")
    make_genre(dbsession, "travel")
    before = counts() if live.TARGET.live else {}  # a deployed shop's own books count too
    make_book(dbsession, title="G1", genres=("poetry",))
    make_book(dbsession, title="G2", genres=("poetry", "travel"))
    make_book(dbsession, title="G3", genres=("travel",), archived_at=None)
    after = counts()
    assert after["poetry"] - before.get("poetry", 0) == 2 and after["travel"] - before.get("travel", 0) == 2
    body = anon.get("/genres").json
    assert body["total"] == len(body["items"])
    assert {"slug", "name", "book_count"} <= set(body["items"][0])


def test_authors_list_and_detail(anon, dbsession):
    surname = unique_word("Zed")  # authors stay on a shop after their books go
    book = make_book(dbsession, title="Paired", authors=(f"{surname} Alpha", f"{surname} Beta"))
    listing = anon.get("/authors", q=surname.lower(), per_page=10).json
    assert [a["name"] for a in listing["items"]] == [f"{surname} Alpha", f"{surname} Beta"]
    assert listing["total"] == 2
    detail = anon.get(f"/authors/{book.authors[0].id}").json
    assert detail["name"] == f"{surname} Alpha" and detail["book_count"] == 1
