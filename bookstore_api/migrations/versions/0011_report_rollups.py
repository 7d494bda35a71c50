"""Daily and monthly rollups of sales for the staff reports, and the change log that keeps them exact.

* ``sales_daily`` (orders and revenue per UTC day), ``book_sales_daily`` (units and
  revenue per day and book), ``book_sales_monthly`` (the same per calendar month, for
  year-long top books) and ``genre_sales_daily`` (per day and genre): what the
  reports read for closed days instead of the orders and their lines.
* ``report_rollup_state``: one row, the last closed day rolled up (``rolled_through``).
* ``report_dirty_days``: days before today whose counted orders or lines changed
  (an order cancelled later, a line edited, an order placed or moved into a past
  day). Statement-level triggers on ``orders`` and ``order_lines`` write them; the
  reports compute those days from the raw rows until ``bookstore rollup-reports``
  rolls them again and clears them.
* ``report_genre_changes``: each genre given to (+1) or taken from (-1) a book that
  has sales, written by a trigger on ``book_genres``; the reports correct the genre
  rollup by the changed books' own rollup rows until the command folds them in.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE sales_daily (
    day date PRIMARY KEY,
    orders integer NOT NULL,
    revenue numeric(16, 2) NOT NULL
);
CREATE TABLE book_sales_daily (
    day date NOT NULL,
    book_id bigint NOT NULL,
    units integer NOT NULL,
    revenue numeric(14, 2) NOT NULL,
    CONSTRAINT pk_book_sales_daily PRIMARY KEY (day, book_id)
);
CREATE INDEX ix_book_sales_daily_book ON book_sales_daily (book_id, day) INCLUDE (units, revenue);
CREATE TABLE book_sales_monthly (
    month date NOT NULL,
    book_id bigint NOT NULL,
    units integer NOT NULL,
    revenue numeric(16, 2) NOT NULL,
    CONSTRAINT pk_book_sales_monthly PRIMARY KEY (month, book_id),
    CONSTRAINT ck_book_sales_monthly_first_day CHECK (extract(day FROM month) = 1)
);
CREATE INDEX ix_book_sales_monthly_book ON book_sales_monthly (book_id, month) INCLUDE (units, revenue);
CREATE INDEX ix_book_sales_monthly_units ON book_sales_monthly (month, units DESC) INCLUDE (book_id);
CREATE INDEX ix_book_sales_monthly_revenue ON book_sales_monthly (month, revenue DESC) INCLUDE (book_id);
CREATE TABLE genre_sales_daily (
    day date NOT NULL,
    genre_id integer NOT NULL,
    units bigint NOT NULL,
    revenue numeric(16, 2) NOT NULL,
    CONSTRAINT pk_genre_sales_daily PRIMARY KEY (day, genre_id)
);
CREATE TABLE report_rollup_state (
    id boolean PRIMARY KEY DEFAULT true CONSTRAINT ck_report_rollup_state_one_row CHECK (id),
    rolled_through date,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO report_rollup_state (id) VALUES (true);
CREATE TABLE report_dirty_days (
    day date NOT NULL,
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ix_report_dirty_days_day ON report_dirty_days (day);
CREATE TABLE report_genre_changes (
    id bigserial PRIMARY KEY,
    book_id bigint NOT NULL,
    genre_id integer NOT NULL,
    delta smallint NOT NULL CONSTRAINT ck_report_genre_changes_delta CHECK (delta IN (-1, 1))
);
"""

# Days are logged only when they are before the current UTC day by the wall clock
# (clock_timestamp, not the transaction's start): today is always computed live, so
# checkouts never write here.
TRIGGERS = """
CREATE FUNCTION bookstore_report_orders_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    today date := (clock_timestamp() AT TIME ZONE 'UTC')::date;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO report_dirty_days (day)
        SELECT DISTINCT (n.created_at AT TIME ZONE 'UTC')::date FROM new_rows n
        WHERE n.status IN ('paid', 'shipped', 'delivered') AND (n.created_at AT TIME ZONE 'UTC')::date < today;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO report_dirty_days (day)
        SELECT DISTINCT (o.created_at AT TIME ZONE 'UTC')::date FROM old_rows o
        WHERE o.status IN ('paid', 'shipped', 'delivered') AND (o.created_at AT TIME ZONE 'UTC')::date < today;
    ELSE
        INSERT INTO report_dirty_days (day)
        SELECT DISTINCT d.day FROM (
            SELECT (o.created_at AT TIME ZONE 'UTC')::date AS old_day, (n.created_at AT TIME ZONE 'UTC')::date AS new_day
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.status IN ('paid', 'shipped', 'delivered') OR n.status IN ('paid', 'shipped', 'delivered'))
              AND ((o.status IN ('paid', 'shipped', 'delivered')) <> (n.status IN ('paid', 'shipped', 'delivered'))
                   OR o.total <> n.total OR o.created_at <> n.created_at)
        ) changed CROSS JOIN LATERAL (VALUES (changed.old_day), (changed.new_day)) d(day)
        WHERE d.day < today;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_report_insert AFTER INSERT ON orders REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_report_orders_changed();
CREATE TRIGGER orders_report_update AFTER UPDATE ON orders REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_report_orders_changed();
CREATE TRIGGER orders_report_delete AFTER DELETE ON orders REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_report_orders_changed();

CREATE FUNCTION bookstore_report_lines_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    today date := (clock_timestamp() AT TIME ZONE 'UTC')::date;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO report_dirty_days (day)
        SELECT DISTINCT (o.created_at AT TIME ZONE 'UTC')::date
        FROM (SELECT DISTINCT order_id FROM new_rows) l JOIN orders o ON o.id = l.order_id
        WHERE (o.created_at AT TIME ZONE 'UTC')::date < today;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO report_dirty_days (day)
        SELECT DISTINCT (o.created_at AT TIME ZONE 'UTC')::date
        FROM (SELECT DISTINCT order_id FROM old_rows) l JOIN orders o ON o.id = l.order_id
        WHERE (o.created_at AT TIME ZONE 'UTC')::date < today;
    ELSE
        INSERT INTO report_dirty_days (day)
        SELECT DISTINCT (o.created_at AT TIME ZONE 'UTC')::date
        FROM (SELECT order_id FROM old_rows UNION SELECT order_id FROM new_rows) l JOIN orders o ON o.id = l.order_id
        WHERE (o.created_at AT TIME ZONE 'UTC')::date < today;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER order_lines_report_insert AFTER INSERT ON order_lines REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_report_lines_changed();
CREATE TRIGGER order_lines_report_update AFTER UPDATE ON order_lines
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_report_lines_changed();
CREATE TRIGGER order_lines_report_delete AFTER DELETE ON order_lines REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_report_lines_changed();

-- Only books that were ever ordered matter: a book without lines has no rollup rows (so the
-- catalogue seeder's bulk load of new books, bookstore.bulk_load = on, is skipped outright).
CREATE FUNCTION bookstore_report_genres_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('bookstore.bulk_load', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO report_genre_changes (book_id, genre_id, delta)
        SELECT o.book_id, o.genre_id, -1 FROM old_rows o
        WHERE EXISTS (SELECT 1 FROM order_lines l WHERE l.book_id = o.book_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO report_genre_changes (book_id, genre_id, delta)
        SELECT n.book_id, n.genre_id, 1 FROM new_rows n
        WHERE EXISTS (SELECT 1 FROM order_lines l WHERE l.book_id = n.book_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER book_genres_report_insert AFTER INSERT ON book_genres REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_report_genres_changed();
CREATE TRIGGER book_genres_report_update AFTER UPDATE ON book_genres
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_report_genres_changed();
CREATE TRIGGER book_genres_report_delete AFTER DELETE ON book_genres REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bookstore_report_genres_changed();
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(TRIGGERS)


def downgrade() -> None:
    for table, event in (
        ("orders", "orders_report_"),
        ("order_lines", "order_lines_report_"),
        ("book_genres", "book_genres_report_"),
    ):
        for kind in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {event}{kind} ON {table}")
    for function in ("orders", "lines", "genres"):
        op.execute(f"DROP FUNCTION IF EXISTS bookstore_report_{function}_changed()")
    for table in (
        "report_genre_changes",
        "report_dirty_days",
        "report_rollup_state",
        "genre_sales_daily",
        "book_sales_monthly",
        "book_sales_daily",
        "sales_daily",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
