"""Small factories for test data, written straight to the test's database session."""

from __future__ import annotations

import itertools
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bookstore_api.accounts.models import User
from bookstore_api.accounts.services import PasswordService
from bookstore_api.catalog.models import Author, Book, BookAuthor, Genre
from bookstore_dev.seed import make_isbn

_isbns = itertools.count(500_000_000)


def next_isbn() -> str:
    return make_isbn(next(_isbns))


def make_user(
    dbsession: Session, app, *, email: str, password: str, role: str = "customer", name: str = "Someone"
) -> User:
    passwords = PasswordService(time_cost=1, memory_cost=1024, parallelism=1)
    user = User(email=email.lower(), name=name, role=role, password_hash=passwords.hash(password))
    dbsession.add(user)
    dbsession.flush()
    return user


def make_genre(dbsession: Session, slug: str, name: str | None = None) -> Genre:
    genre = dbsession.scalar(select(Genre).where(Genre.slug == slug))
    if genre is None:
        genre = Genre(slug=slug, name=name or slug.replace("-", " ").title())
        dbsession.add(genre)
        dbsession.flush()
    return genre


def make_author(dbsession: Session, name: str) -> Author:
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
