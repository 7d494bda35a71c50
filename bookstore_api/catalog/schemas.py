"""Input rules (ISBN-13, money, dates) and output shapes for the catalog."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..http.errors import invalid
from .models import Author, Book, Genre

PRICE = re.compile(r"^\d{1,8}(\.\d{1,2})?$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SORTS = ("relevance", "title", "price", "-price", "newest", "bestselling", "rating")
MAX_PER_PAGE = 100


def isbn13_check_digit(first12: str) -> int:
    digits = [ord(c) - 48 for c in first12]
    total = sum(digits[0::2]) + 3 * sum(digits[1::2])
    return (10 - total % 10) % 10


def normalize_isbn(value: Any) -> str | None:
    """The 13 digits of a valid ISBN-13 (hyphens and spaces allowed), or None."""
    if not isinstance(value, str):
        return None
    digits = value.replace("-", "").replace(" ", "")
    if len(digits) != 13 or not digits.isdigit() or not digits.startswith(("978", "979")):
        return None
    if isbn13_check_digit(digits[:12]) != int(digits[12]):
        return None
    return digits


def parse_price(value: Any) -> Decimal | None:
    """A non-negative money amount given as a decimal string with at most 2 places."""
    if not isinstance(value, str) or not PRICE.match(value.strip()):
        return None
    try:
        return Decimal(value.strip()).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def parse_book_fields(body: dict[str, Any], *, partial: bool, currency: str) -> dict[str, Any]:
    """Validate a create (``partial=False``) or update body; return clean values or raise 400."""
    fields: dict[str, str] = {}
    clean: dict[str, Any] = {}

    def present(name: str) -> bool:
        return name in body and body[name] is not None

    if present("isbn") or not partial:
        isbn = normalize_isbn(body.get("isbn"))
        if isbn is None:
            fields["isbn"] = "Not a valid ISBN-13 (13 digits starting 978 or 979, with a correct check digit)."
        clean["isbn"] = isbn
    if present("title") or not partial:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > 500:
            fields["title"] = "Give a title of 1 to 500 characters."
        else:
            clean["title"] = title.strip()
    if present("price") or not partial:
        price = parse_price(body.get("price"))
        if price is None:
            fields["price"] = 'Give the price as a non-negative decimal string such as "12.50".'
        clean["price"] = price
    if present("currency") and str(body["currency"]).upper() != currency:
        fields["currency"] = f"This shop sells in {currency}."
    for name, limit in (("subtitle", 500), ("publisher", 200), ("cover_url", 1000)):
        if name in body:
            value = body[name]
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                fields[name] = f"At most {limit} characters."
            else:
                clean[name] = value.strip() or None if isinstance(value, str) else None
    if "description" in body:
        value = body["description"]
        if value is not None and (not isinstance(value, str) or len(value) > 20000):
            fields["description"] = "At most 20000 characters."
        else:
            clean["description"] = value
    if "language" in body:
        value = body["language"]
        if value is not None and (not isinstance(value, str) or not re.match(r"^[a-z]{2,3}(-[A-Z]{2})?$", value)):
            fields["language"] = "Use a language code such as 'en' or 'pt-BR'."
        else:
            clean["language"] = value
    if "pages" in body:
        value = body["pages"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100000):
            fields["pages"] = "A whole number of pages from 1 to 100000."
        else:
            clean["pages"] = value
    if "published_on" in body:
        value = body["published_on"]
        if isinstance(value, dt.date):
            clean["published_on"] = value
        elif value is None:
            clean["published_on"] = None
        else:
            try:
                clean["published_on"] = dt.date.fromisoformat(str(value))
            except ValueError:
                fields["published_on"] = "Use a date such as 2024-05-31."
    if "authors" in body or not partial:
        authors = body.get("authors")
        if (
            not isinstance(authors, list)
            or not authors
            or len(authors) > 20
            or not all(isinstance(a, str) and a.strip() and len(a) <= 200 for a in authors)
        ):
            fields["authors"] = "List 1 to 20 author names."
        else:
            seen: dict[str, str] = {}
            for name in authors:
                seen.setdefault(" ".join(name.split()).lower(), " ".join(name.split()))
            clean["authors"] = list(seen.values())
    if "genres" in body:
        genres = body.get("genres")
        if not isinstance(genres, list) or len(genres) > 20 or not all(isinstance(g, str) for g in genres):
            fields["genres"] = "List up to 20 genre slugs."
        else:
            clean["genres"] = list(dict.fromkeys(genres))
    elif not partial:
        clean["genres"] = []
    if fields:
        raise invalid("Some fields are not valid.", fields)
    return clean


def author_out(author: Author) -> dict[str, Any]:
    return {"id": author.id, "name": author.name}


def genre_out(genre: Genre) -> dict[str, Any]:
    return {"slug": genre.slug, "name": genre.name}


def book_out(book: Book, *, staff: bool = False) -> dict[str, Any]:
    data = {
        "id": book.id,
        "isbn": book.isbn,
        "title": book.title,
        "subtitle": book.subtitle,
        "description": book.description,
        "authors": [author_out(a) for a in book.authors],
        "genres": [genre_out(g) for g in book.genres],
        "publisher": book.publisher,
        "published_on": book.published_on.isoformat() if book.published_on else None,
        "language": book.language,
        "pages": book.pages,
        "price": money(book.price),
        "currency": book.currency,
        "stock_quantity": book.stock_quantity,
        "in_stock": book.stock_quantity > 0,
        "cover_url": book.cover_url,
        "average_rating": money(book.average_rating),
        "rating_count": book.rating_count,
    }
    if staff:
        data["archived"] = book.archived_at is not None
    return data
