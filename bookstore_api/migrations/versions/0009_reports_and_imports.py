"""Indexes for the staff reports (sales, top books and genres, stock) at a million orders and books.

* ``ix_orders_sales``: the orders that count as sales (paid, shipped, delivered) by
  ``created_at``, carrying ``total``: the sales report is an index-only range scan.
* ``ix_order_lines_report``: lines by order, carrying book, quantity and price: the
  top-books and top-genres reports join the orders of a period to their lines
  without touching the lines' heap.
* ``ix_books_live_stock``: live books by stock and price: the stock value and the
  out-of-stock count read the index only.
* ``ix_books_live_stock_value``: live books in stock by the value of their stock,
  highest first: slow movers are found by walking it until enough unsold books turn up.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_orders_sales ON orders (created_at) INCLUDE (total) "
        "WHERE status IN ('paid', 'shipped', 'delivered')"
    )
    op.execute("CREATE INDEX ix_order_lines_report ON order_lines (order_id) INCLUDE (book_id, quantity, unit_price)")
    op.execute("CREATE INDEX ix_books_live_stock ON books (stock_quantity) INCLUDE (price) WHERE archived_at IS NULL")
    op.execute(
        "CREATE INDEX ix_books_live_stock_value ON books ((price * stock_quantity) DESC, id) "
        "WHERE archived_at IS NULL AND stock_quantity > 0"
    )


def downgrade() -> None:
    for name in ("ix_books_live_stock_value", "ix_books_live_stock", "ix_order_lines_report", "ix_orders_sales"):
        op.execute(f"DROP INDEX {name}")
