"""Catalog rules: creating, changing and archiving books, and searching them.

Search combines PostgreSQL full text (a weighted ``tsvector`` over title,
authors, subtitle and description, GIN-indexed) with ``pg_trgm`` word
similarity over title and authors, so a query with a one-letter typo still
finds the book.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from pyramid.config import Configurator
from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, array
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..exceptions import Conflict, InvalidInput, NotFound
from .cache import CatalogCache
from .models import SEARCH_BUCKET_SIZE, Author, Book, BookAuthor, Genre, book_genres

MAX_QUERY_LENGTH = 200
#: a full-text search expected to match at most this many books reads every match in one scan
MODERATE_MATCHES = 3_000
#: totals are exact up to this many matches, then reported as this number with total_capped;
#: narrower searches are ranked by relevance, broader ones list the best sellers first
COUNT_CAP = 1_000
#: the columns of ``books`` that ``book_out`` reads
BOOK_COLUMNS = (
    "id",
    "isbn",
    "title",
    "subtitle",
    "description",
    "publisher",
    "published_on",
    "language",
    "pages",
    "price",
    "currency",
    "stock_quantity",
    "cover_url",
    "cover_srcset",
    "cover_width",
    "cover_height",
    "average_rating",
    "rating_count",
)
#: an ``author`` filter that is an author id (a bigint) rather than a name
_AUTHOR_ID = re.compile(r"[0-9]{1,18}")


class BookRow:
    """A live book as one row of :data:`BOOK_ROWS`: what ``book_out`` reads, without the ORM.

    ``authors`` and ``genres`` arrive as JSON arrays built by PostgreSQL (in the
    relationships' order), so a book is one query and no object graph.
    """

    __slots__ = ("_row", "authors", "genres")

    def __init__(self, row: Any):
        self._row = row
        self.authors = [SimpleNamespace(**author) for author in row.authors_json]
        self.genres = [SimpleNamespace(**genre) for genre in row.genres_json]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def _json_list(statement) -> Any:
    return func.coalesce(statement.scalar_subquery(), literal_column("'[]'::json"))


_AUTHORS_JSON = _json_list(
    select(
        func.json_agg(
            aggregate_order_by(func.json_build_object("id", Author.id, "name", Author.name), BookAuthor.position)
        )
    )
    .select_from(BookAuthor)
    .join(Author, Author.id == BookAuthor.author_id)
    .where(BookAuthor.book_id == Book.id)
)
_GENRES_JSON = _json_list(
    select(
        func.json_agg(aggregate_order_by(func.json_build_object("slug", Genre.slug, "name", Genre.name), Genre.name))
    )
    .select_from(book_genres)
    .join(Genre, Genre.id == book_genres.c.genre_id)
    .where(book_genres.c.book_id == Book.id)
)
#: live books by id, each with its authors and genres: one statement, one round trip
BOOK_ROWS = select(
    *(Book.__table__.c[name] for name in BOOK_COLUMNS),
    _AUTHORS_JSON.label("authors_json"),
    _GENRES_JSON.label("genres_json"),
).where(Book.id == any_(bindparam("ids", type_=ARRAY(BigInteger))), Book.archived_at.is_(None))


def book_rows(connection: Any, ids: list[int]) -> list[BookRow]:
    """Live books with these ids, in the given order, in one query (``connection``: a Session or Connection)."""
    if not ids:
        return []
    by_id = {row.id: BookRow(row) for row in connection.execute(BOOK_ROWS, {"ids": ids})}
    return [by_id[book_id] for book_id in ids if book_id in by_id]


@dataclass
class BookQuery:
    q: str | None = None
    author: str | None = None
    genre: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    sort: str | None = None
    page: int = 1
    per_page: int = 20


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int
    total_capped: bool = False

    def as_dict(self, render) -> dict[str, Any]:
        body = {
            "items": [render(item) for item in self.items],
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
        }
        if self.total_capped:
            body["total_capped"] = True
        return body


@dataclass
class IdPage:
    ids: list[int]
    total: int
    total_capped: bool = False


def _clean_query(q: str | None) -> str | None:
    if q is None:
        return None
    q = " ".join(q.replace("\x00", " ").split())
    return q[:MAX_QUERY_LENGTH] or None


class CatalogService:
    def __init__(self, dbsession: Session, currency: str, cache: CatalogCache | None = None):
        self.db = dbsession
        self.currency = currency
        self.cache = cache

    def _changed(self, book_id: int | None = None) -> None:
        if self.cache is not None:
            self.cache.after_commit_bump(books=[book_id] if book_id else [], catalog=True)

    # -- reads -----------------------------------------------------------------

    def get_book(self, book_id: int, *, include_archived: bool = False) -> Book:
        book = self.db.get(Book, book_id)
        if book is None or (book.archived_at is not None and not include_archived):
            raise NotFound("book")
        return book

    def get_book_by_isbn(self, isbn: str, *, include_archived: bool = False) -> Book:
        book = self.db.scalar(select(Book).where(Book.isbn == isbn))
        if book is None or (book.archived_at is not None and not include_archived):
            raise NotFound("book")
        return book

    def search_books(self, query: BookQuery) -> Page:
        ids = self.search_ids(query)
        return Page(self.books_by_ids(ids.ids), ids.total, query.page, query.per_page, ids.total_capped)

    def books_by_ids(self, ids: list[int]) -> list[Book]:
        """Live books with these ids, in the given order."""
        if not ids:
            return []
        statement = select(Book).where(Book.id.in_(ids), Book.archived_at.is_(None))
        by_id = {book.id: book for book in self.db.scalars(statement)}
        return [by_id[book_id] for book_id in ids if book_id in by_id]

    def search_ids(self, query: BookQuery) -> IdPage:
        """One page of matching book ids, in order, and the (capped) number of matches.

        Full text first; only when it finds nothing does the trigram (typo) match
        run. A full-text search the planner expects to match a moderate number of
        books reads every match in one scan (:meth:`_all_matches`); otherwise up to
        ``COUNT_CAP + 1`` matching ids are fetched bucket by bucket. Below the cap
        those are every match, and only they are ordered (by relevance or the
        requested sort); above it the best-selling matches come first (ranked by
        relevance within the page), so no query ever ranks every row of a broad match.
        """
        q = _clean_query(query.q)
        filters = self._filters(query)
        offset = (query.page - 1) * query.per_page
        rank = None
        if not q:
            # Buckets pay off only when the search index narrows the rows (a genre).
            ids = self._capped_ids(and_(*filters), bucketed=bool(query.genre))
        else:
            tsquery = _tsquery(q)
            match = Book.search_vector.op("@@")(tsquery)
            rank = func.ts_rank_cd(Book.search_vector, tsquery, 32)
            everything = self._all_matches(and_(match, *filters))
            if everything:
                return self._page_of(everything, rank, query)
            ids = [] if everything == [] else self._capped_ids(and_(match, *filters), bucketed=True)
            if not ids:  # nothing by full text: tolerate typos
                lowered = q.lower()
                match = literal(lowered).op("<%")(Book.search_text)
                rank = func.word_similarity(lowered, Book.search_text)
                ids = self._capped_ids(and_(match, *filters), bucketed=False)
            filters = [match, *filters]
        total, capped = min(len(ids), COUNT_CAP), len(ids) > COUNT_CAP
        if offset >= total:
            return IdPage([], total, capped)
        by_relevance = rank is not None and query.sort in (None, "relevance")
        if not capped:  # a narrow match: every matching id is at hand, so order just those rows
            return IdPage(self._order_ids(ids, rank, query.sort, offset, query.per_page), total, capped)
        where = and_(*filters)
        if not by_relevance:
            statement = select(Book.id).where(where).order_by(*self._ordering(query.sort, None))
            return IdPage(list(self.db.scalars(statement.offset(offset).limit(query.per_page))), total, capped)
        # A broad match: the best-selling matches first (walking the popularity index stops
        # as soon as a page is full), ranked by relevance within the page.
        page = (
            select(Book.id, rank.label("rank"), Book.sales_count)
            .where(where)
            .order_by(Book.sales_count.desc(), Book.id)
            .offset(offset)
            .limit(query.per_page)
            .subquery()
        )
        statement = select(page.c.id).order_by(page.c.rank.desc(), page.c.sales_count.desc(), page.c.id)
        return IdPage(list(self.db.scalars(statement)), total, capped)

    def _all_matches(self, where) -> list[tuple[int, int]] | None:
        """Every match as ``(id, sales_count)``, when there are at most ``MODERATE_MATCHES``; else None.

        Asked only when the planner expects a moderate number: one index scan then
        yields the count and every candidate for the page, where counting bucket by
        bucket and then finding the page would scan the index twice (and nearly every
        bucket, the matches being spread over the catalog). Broad matches (many
        thousands) are left to the bucketed count, which stops early.
        """
        statement = select(Book.id, Book.sales_count).where(where)
        if self._estimated_rows(statement) > MODERATE_MATCHES:
            return None
        rows = self.db.execute(statement.limit(MODERATE_MATCHES + 1)).all()
        return [(row[0], row[1]) for row in rows] if len(rows) <= MODERATE_MATCHES else None

    def _estimated_rows(self, statement) -> float:
        """The planner's estimate of how many rows ``statement`` returns (planning only, nothing runs)."""
        compiled = statement.compile(dialect=self.db.get_bind().dialect, compile_kwargs={"render_postcompile": True})
        plan = self.db.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params).scalar()
        return float(plan[0]["Plan"]["Plan Rows"])

    def _page_of(self, matches: list[tuple[int, int]], rank, query: BookQuery) -> IdPage:
        """One page from every match of a full-text search, ordered as ``search_ids`` promises."""
        total, capped = min(len(matches), COUNT_CAP), len(matches) > COUNT_CAP
        offset = (query.page - 1) * query.per_page
        if offset >= total:
            return IdPage([], total, capped)
        if capped and query.sort in (None, "relevance"):
            # a broad match: the best sellers first, ranked by relevance within the page
            best = sorted(matches, key=lambda match: (-match[1], match[0]))[offset : offset + query.per_page]
            return IdPage(
                self._order_ids([book_id for book_id, _ in best], rank, query.sort, 0, query.per_page), total, capped
            )
        ids = [book_id for book_id, _ in matches]
        return IdPage(self._order_ids(ids, rank, query.sort, offset, query.per_page), total, capped)

    def _order_ids(self, ids: list[int], rank, sort: str | None, offset: int, limit: int) -> list[int]:
        """One page of a known set of matching ids, by relevance (``rank``) or the requested sort."""
        if rank is not None and sort in (None, "relevance"):
            # The "+ 0" keeps the planner off the popularity index, which would scan far.
            ordering = [rank.desc(), (Book.sales_count + 0).desc(), Book.id]
        else:
            ordering = self._ordering(sort, None)
        statement = select(Book.id).where(Book.id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger))))
        return list(self.db.scalars(statement.order_by(*ordering).offset(offset).limit(limit)))

    def _filters(self, query: BookQuery) -> list:
        conditions = [Book.archived_at.is_(None)]
        if query.author:
            author_filter = (
                BookAuthor.author_id == int(query.author)
                if _AUTHOR_ID.fullmatch(query.author)
                else BookAuthor.author_id.in_(
                    select(Author.id).where(func.lower(Author.name) == query.author.strip().lower())
                )
            )
            conditions.append(exists().where(BookAuthor.book_id == Book.id, author_filter))
        if query.genre:
            # books.genre_ids mirrors book_genres (a trigger keeps it exact) and is GIN-indexed;
            # the id as a constant lets the planner use the column's statistics.
            genre_id = self.db.scalar(select(Genre.id).where(Genre.slug == query.genre))
            conditions.append(Book.genre_ids.contains([genre_id]) if genre_id is not None else false())
        if query.min_price is not None:
            conditions.append(Book.price >= query.min_price)
        if query.max_price is not None:
            conditions.append(Book.price <= query.max_price)
        if query.in_stock is True:
            conditions.append(Book.stock_quantity > 0)
        elif query.in_stock is False:
            conditions.append(Book.stock_quantity == 0)
        return conditions

    def _capped_ids(self, where, *, bucketed: bool) -> list[int]:
        """Ids of up to ``COUNT_CAP + 1`` books matching ``where``, in no particular order.

        ``bucketed`` (for conditions ix_books_search answers: full text, genre) looks
        one id bucket (``SEARCH_BUCKET_SIZE`` books) at a time and stops as soon as
        enough are found: GIN builds a complete bitmap before the first row comes
        out, so over the whole catalog a broad match would cost time in proportion
        to the catalog; bucket by bucket it costs about the same at any size.
        """
        if not bucketed:
            return list(self.db.scalars(select(Book.id).where(where).limit(COUNT_CAP + 1)))
        first_id, last_id = self.db.execute(select(func.min(Book.id), func.max(Book.id))).one()
        if last_id is None:
            return []
        # Constant bounds: the planner then knows how many buckets there are.
        buckets = (
            func.generate_series(last_id // SEARCH_BUCKET_SIZE, first_id // SEARCH_BUCKET_SIZE, -1)
            .table_valued("n")
            .render_derived(name="buckets")
        )
        size = literal_column(str(SEARCH_BUCKET_SIZE), Integer)
        # The very expression ix_books_search indexes (models.SEARCH_BUCKET_SQL).
        in_bucket = array([cast(Book.id // size, Integer)]).contains(array([cast(buckets.c.n, Integer)]))
        matches = select(Book.id).where(where, in_bucket).limit(COUNT_CAP + 1).lateral("matches")
        statement = select(matches.c.id).select_from(buckets).join(matches, true()).limit(COUNT_CAP + 1)
        return list(self.db.scalars(statement))

    @staticmethod
    def _ordering(sort: str | None, rank) -> list:
        if sort in (None, "relevance"):
            sort = "relevance" if rank is not None else ("newest" if sort == "relevance" else "title")
        orderings = {
            "relevance": [rank.desc() if rank is not None else Book.id.desc(), Book.id],
            "title": [Book.title, Book.id],
            "price": [Book.price, Book.id],
            "-price": [Book.price.desc(), Book.id],
            "newest": [Book.published_on.desc().nulls_last(), Book.id.desc()],
            "bestselling": [Book.sales_count.desc(), Book.id],
            "rating": [Book.average_rating.desc(), Book.rating_count.desc(), Book.id],
        }
        return orderings[sort]

    def list_authors(self, q: str | None, page: int, per_page: int) -> Page:
        condition = func.lower(Author.name).contains(q.lower(), autoescape=True) if q else literal(True)
        total = self.db.scalar(select(func.count()).select_from(Author).where(condition)) or 0
        items = list(
            self.db.scalars(
                select(Author)
                .where(condition)
                .order_by(Author.name, Author.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        )
        return Page(items, total, page, per_page)

    def get_author(self, author_id: int) -> tuple[Author, int]:
        author = self.db.get(Author, author_id)
        if author is None:
            raise NotFound("author")
        count = self.db.scalar(
            select(func.count())
            .select_from(BookAuthor)
            .join(Book, Book.id == BookAuthor.book_id)
            .where(BookAuthor.author_id == author_id, Book.archived_at.is_(None))
        )
        return author, int(count or 0)

    def list_genres(self) -> list[tuple[Genre, int]]:
        counts = (
            select(book_genres.c.genre_id, func.count().label("n"))
            .join(Book, Book.id == book_genres.c.book_id)
            .where(Book.archived_at.is_(None))
            .group_by(book_genres.c.genre_id)
            .subquery()
        )
        rows = self.db.execute(
            select(Genre, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.genre_id == Genre.id)
            .order_by(Genre.name)
        )
        return [(genre, int(n)) for genre, n in rows]

    # -- writes ----------------------------------------------------------------

    def _authors_by_name(self, names: list[str]) -> list[Author]:
        lowered = [name.lower() for name in names]
        existing = {
            a.name.lower(): a for a in self.db.scalars(select(Author).where(func.lower(Author.name).in_(lowered)))
        }
        authors = []
        for name in names:
            author = existing.get(name.lower())
            if author is None:
                author = Author(name=name)
                self.db.add(author)
                existing[name.lower()] = author
            authors.append(author)
        self.db.flush()
        return authors

    def _genres_by_slug(self, slugs: list[str]) -> list[Genre]:
        if not slugs:
            return []
        found = {g.slug: g for g in self.db.scalars(select(Genre).where(Genre.slug.in_(slugs)))}
        unknown = [slug for slug in slugs if slug not in found]
        if unknown:
            raise InvalidInput(
                "Unknown genre.", {"genres": f"Unknown genre slug(s): {', '.join(sorted(unknown))[:200]}"}
            )
        return [found[slug] for slug in slugs]

    def _set_authors(self, book: Book, names: list[str]) -> None:
        authors = self._authors_by_name(names)
        book.book_authors = [BookAuthor(author=author, position=index) for index, author in enumerate(authors)]

    def create_book(self, values: dict[str, Any]) -> Book:
        if self.db.scalar(select(Book.id).where(Book.isbn == values["isbn"])) is not None:
            raise Conflict("isbn_exists", "A book with this ISBN already exists.", {"fields": {"isbn": "exists"}})
        genres = self._genres_by_slug(values.pop("genres", []))
        names = values.pop("authors")
        book = Book(currency=self.currency, stock_quantity=0, **values)
        book.genres = genres
        self._set_authors(book, names)
        self.db.add(book)
        self._flush_unique_isbn()
        self.db.refresh(book)
        self._changed()
        return book

    def update_book(self, book_id: int, values: dict[str, Any]) -> Book:
        book = self.get_book(book_id, include_archived=True)
        isbn_changed = "isbn" in values and values["isbn"] != book.isbn
        if isbn_changed and self.db.scalar(select(Book.id).where(Book.isbn == values["isbn"])) is not None:
            raise Conflict("isbn_exists", "A book with this ISBN already exists.", {"fields": {"isbn": "exists"}})
        if "genres" in values:
            book.genres = self._genres_by_slug(values.pop("genres"))
        if "authors" in values:
            self._set_authors(book, values.pop("authors"))
        for name, value in values.items():
            setattr(book, name, value)
        self._flush_unique_isbn()
        self.db.refresh(book)
        self._changed(book.id)
        return book

    def _flush_unique_isbn(self) -> None:
        """Flush; a concurrent insert of the same ISBN (the unique index) is a 409."""
        try:
            with self.db.begin_nested():
                self.db.flush()
        except IntegrityError as exc:
            raise Conflict("isbn_exists", "A book with this ISBN already exists.") from exc

    def delete_book(self, book_id: int) -> str:
        """Delete a book nobody ever ordered; archive (hide) one that was ordered."""
        book = self.get_book(book_id, include_archived=True)
        self._changed(book.id)
        if self._was_ever_ordered(book):
            if book.archived_at is None:
                book.archived_at = dt.datetime.now(dt.UTC)
            return "archived"
        self.db.delete(book)
        self.db.flush()
        return "deleted"

    def _was_ever_ordered(self, book: Book) -> bool:
        from ..orders.models import OrderLine

        ordered = self.db.scalar(select(OrderLine.id).where(OrderLine.book_id == book.id).limit(1)) is not None
        return ordered or book.sales_count > 0


def _tsquery(q: str):
    return func.websearch_to_tsquery(literal_column("'english'::regconfig"), q)


def includeme(config: Configurator) -> None:
    currency = config.get_settings()["bookstore.currency"]
    config.register_service_factory(
        lambda context, request: CatalogService(request.dbsession, currency, request.registry["catalog_cache"]),
        CatalogService,
    )
