"""Checkout in fewer statements: an Idempotency-Key names its order's id when it is claimed.

The key's row is inserted first (it serialises retries of one request) and now
takes the order's id from the orders sequence in the same statement, before the
order row exists; its foreign key is therefore checked at commit
(``DEFERRABLE INITIALLY DEFERRED``), when the order is there or the whole
transaction, key included, is rolled back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CONSTRAINT = "fk_idempotency_keys_order_id_orders"


def upgrade() -> None:
    op.execute(f"ALTER TABLE idempotency_keys ALTER CONSTRAINT {CONSTRAINT} DEFERRABLE INITIALLY DEFERRED")


def downgrade() -> None:
    op.execute(f"ALTER TABLE idempotency_keys ALTER CONSTRAINT {CONSTRAINT} NOT DEFERRABLE")
