"""Small factories for test data.

In-process they write straight to the test's database session (rolled back after the test).
Against a deployed shop the ``dbsession`` fixture is an :class:`ApiSession` instead, and the
same calls make the data through the public API as staff (books, their stock) or as a new
customer; what they make is removed after the scenario. What the API cannot arrange (a
staff account, a genre the shop lacks, a book's sales count or id) skips the test there.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bookstore_api.accounts.models import User
from bookstore_api.accounts.services import PasswordService
from bookstore_api.catalog.models import Author, Book, BookAuthor, Genre
from bookstore_dev.seed import make_isbn
from tests.helpers import live

# In-process: a fixed range above the seeded catalogue's. Against a deployed shop, where earlier
# runs' books stay archived: a random stretch of the 979 range, fresh for each run.
_isbns = itertools.count(random.SystemRandom().randrange(10**9, 2 * 10**9 - 10**7) if live.TARGET.live else 500_000_000)

#: fields of ``make_book`` the API takes as they are
_API_BOOK_FIELDS = frozenset({"subtitle", "publisher", "published_on", "language", "pages"})


class ApiSession:
    """What ``dbsession`` is against a deployed shop: the factories below make their data with
    it through the API. Anything else a test asks of it (a query, a flush) skips the test:
    such a test needs direct database access and belongs under ``@pytest.mark.needs_db``."""

    def __init__(self, app, staff: Callable[[], object]):
        from tests.helpers.clients import Client

        self._anon = Client(app)
        self._staff = staff

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        pytest.skip(f"needs direct database access (dbsession.{name}); mark the test needs_db")


def _ref(**fields) -> SimpleNamespace:
    return SimpleNamespace(**fields)


def _book_ref(body: dict) -> SimpleNamespace:
    return _ref(
        id=body["id"],
        isbn=body["isbn"],
        title=body["title"],
        subtitle=body.get("subtitle"),
        description=body.get("description"),
        price=Decimal(body["price"]),
        currency=body["currency"],
        stock_quantity=body["stock_quantity"],
        authors=[_ref(id=a["id"], name=a["name"]) for a in body["authors"]],
        genres=[_ref(slug=g["slug"], name=g["name"]) for g in body["genres"]],
    )


def next_isbn() -> str:
    return make_isbn(next(_isbns))


def make_user(
    dbsession: Session, app, *, email: str, password: str, role: str = "customer", name: str = "Someone"
) -> User:
    if isinstance(dbsession, ApiSession):
        if role != "customer":
            pytest.skip(f"a {role} account cannot be made through the API (set BOOKSTORE_TEST_STAFF_EMAIL/PASSWORD)")
        body = dbsession._anon.post("/users", {"email": email, "password": password, "name": name}).json
        return _ref(id=body["id"], email=body["email"], name=body["name"], role=body["role"])
    passwords = PasswordService(time_cost=1, memory_cost=1024, parallelism=1)
    user = User(email=email.lower(), name=name, role=role, password_hash=passwords.hash(password))
    dbsession.add(user)
    dbsession.flush()
    return user


def make_genre(dbsession: Session, slug: str, name: str | None = None) -> Genre:
    if isinstance(dbsession, ApiSession):
        genres = {g["slug"]: g for g in dbsession._anon.get("/genres").json["items"]}
        if slug not in genres:
            pytest.skip(f"the shop has no genre {slug!r}, and the API cannot make one")
        return _ref(id=None, slug=slug, name=genres[slug]["name"])
    genre = dbsession.scalar(select(Genre).where(Genre.slug == slug))
    if genre is None:
        genre = Genre(slug=slug, name=name or slug.replace("-", " ").title())
        dbsession.add(genre)
        dbsession.flush()
    return genre


def make_author(dbsession: Session, name: str) -> Author:
    if isinstance(dbsession, ApiSession):
        found = dbsession._anon.get("/authors", q=name, per_page=100).json["items"]
        match = [a for a in found if a["name"].lower() == name.lower()]
        if not match:
            pytest.skip(f"no author {name!r} on the shop: the API makes authors with their books")
        return _ref(id=match[0]["id"], name=match[0]["name"])
    author = dbsession.scalar(select(Author).where(Author.name == name))
    if author is None:
        author = Author(name=name)
        dbsession.add(author)
        dbsession.flush()
    return author


def make_book(
    dbsession: Session,
    *,
    title: str = "A Book",
    authors: tuple[str, ...] = ("Ann Author",),
    genres: tuple[str, ...] = (),
    price: str = "10.00",
    stock: int = 5,
    description: str | None = None,
    **fields,
) -> Book:
    if isinstance(dbsession, ApiSession):
        return _make_book_through_the_api(dbsession, title, authors, genres, price, stock, description, fields)
    book = Book(
        isbn=fields.pop("isbn", None) or next_isbn(),
        title=title,
        price=Decimal(price),
        currency="USD",
        stock_quantity=stock,
        description=description,
        **fields,
    )
    book.genres = [make_genre(dbsession, slug) for slug in genres]
    book.book_authors = [BookAuthor(author=make_author(dbsession, name), position=i) for i, name in enumerate(authors)]
    dbsession.add(book)
    dbsession.flush()
    dbsession.refresh(book)
    return book


def current_stock(dbsession: Session, book_id: int) -> int:
    """A book's stock now: from the database in-process, from the API (as staff) on a deployed shop."""
    if isinstance(dbsession, ApiSession):
        return dbsession._staff().get(f"/books/{book_id}").json["stock_quantity"]
    dbsession.expire_all()
    return dbsession.get(Book, book_id).stock_quantity


def set_stock(dbsession: Session, book_id: int, quantity: int) -> None:
    """Puts a book's stock at ``quantity`` behind the shopper's back: in the database in-process,
    by a staff adjustment through the API on a deployed shop."""
    if isinstance(dbsession, ApiSession):
        delta = quantity - current_stock(dbsession, book_id)
        if delta:
            dbsession._staff().post(f"/books/{book_id}/stock-movements", {"delta": delta, "reason": "adjustment"})
        return
    dbsession.get(Book, book_id).stock_quantity = quantity
    dbsession.flush()


def _make_book_through_the_api(api: ApiSession, title, authors, genres, price, stock, description, fields):
    archived = fields.pop("archived_at", None)
    unsupported = sorted(set(fields) - _API_BOOK_FIELDS - {"isbn"})
    if unsupported:
        pytest.skip(f"make_book({', '.join(unsupported)}=…) cannot be arranged through the API")
    for slug in genres:
        make_genre(api, slug)  # skips when the shop lacks it
    body = {
        "isbn": fields.pop("isbn", None) or next_isbn(),
        "title": title,
        "price": str(price),
        "authors": list(authors),
        "genres": list(genres),
    }
    if description is not None:
        body["description"] = description
    body.update({k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in fields.items() if v is not None})
    staff = api._staff()
    created = staff.post("/books", body).json  # noted for removal after the scenario
    if stock:
        staff.post(f"/books/{created['id']}/stock-movements", {"delta": stock, "reason": "restock"})
        created["stock_quantity"] = stock
    if archived is not None:
        staff.delete(f"/books/{created['id']}")
    return _book_ref(created)
