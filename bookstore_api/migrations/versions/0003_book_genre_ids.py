"""Search at scale: books.genre_ids and one GIN index over text, genres and id buckets.

``books.genre_ids`` (each book's genre ids, sorted) follows ``book_genres``
through a trigger, unless a bulk load (the seeder) fills it itself and says so
with ``SET bookstore.bulk_load = 'on'``.

``ix_books_search`` replaces ``ix_books_search_vector``: a three-column GIN index
over ``search_vector``, ``genre_ids`` and the book's id bucket
(``ARRAY[(id / 65536)::integer]``). GIN intersects the columns' posting lists
itself, so full text and a genre combine without two full bitmaps, and a search
restricted to one bucket reads only that bucket's part of each list: counting
matches up to a cap bucket by bucket costs the same at any catalog size.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: the bucket expression of ix_books_search (CatalogService builds the very same expression);
#: spelled out, as a migration must not change when the code does
SEARCH_BUCKET_SQL = "(ARRAY[(id / 65536)::integer])"

GENRE_IDS_FUNCTIONS = """
CREATE FUNCTION bookstore_refresh_genre_ids(p_book_id bigint) RETURNS void
LANGUAGE sql AS $$
    UPDATE books SET genre_ids = fresh.ids
    FROM (SELECT coalesce(array_agg(bg.genre_id ORDER BY bg.genre_id), '{}') AS ids
          FROM book_genres bg WHERE bg.book_id = p_book_id) AS fresh
    WHERE books.id = p_book_id AND books.genre_ids IS DISTINCT FROM fresh.ids;
$$;

CREATE FUNCTION bookstore_book_genres_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('bookstore.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM bookstore_refresh_genre_ids(NEW.book_id);
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') AND (TG_OP = 'DELETE' OR OLD.book_id <> NEW.book_id) THEN
        PERFORM bookstore_refresh_genre_ids(OLD.book_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER book_genres_refresh_genre_ids
    AFTER INSERT OR UPDATE OR DELETE ON book_genres
    FOR EACH ROW EXECUTE FUNCTION bookstore_book_genres_changed();
"""


def upgrade() -> None:
    op.add_column(
        "books",
        sa.Column("genre_ids", postgresql.ARRAY(sa.Integer()), server_default=sa.text("'{}'"), nullable=False),
    )
    op.execute(
        "UPDATE books SET genre_ids = linked.ids FROM ("
        "SELECT book_id, array_agg(genre_id ORDER BY genre_id) AS ids FROM book_genres GROUP BY book_id"
        ") AS linked WHERE books.id = linked.book_id"
    )
    op.create_index(
        "ix_books_search", "books", ["search_vector", "genre_ids", sa.text(SEARCH_BUCKET_SQL)], postgresql_using="gin"
    )
    op.drop_index("ix_books_search_vector", table_name="books")
    op.execute(GENRE_IDS_FUNCTIONS)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS book_genres_refresh_genre_ids ON book_genres")
    op.execute("DROP FUNCTION IF EXISTS bookstore_book_genres_changed()")
    op.execute("DROP FUNCTION IF EXISTS bookstore_refresh_genre_ids(bigint)")
    op.create_index("ix_books_search_vector", "books", ["search_vector"], postgresql_using="gin")
    op.drop_index("ix_books_search", table_name="books")
    op.drop_column("books", "genre_ids")
