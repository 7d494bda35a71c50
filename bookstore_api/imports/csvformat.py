"""The catalogue CSV: its columns, and each row checked and cleaned as the API checks a book.

Columns (any order, all present): ``isbn, title, authors, genres, price, stock,
description, publisher, published, language, pages``. ``authors`` and ``genres``
hold several values separated by ``;``. An empty optional cell means "none"
(it clears the field on an update); an empty ``stock`` leaves the stock as it is
(0 for a new book). A leading apostrophe that guards a formula (``'=...``) is the
export's CSV-injection guard and is removed (:mod:`bookstore_core.csvsafe`).

Row numbers are what a spreadsheet shows: the header is row 1, so the first book
is row 2 (a quoted cell with line breaks still makes one row).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from bookstore_core.csvsafe import unguard
from bookstore_core.isbn import normalize_isbn
from bookstore_core.money import parse_price as _parse_amount

from ..exceptions import InvalidInput

COLUMNS = (
    "isbn",
    "title",
    "authors",
    "genres",
    "price",
    "stock",
    "description",
    "publisher",
    "published",
    "language",
    "pages",
)
MAX_STOCK = 1_000_000
_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TEXT_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Z]{2})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT = re.compile(r"[0-9]{1,9}")


@dataclass
class RowError:
    row: int
    field: str
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "code": self.code, "message": self.message}


@dataclass
class BookRow:
    """One good row, cleaned: what the book should look like."""

    row: int
    isbn: str
    title: str
    authors: list[str]
    genres: list[str]
    price: Decimal
    stock: int | None
    description: str | None
    publisher: str | None
    published_on: dt.date | None
    language: str | None
    pages: int | None
    genre_ids: list[int] = field(default_factory=list)


@dataclass
class Parsed:
    rows: int
    good: list[BookRow]
    errors: list[RowError]
    error_count: int


def decode(body: bytes) -> str:
    """The body as text (UTF-8, a byte-order mark allowed); 400 naming ``body`` otherwise."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("The file is not UTF-8 text.", {"body": f"Not UTF-8 (byte {exc.start})."}) from exc


def records(text: str) -> Iterator[tuple[int, dict[str, str] | None, int]]:
    """``(row number, cells by column, cell count)`` for each record after a valid header.

    Cells is None for a record with the wrong number of cells. 400 naming ``body``
    for a missing or wrong header, or text that is not CSV.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _header(reader)
    row = 1
    try:
        for cells in reader:
            row += 1
            if not cells or cells == [""]:
                continue
            if len(cells) != len(header):
                yield row, None, len(cells)
                continue
            yield row, dict(zip(header, (unguard(cell) for cell in cells), strict=True)), len(cells)
    except csv.Error as exc:
        raise InvalidInput("The file is not valid CSV.", {"body": f"Row {row + 1}: {exc}"[:300]}) from exc


def _header(reader) -> list[str]:
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise InvalidInput("The file is not valid CSV.", {"body": f"Row 1: {exc}"[:300]}) from exc
    if not first:
        raise InvalidInput("The file has no header row.", {"body": "Start with the header: " + ",".join(COLUMNS)})
    header = [cell.strip().lower() for cell in first]
    missing = [name for name in COLUMNS if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if missing or unknown or duplicated:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if unknown:
            problems.append("unknown " + ", ".join(name[:40] for name in unknown[:5]))
        if duplicated:
            problems.append("repeated " + ", ".join(duplicated))
        raise InvalidInput(
            "The header row is not the catalogue's.",
            {"body": ("Header: " + "; ".join(problems) + ". Columns: " + ",".join(COLUMNS))[:300]},
        )
    return header


_CENT = Decimal("0.01")


def parse_price(value: str) -> Decimal | None:
    """A price as the API takes it (``12.5``: up to 8 digits, 2 decimals), to the cent; None if not one."""
    amount = _parse_amount(value)
    return amount.quantize(_CENT) if amount is not None else None


def _author_names(names: list[str]) -> list[str]:
    """Names with runs of white space made single, each name once (case-insensitively), in order."""
    seen: dict[str, str] = {}
    for name in names:
        tidy = " ".join(name.split())
        seen.setdefault(tidy.lower(), tidy)
    return list(seen.values())


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


class RowChecker:
    """Checks rows one by one; knows the shop's genres and the ISBNs seen so far."""

    def __init__(self, genres: dict[str, int]):
        self.genres = genres
        self.seen: dict[str, int] = {}

    def check(self, row: int, cells: dict[str, str]) -> tuple[BookRow | None, list[RowError]]:
        errors: list[RowError] = []

        def fail(name: str, code: str, message: str) -> None:
            errors.append(RowError(row, name, code, message))

        def line(name: str, limit: int, *, required: bool = False, text: bool = False) -> str | None:
            value = cells[name].strip()
            if not value:
                if required:
                    fail(name, "required", f"{name} is required.")
                return None
            if len(value) > limit:
                fail(name, "too_long", f"Use at most {limit} characters.")
            elif (_TEXT_BAD if text else _LINE_BAD).search(value):
                fail(name, "invalid_text", "Control characters are not allowed here.")
            return value

        isbn = None
        raw_isbn = cells["isbn"].strip()
        if not raw_isbn:
            fail("isbn", "required", "isbn is required.")
        else:
            isbn = normalize_isbn(raw_isbn[:20])
            if isbn is None or len(raw_isbn) > 20:
                isbn = None
                fail("isbn", "invalid_isbn", "Not a valid ISBN-13 (13 digits starting 978 or 979, right check digit).")
            elif isbn in self.seen:
                fail("isbn", "duplicate_isbn", f"This ISBN is also in row {self.seen[isbn]}.")
                isbn = None
            else:
                self.seen[isbn] = row

        title = line("title", 500, required=True)
        authors = _author_names(_split(cells["authors"]))
        if not authors:
            fail("authors", "required", "Name at least one author (several separated by ;).")
        elif len(authors) > 20:
            fail("authors", "too_many", "At most 20 authors.")
        elif any(len(name) > 200 for name in authors):
            fail("authors", "too_long", "An author's name has at most 200 characters.")
        elif any(_LINE_BAD.search(name) for name in authors):
            fail("authors", "invalid_text", "Control characters are not allowed here.")

        genres = list(dict.fromkeys(slug.lower() for slug in _split(cells["genres"])))
        if len(genres) > 20:
            fail("genres", "too_many", "At most 20 genres.")
        else:
            unknown = [slug for slug in genres if not _SLUG.fullmatch(slug) or slug not in self.genres]
            if unknown:
                fail("genres", "unknown_genre", ("Unknown genre: " + ", ".join(slug[:64] for slug in unknown))[:300])

        price = None
        raw_price = cells["price"].strip()
        if not raw_price:
            fail("price", "required", "price is required.")
        else:
            price = parse_price(raw_price)
            if price is None:
                fail("price", "invalid_price", 'Not a price (a non-negative amount such as "12.50").')

        stock = self._integer(cells["stock"], "stock", 0, MAX_STOCK, "invalid_stock", fail)
        pages = self._integer(cells["pages"], "pages", 1, 100_000, "invalid_pages", fail)

        description = line("description", 20_000, text=True)
        publisher = line("publisher", 200)
        published = None
        raw_date = cells["published"].strip()
        if raw_date:
            try:
                if not _DATE.fullmatch(raw_date):
                    raise ValueError
                published = dt.date.fromisoformat(raw_date)
            except ValueError:
                fail("published", "invalid_date", "Not a date (YYYY-MM-DD).")
        language = cells["language"].strip() or None
        if language is not None and not _LANGUAGE.fullmatch(language):
            fail("language", "invalid_language", "Not a language code such as en or pt-BR.")

        if errors or isbn is None or title is None or price is None:
            return None, errors
        return (
            BookRow(
                row=row,
                isbn=isbn,
                title=title,
                authors=authors,
                genres=genres,
                price=price,
                stock=stock,
                description=description,
                publisher=publisher,
                published_on=published,
                language=language,
                pages=pages,
                genre_ids=sorted(self.genres[slug] for slug in genres),
            ),
            errors,
        )

    @staticmethod
    def _integer(raw: str, name: str, low: int, high: int, code: str, fail) -> int | None:
        value = raw.strip()
        if not value:
            return None
        if not _INT.fullmatch(value) or not low <= int(value) <= high:
            fail(name, code, f"A whole number from {low} to {high}.")
            return None
        return int(value)


def parse(text: str, genres: dict[str, int], *, max_errors: int) -> Parsed:
    """Every record checked; the good ones cleaned, and the errors (at most ``max_errors`` kept)."""
    checker = RowChecker(genres)
    good: list[BookRow] = []
    errors: list[RowError] = []
    error_count = 0
    rows = 0
    for row, cells, count in records(text):
        rows += 1
        if cells is None:
            found = [RowError(row, "row", "bad_row", f"{count} cells; the header has {len(COLUMNS)}.")]
        else:
            book, found = checker.check(row, cells)
            if book is not None:
                good.append(book)
        error_count += len(found)
        if found and len(errors) < max_errors:
            errors.extend(found[: max_errors - len(errors)])
    return Parsed(rows, good, errors, error_count)
