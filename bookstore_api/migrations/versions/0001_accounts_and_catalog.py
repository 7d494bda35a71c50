"""Accounts and catalog: users, tokens, books, authors, genres and search.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from bookstore_api.catalog.models import SEARCH_TEXT_SQL, SEARCH_VECTOR_SQL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMPS = (
    lambda: sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    lambda: sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

# books.authors_text follows book_authors and authors.name, unless a bulk load
# (the seeder) fills it itself and says so with SET bookstore.bulk_load = 'on'.
AUTHORS_TEXT_FUNCTIONS = """
CREATE FUNCTION bookstore_refresh_authors_text(p_book_id bigint) RETURNS void
LANGUAGE sql AS $$
    UPDATE books SET authors_text = (
        SELECT string_agg(a.name, ', ' ORDER BY ba.position, a.id)
        FROM book_authors ba JOIN authors a ON a.id = ba.author_id
        WHERE ba.book_id = p_book_id)
    WHERE id = p_book_id;
$$;

CREATE FUNCTION bookstore_book_authors_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('bookstore.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM bookstore_refresh_authors_text(NEW.book_id);
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') AND (TG_OP = 'DELETE' OR OLD.book_id <> NEW.book_id) THEN
        PERFORM bookstore_refresh_authors_text(OLD.book_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION bookstore_author_renamed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bookstore_refresh_authors_text(ba.book_id)
    FROM book_authors ba WHERE ba.author_id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER book_authors_refresh_authors_text
    AFTER INSERT OR UPDATE OR DELETE ON book_authors
    FOR EACH ROW EXECUTE FUNCTION bookstore_book_authors_changed();

CREATE TRIGGER authors_refresh_authors_text
    AFTER UPDATE OF name ON authors
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION bookstore_author_renamed();
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), server_default="customer", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        *(make() for make in TIMESTAMPS),
        sa.CheckConstraint("role IN ('customer', 'staff', 'admin')", name=op.f("ck_users_role")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lowercase")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_tokens_token_hash")),
    )
    op.create_index(op.f("ix_auth_tokens_user_id"), "auth_tokens", ["user_id"])

    op.create_table(
        "authors",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("bio", sa.Text()),
        *(make() for make in TIMESTAMPS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authors")),
    )
    op.create_index("uq_authors_lower_name", "authors", [sa.text("lower(name)")], unique=True)
    op.create_index("ix_authors_name_trgm", "authors", [sa.text("lower(name) gin_trgm_ops")], postgresql_using="gin")

    op.create_table(
        "genres",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_genres")),
        sa.UniqueConstraint("slug", name=op.f("uq_genres_slug")),
    )

    op.create_table(
        "books",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("isbn", sa.String(13), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("subtitle", sa.String(500)),
        sa.Column("description", sa.Text()),
        sa.Column("publisher", sa.String(200)),
        sa.Column("published_on", sa.Date()),
        sa.Column("language", sa.String(8)),
        sa.Column("pages", sa.Integer()),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("stock_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cover_url", sa.String(1000)),
        sa.Column("average_rating", sa.Numeric(3, 2), server_default="0", nullable=False),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sales_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
        sa.Column("authors_text", sa.Text()),
        sa.Column(
            "search_vector", postgresql.TSVECTOR(), sa.Computed(SEARCH_VECTOR_SQL, persisted=True), nullable=False
        ),
        sa.Column("search_text", sa.Text(), sa.Computed(SEARCH_TEXT_SQL, persisted=True), nullable=False),
        *(make() for make in TIMESTAMPS),
        sa.CheckConstraint("stock_quantity >= 0", name=op.f("ck_books_stock_quantity_non_negative")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_books_price_non_negative")),
        sa.CheckConstraint("isbn ~ '^97[89][0-9]{10}$'", name=op.f("ck_books_isbn_format")),
        sa.CheckConstraint("rating_count >= 0 AND sales_count >= 0", name=op.f("ck_books_counters_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_books")),
        sa.UniqueConstraint("isbn", name=op.f("uq_books_isbn")),
    )
    op.create_index("ix_books_search_vector", "books", ["search_vector"], postgresql_using="gin")
    op.create_index(
        "ix_books_search_text_trgm",
        "books",
        ["search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    live = sa.text("archived_at IS NULL")
    op.create_index("ix_books_live_title", "books", ["title", "id"], postgresql_where=live)
    op.create_index("ix_books_live_price", "books", ["price", "id"], postgresql_where=live)
    op.create_index(
        "ix_books_live_newest",
        "books",
        [sa.text("published_on DESC NULLS LAST"), sa.text("id DESC")],
        postgresql_where=live,
    )
    op.create_index("ix_books_live_bestselling", "books", [sa.text("sales_count DESC"), "id"], postgresql_where=live)
    op.create_index(
        "ix_books_live_rating",
        "books",
        [sa.text("average_rating DESC"), sa.text("rating_count DESC"), "id"],
        postgresql_where=live,
    )

    op.create_table(
        "book_authors",
        sa.Column("book_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_book_authors_book_id_books"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["authors.id"], name=op.f("fk_book_authors_author_id_authors"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("book_id", "author_id", name=op.f("pk_book_authors")),
    )
    op.create_index(op.f("ix_book_authors_author_id"), "book_authors", ["author_id"])

    op.create_table(
        "book_genres",
        sa.Column("book_id", sa.BigInteger(), nullable=False),
        sa.Column("genre_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_book_genres_book_id_books"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["genre_id"], ["genres.id"], name=op.f("fk_book_genres_genre_id_genres"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("book_id", "genre_id", name=op.f("pk_book_genres")),
    )
    op.create_index(op.f("ix_book_genres_genre_id"), "book_genres", ["genre_id"])

    op.execute(AUTHORS_TEXT_FUNCTIONS)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS authors_refresh_authors_text ON authors")
    op.execute("DROP TRIGGER IF EXISTS book_authors_refresh_authors_text ON book_authors")
    for table in ("book_genres", "book_authors", "books", "genres", "authors", "auth_tokens", "users"):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS bookstore_author_renamed()")
    op.execute("DROP FUNCTION IF EXISTS bookstore_book_authors_changed()")
    op.execute("DROP FUNCTION IF EXISTS bookstore_refresh_authors_text(bigint)")
