"""Import the catalogue from CSV (upserts by ISBN, in batches) and export it in the same format.

An import checks every row first (:mod:`.csvformat`): a dry run reports every bad
row and what a real run would do; a real run with any bad row writes nothing.
Good rows are then compared with the books that have their ISBNs, batch by
batch, and each batch is written with a handful of set-based statements
(``INSERT ... SELECT FROM unnest(...)``, ``UPDATE ... FROM unnest(...)``), never
one ORM object per row: new authors (``ON CONFLICT DO NOTHING`` on their
case-insensitive name), new books, changed books, their author and genre links,
and the stock levels through the ledger (:meth:`InventoryService.set_stock_levels`; a new book is
inserted with its opening stock, which :meth:`InventoryService.record_opening_stock` records).
A row whose book already looks exactly like it is ``unchanged`` and not written,
so an import can be run again, or restarted after an interruption, safely.
The changed books' cache versions and the catalogue version are bumped after
each commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from pyramid.config import Configurator
from sqlalchemy import text
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed

from bookstore_core.csvsafe import csv_line

from ..catalog.cache import CatalogCache
from ..inventory.services import InventoryService
from .csvformat import COLUMNS, BookRow, Parsed, decode, parse

DEFAULT_BATCH = 1000
#: a report lists at most this many errors (``error_count`` says how many there were)
MAX_REPORTED_ERRORS = 10_000
IMPORT_NOTE = "catalogue import"

_EXISTING = text(
    """
    SELECT b.id, b.isbn, b.title, b.description, b.publisher, b.published_on, b.language, b.pages, b.price,
           b.stock_quantity, b.genre_ids,
           coalesce((SELECT array_agg(lower(a.name) ORDER BY ba.position, a.id)
                     FROM book_authors ba JOIN authors a ON a.id = ba.author_id
                     WHERE ba.book_id = b.id), '{}') AS authors
    FROM books b WHERE b.isbn = ANY(CAST(:isbns AS text[]))
    """
)

_ADD_AUTHORS = text(
    """
    INSERT INTO authors (name) SELECT name FROM unnest(CAST(:names AS text[])) AS n(name)
    ON CONFLICT ((lower(name))) DO NOTHING
    """
)
_AUTHOR_IDS = text(
    "SELECT id, lower(name) AS lowered, name FROM authors WHERE lower(name) = ANY(CAST(:lowered AS text[]))"
)

_BOOK_COLUMNS = "title, description, publisher, published_on, language, pages, price, authors_text, genre_ids"
_BOOK_ARRAYS = (
    "CAST(:title AS text[]), CAST(:description AS text[]), CAST(:publisher AS text[]), CAST(:published_on AS date[]), "
    "CAST(:language AS text[]), CAST(:pages AS integer[]), CAST(:price AS numeric[]), CAST(:authors_text AS text[]), "
    "CAST(:genre_ids AS text[])"
)

_INSERT_BOOKS = text(
    f"""
    INSERT INTO books (isbn, currency, stock_quantity, {_BOOK_COLUMNS})
    SELECT isbn, :currency, stock, title, description, publisher, published_on, language, pages, price, authors_text,
           CAST(genre_ids AS integer[])
    FROM unnest(CAST(:isbn AS text[]), CAST(:stock AS integer[]), {_BOOK_ARRAYS})
         AS v(isbn, stock, {_BOOK_COLUMNS})
    RETURNING id, isbn
    """
)

_UPDATE_BOOKS = text(
    f"""
    UPDATE books b SET title = v.title, description = v.description, publisher = v.publisher,
        published_on = v.published_on, language = v.language, pages = v.pages, price = v.price,
        authors_text = v.authors_text, genre_ids = CAST(v.genre_ids AS integer[]), updated_at = now()
    FROM unnest(CAST(:id AS bigint[]), {_BOOK_ARRAYS}) AS v(id, {_BOOK_COLUMNS})
    WHERE b.id = v.id
    """
)

_CLEAR_AUTHORS = text("DELETE FROM book_authors WHERE book_id = ANY(CAST(:ids AS bigint[]))")
_LINK_AUTHORS = text(
    """
    INSERT INTO book_authors (book_id, author_id, position)
    SELECT * FROM unnest(CAST(:book_ids AS bigint[]), CAST(:author_ids AS bigint[]), CAST(:positions AS smallint[]))
    """
)
_CLEAR_GENRES = text("DELETE FROM book_genres WHERE book_id = ANY(CAST(:ids AS bigint[]))")
_LINK_GENRES = text(
    """
    INSERT INTO book_genres (book_id, genre_id)
    SELECT * FROM unnest(CAST(:book_ids AS bigint[]), CAST(:genre_ids AS integer[]))
    """
)
# The loader writes authors_text and genre_ids itself: the link triggers stand aside meanwhile.
_BULK_ON = text("SELECT set_config('bookstore.bulk_load', 'on', true)")
_BULK_OFF = text("SELECT set_config('bookstore.bulk_load', 'off', true)")


@dataclass
class ImportReport:
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stock_movements: int = 0
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0

    def as_dict(self) -> dict:
        body = {
            "dry_run": self.dry_run,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stock_movements": self.stock_movements,
            "errors": self.errors,
            "error_count": self.error_count,
        }
        if self.error_count > len(self.errors):
            body["errors_truncated"] = True
        return body


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stock_movements: int = 0
    changed_ids: list[int] = field(default_factory=list)


def _pg_array_of_ints(values: list[int]) -> str:
    return "{" + ",".join(str(value) for value in values) + "}"


class ImportService:
    def __init__(self, dbsession: Session, currency: str, cache: CatalogCache | None = None):
        self.db = dbsession
        self.currency = currency
        self.cache = cache

    # -- checking --------------------------------------------------------------

    def genres(self) -> dict[str, int]:
        return {slug: genre_id for genre_id, slug in self.db.execute(text("SELECT id, slug FROM genres"))}

    def check(self, body: bytes) -> Parsed:
        """Every row of a CSV body checked (400 naming ``body`` when it is not the catalogue's CSV)."""
        return parse(decode(body), self.genres(), max_errors=MAX_REPORTED_ERRORS)

    def report(self, parsed: Parsed, *, dry_run: bool) -> ImportReport:
        return ImportReport(
            dry_run=dry_run,
            rows=parsed.rows,
            errors=[e.as_dict() for e in parsed.errors],
            error_count=parsed.error_count,
        )

    # -- the import ------------------------------------------------------------

    def run(
        self,
        parsed: Parsed,
        *,
        dry_run: bool,
        actor_user_id: int | None,
        batch_size: int = DEFAULT_BATCH,
        after_batch: Callable[[int, BatchResult], None] | None = None,
    ) -> ImportReport:
        """Compare (and unless ``dry_run`` write) the good rows, batch by batch, in this transaction."""
        report = self.report(parsed, dry_run=dry_run)
        for done, batch in batches(parsed.good, batch_size):
            result = self.apply_batch(batch, dry_run=dry_run, actor_user_id=actor_user_id)
            report.created += result.created
            report.updated += result.updated
            report.unchanged += result.unchanged
            report.stock_movements += result.stock_movements
            if after_batch is not None:
                after_batch(done, result)
        return report

    def apply_batch(self, batch: list[BookRow], *, dry_run: bool, actor_user_id: int | None) -> BatchResult:
        """Upsert one batch of good rows (or, with ``dry_run``, only count what would change)."""
        existing = {row.isbn: row for row in self.db.execute(_EXISTING, {"isbns": [book.isbn for book in batch]})}
        result = BatchResult()
        new: list[BookRow] = []
        changed: list[tuple[int, BookRow, bool, bool]] = []  # id, row, authors differ, genres differ
        stock: list[tuple[BookRow, int | None]] = []
        for book in batch:
            current = existing.get(book.isbn)
            if current is None:
                new.append(book)
                result.created += 1
                if book.stock:
                    result.stock_movements += 1
                continue
            authors_differ = list(current.authors) != [name.lower() for name in book.authors]
            genres_differ = sorted(current.genre_ids or []) != book.genre_ids
            fields_differ = (
                current.title != book.title
                or current.description != book.description
                or current.publisher != book.publisher
                or current.published_on != book.published_on
                or current.language != book.language
                or current.pages != book.pages
                or Decimal(current.price) != book.price
            )
            stock_differs = book.stock is not None and book.stock != current.stock_quantity
            if fields_differ or authors_differ or genres_differ:
                changed.append((current.id, book, authors_differ, genres_differ))
                result.updated += 1
            elif stock_differs:
                result.updated += 1
            else:
                result.unchanged += 1
            if stock_differs:
                result.stock_movements += 1
                stock.append((book, current.id))
        if dry_run or not (new or changed or stock):
            return result

        self.db.execute(_BULK_ON)
        author_ids = self._author_ids(new + [row for _, row, _, _ in changed])
        ids = {}
        if new:
            inserted = self.db.execute(
                _INSERT_BOOKS,
                {
                    "currency": self.currency,
                    "isbn": [b.isbn for b in new],
                    "stock": [b.stock or 0 for b in new],
                    **self._columns(new, author_ids),
                },
            )
            ids = {row.isbn: row.id for row in inserted}
        if changed:
            rows = [row for _, row, _, _ in changed]
            self.db.execute(
                _UPDATE_BOOKS, {"id": [book_id for book_id, *_ in changed], **self._columns(rows, author_ids)}
            )
        self._link_authors(
            [(ids[b.isbn], b) for b in new],
            [(book_id, b) for book_id, b, differ, _ in changed if differ],
            author_ids,
        )
        self._link_genres(
            [(ids[b.isbn], b) for b in new], [(book_id, b) for book_id, b, _, differ in changed if differ]
        )
        self.db.execute(_BULK_OFF)
        mark_changed(self.db)

        inventory = InventoryService(self.db, self.cache)
        # new books were inserted with their opening stock: the ledger records it as their first movement
        inventory.record_opening_stock(
            [ids[b.isbn] for b in new if b.stock], "adjustment", note=IMPORT_NOTE, actor_user_id=actor_user_id
        )
        inventory.set_stock_levels(
            [(book_id, b.stock) for b, book_id in stock], "adjustment", note=IMPORT_NOTE, actor_user_id=actor_user_id
        )
        result.changed_ids = (
            list(ids.values()) + [book_id for book_id, *_ in changed] + [book_id for _, book_id in stock]
        )
        if self.cache is not None:
            self.cache.after_commit_bump(books=result.changed_ids, catalog=bool(new or changed))
        return result

    def _author_ids(self, books: list[BookRow]) -> dict[str, tuple[int, str]]:
        """lower(name) -> (author id, name as stored) for every author these books name (new names become authors)."""
        names: dict[str, str] = {}
        for book in books:
            for name in book.authors:
                names.setdefault(name.lower(), name)
        if not names:
            return {}
        self.db.execute(_ADD_AUTHORS, {"names": list(names.values())})
        return {row.lowered: (row.id, row.name) for row in self.db.execute(_AUTHOR_IDS, {"lowered": list(names)})}

    def _columns(self, books: list[BookRow], author_ids: dict[str, tuple[int, str]]) -> dict[str, list]:
        return {
            "title": [b.title for b in books],
            "description": [b.description for b in books],
            "publisher": [b.publisher for b in books],
            "published_on": [b.published_on for b in books],
            "language": [b.language for b in books],
            "pages": [b.pages for b in books],
            "price": [b.price for b in books],
            # as bookstore_refresh_authors_text (migration 0001) writes it: the stored names
            "authors_text": [", ".join(author_ids[name.lower()][1] for name in b.authors) for b in books],
            "genre_ids": [_pg_array_of_ints(b.genre_ids) for b in books],
        }

    def _link_authors(
        self,
        new: list[tuple[int, BookRow]],
        changed: list[tuple[int, BookRow]],
        author_ids: dict[str, tuple[int, str]],
    ) -> None:
        """Link books to their authors in order (the changed books' old links go first)."""
        if changed:
            self.db.execute(_CLEAR_AUTHORS, {"ids": [book_id for book_id, _ in changed]})
        book_ids, authors, positions = [], [], []
        for book_id, book in new + changed:
            for position, name in enumerate(book.authors):
                book_ids.append(book_id)
                authors.append(author_ids[name.lower()][0])
                positions.append(position)
        if book_ids:
            self.db.execute(_LINK_AUTHORS, {"book_ids": book_ids, "author_ids": authors, "positions": positions})

    def _link_genres(self, new: list[tuple[int, BookRow]], changed: list[tuple[int, BookRow]]) -> None:
        if changed:
            self.db.execute(_CLEAR_GENRES, {"ids": [book_id for book_id, _ in changed]})
        pairs = [(book_id, genre_id) for book_id, book in new + changed for genre_id in book.genre_ids]
        if pairs:
            self.db.execute(_LINK_GENRES, {"book_ids": [p[0] for p in pairs], "genre_ids": [p[1] for p in pairs]})


def batches(rows: list[BookRow], size: int) -> Iterator[tuple[int, list[BookRow]]]:
    """``(rows done after this batch, batch)`` in order."""
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        yield start + len(batch), batch


# -- export --------------------------------------------------------------------

_EXPORT = text(
    """
    SELECT b.id, b.isbn, b.title, b.price, b.stock_quantity, b.description, b.publisher, b.published_on,
           b.language, b.pages,
           (SELECT string_agg(a.name, ';' ORDER BY ba.position, a.id)
            FROM book_authors ba JOIN authors a ON a.id = ba.author_id WHERE ba.book_id = b.id) AS authors,
           (SELECT string_agg(g.slug, ';' ORDER BY g.slug)
            FROM book_genres bg JOIN genres g ON g.id = bg.genre_id WHERE bg.book_id = b.id) AS genres
    FROM books b
    WHERE b.archived_at IS NULL AND b.isbn > :after
    ORDER BY b.isbn
    LIMIT :limit
    """
)
EXPORT_CHUNK = 2000


def export_lines(session: Session) -> Iterator[str]:
    """The live catalogue as CSV lines (the header first), read in chunks of ``EXPORT_CHUNK`` by ISBN."""
    yield ",".join(COLUMNS) + "\r\n"
    after = ""
    while True:
        rows = session.execute(_EXPORT, {"after": after, "limit": EXPORT_CHUNK}).all()
        if not rows:
            return
        for row in rows:
            yield csv_line(
                [
                    row.isbn,
                    row.title,
                    row.authors or "",
                    row.genres or "",
                    f"{row.price:.2f}",
                    row.stock_quantity,
                    row.description,
                    row.publisher,
                    row.published_on.isoformat() if row.published_on else "",
                    row.language,
                    row.pages,
                ]
            )
        after = rows[-1].isbn


def includeme(config: Configurator) -> None:
    currency = config.get_settings()["bookstore.currency"]
    config.register_service_factory(
        lambda context, request: ImportService(request.dbsession, currency, request.registry["catalog_cache"]),
        ImportService,
    )
