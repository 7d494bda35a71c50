"""Book input beyond the spec (ISBN-13 check digit, the shop's currency), normalisation, output shapes.

``openapi.yaml`` states every field's type, length, range and pattern and is
checked before a view runs; this module adds what a schema cannot say and
turns the checked strings into the values the models store.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bookstore_core.isbn import isbn13_check_digit, normalize_isbn

from ..http.errors import invalid
from .models import Author, Book, Genre

__all__ = ["isbn13_check_digit", "normalize_isbn"]  # kept here for the catalogue's callers

_CENT = Decimal("0.01")
#: the spec's MoneyInput: what books.price (numeric(10, 2)) stores
_PRICE = re.compile(r"[0-9]{1,8}(\.[0-9]{1,2})?")


def parse_price(value: Any) -> Decimal | None:
    """A money amount as the spec's MoneyInput allows it (``"12.5"``), to the cent; None if it is not one."""
    if not isinstance(value, str) or not _PRICE.fullmatch(value.strip()):
        return None
    return Decimal(value.strip()).quantize(_CENT)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def _optional_line(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _author_names(names: list[str]) -> list[str]:
    """Names with runs of white space made single, each name once (case-insensitively), in order."""
    seen: dict[str, str] = {}
    for name in names:
        tidy = " ".join(name.split())
        seen.setdefault(tidy.lower(), tidy)
    return list(seen.values())


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value is not None else None


#: field -> how a value the spec accepted becomes what the model stores
_CLEAN: dict[str, Callable[[Any], Any]] = {
    "title": str.strip,
    "subtitle": _optional_line,
    "publisher": _optional_line,
    "cover_url": _optional_line,
    "description": lambda value: value,
    "language": lambda value: value,
    "pages": lambda value: value,
    "published_on": _date,
    "price": parse_price,
    "authors": _author_names,
    "genres": lambda slugs: list(dict.fromkeys(slugs)),
}


def parse_book_fields(body: dict[str, Any], *, partial: bool, currency: str) -> dict[str, Any]:
    """Clean values from a create (``partial=False``) or update body that the spec has already checked.

    Raises a 400 for what the spec cannot state: an ISBN-13 with a wrong check
    digit, a currency other than the shop's.
    """
    fields: dict[str, str] = {}
    clean = {name: _CLEAN[name](value) for name, value in body.items() if name in _CLEAN}
    if "isbn" in body:
        clean["isbn"] = normalize_isbn(body["isbn"])
        if clean["isbn"] is None:
            fields["isbn"] = "Not a valid ISBN-13 (13 digits starting 978 or 979, with a correct check digit)."
    if "currency" in body and body["currency"].upper() != currency:
        fields["currency"] = f"This shop sells in {currency}."
    if fields:
        raise invalid("Some fields are not valid.", fields)
    if not partial:
        clean.setdefault("genres", [])
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
        # an uploaded cover's renditions, and the size of the one cover_url points to
        "cover_srcset": book.cover_srcset,
        "cover_width": book.cover_width,
        "cover_height": book.cover_height,
        "average_rating": money(book.average_rating),
        "rating_count": book.rating_count,
    }
    if staff:
        data["archived"] = book.archived_at is not None
    return data
