"""Books, authors and genres.

``books.search_vector`` (weighted full text) and ``books.search_text`` (for
trigram typo tolerance) are generated columns, ``books.authors_text`` is kept
current by triggers on ``book_authors`` and ``authors``, and ``books.genre_ids``
by a trigger on ``book_genres``: the database, not the application, keeps search
in step with the data.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..infra.models import Base, TimestampMixin

SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(authors_text, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(subtitle, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')"
)
SEARCH_TEXT_SQL = "lower(title || ' ' || coalesce(authors_text, ''))"
#: books per search bucket: a capped count reads the full-text index one bucket at a time
SEARCH_BUCKET_SIZE = 65536
SEARCH_BUCKET_SQL = f"(ARRAY[(id / {SEARCH_BUCKET_SIZE})::integer])"
UPLOADED_COVER_COMPLETE_SQL = (
    "(cover_image IS NULL AND cover_width IS NULL AND cover_height IS NULL)"
    " OR (cover_image ~ '^[0-9a-f]{32}$' AND cover_width > 0 AND cover_height > 0)"
)


class BookAuthor(Base):
    __tablename__ = "book_authors"

    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="CASCADE"), primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="RESTRICT"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")

    author: Mapped[Author] = relationship(lazy="joined", innerjoin=True)


book_genres = Table(
    "book_genres",
    Base.metadata,
    Column("book_id", ForeignKey("books.id", ondelete="CASCADE"), primary_key=True),
    Column("genre_id", ForeignKey("genres.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class Author(TimestampMixin, Base):
    __tablename__ = "authors"
    __table_args__ = (
        Index("uq_authors_lower_name", text("lower(name)"), unique=True),
        Index("ix_authors_name_trgm", text("lower(name) gin_trgm_ops"), postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    bio: Mapped[str | None] = mapped_column(Text)


class Genre(Base):
    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)


class Book(TimestampMixin, Base):
    __tablename__ = "books"
    __table_args__ = (
        CheckConstraint("stock_quantity >= 0", name="stock_quantity_non_negative"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("isbn ~ '^97[89][0-9]{10}$'", name="isbn_format"),
        CheckConstraint("rating_count >= 0 AND sales_count >= 0", name="counters_non_negative"),
        CheckConstraint(UPLOADED_COVER_COMPLETE_SQL, name="uploaded_cover_complete"),
        # Full text, genres and id buckets in one GIN index (see migration 0003 and
        # CatalogService._capped_ids): the columns' posting lists are intersected in the index.
        Index("ix_books_search", "search_vector", "genre_ids", text(SEARCH_BUCKET_SQL), postgresql_using="gin"),
        Index(
            "ix_books_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        # Sorted listings of the live catalog (see migration 0001).
        Index("ix_books_live_title", "title", "id", postgresql_where=text("archived_at IS NULL")),
        Index("ix_books_live_price", "price", "id", postgresql_where=text("archived_at IS NULL")),
        Index(
            "ix_books_live_newest",
            text("published_on DESC NULLS LAST"),
            text("id DESC"),
            postgresql_where=text("archived_at IS NULL"),
        ),
        Index(
            "ix_books_live_bestselling", text("sales_count DESC"), "id", postgresql_where=text("archived_at IS NULL")
        ),
        Index(
            "ix_books_live_rating",
            text("average_rating DESC"),
            text("rating_count DESC"),
            "id",
            postgresql_where=text("archived_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    isbn: Mapped[str] = mapped_column(String(13), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    subtitle: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    publisher: Mapped[str | None] = mapped_column(String(200))
    published_on: Mapped[dt.date | None] = mapped_column(Date)
    language: Mapped[str | None] = mapped_column(String(8))
    pages: Mapped[int | None] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    stock_quantity: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    cover_url: Mapped[str | None] = mapped_column(String(1000))
    # An uploaded cover (bookstore_api.covers): the digest naming its renditions, their
    # srcset, and the size of the largest (the one cover_url points to). All NULL otherwise.
    cover_image: Mapped[str | None] = mapped_column(String(32))
    cover_srcset: Mapped[str | None] = mapped_column(String(2000))
    cover_width: Mapped[int | None] = mapped_column(SmallInteger)
    cover_height: Mapped[int | None] = mapped_column(SmallInteger)
    average_rating: Mapped[Decimal] = mapped_column(Numeric(3, 2), nullable=False, server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    rating_sum: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    sales_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    authors_text: Mapped[str | None] = mapped_column(Text)
    # Search columns are for the database only: never loaded into Python.
    search_vector = mapped_column(
        TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True), nullable=False, deferred=True, deferred_raiseload=True
    )
    search_text: Mapped[str] = mapped_column(
        Text, Computed(SEARCH_TEXT_SQL, persisted=True), nullable=False, deferred=True, deferred_raiseload=True
    )
    # The ids of ``genres`` (sorted), maintained by the database from book_genres (migration 0003).
    genre_ids = mapped_column(
        ARRAY(Integer), nullable=False, server_default=text("'{}'"), deferred=True, deferred_raiseload=True
    )

    book_authors: Mapped[list[BookAuthor]] = relationship(
        order_by=BookAuthor.position, cascade="all, delete-orphan", lazy="selectin"
    )
    genres: Mapped[list[Genre]] = relationship(secondary=book_genres, lazy="selectin", order_by=Genre.name)

    @property
    def authors(self) -> list[Author]:
        return [link.author for link in self.book_authors]

    @property
    def in_stock(self) -> bool:
        return self.stock_quantity > 0
