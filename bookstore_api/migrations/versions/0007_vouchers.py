"""Vouchers: discount codes, their genres and redemptions; an order's discount and voucher code.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vouchers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("min_subtotal", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("max_uses_per_customer", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "code = upper(code) AND length(code) BETWEEN 3 AND 32", name=op.f("ck_vouchers_code_format")
        ),
        sa.CheckConstraint("kind IN ('percent', 'fixed')", name=op.f("ck_vouchers_kind")),
        sa.CheckConstraint("value > 0 AND (kind <> 'percent' OR value <= 100)", name=op.f("ck_vouchers_value_range")),
        sa.CheckConstraint(
            "min_subtotal IS NULL OR min_subtotal >= 0", name=op.f("ck_vouchers_min_subtotal_non_negative")
        ),
        sa.CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at", name=op.f("ck_vouchers_period")
        ),
        sa.CheckConstraint(
            "uses >= 0 AND (max_uses IS NULL OR max_uses > 0)"
            " AND (max_uses_per_customer IS NULL OR max_uses_per_customer > 0)",
            name=op.f("ck_vouchers_uses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("code", name=op.f("uq_vouchers_code")),
    )
    op.create_table(
        "voucher_genres",
        sa.Column("voucher_id", sa.BigInteger(), nullable=False),
        sa.Column("genre_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["voucher_id"], ["vouchers.id"], name=op.f("fk_voucher_genres_voucher_id_vouchers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["genre_id"], ["genres.id"], name=op.f("fk_voucher_genres_genre_id_genres"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("voucher_id", "genre_id", name=op.f("pk_voucher_genres")),
    )
    op.create_index(op.f("ix_voucher_genres_genre_id"), "voucher_genres", ["genre_id"], unique=False)
    op.create_table(
        "voucher_redemptions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("voucher_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("discount >= 0", name=op.f("ck_voucher_redemptions_discount_non_negative")),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["vouchers.id"],
            name=op.f("fk_voucher_redemptions_voucher_id_vouchers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_voucher_redemptions_user_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_voucher_redemptions_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_redemptions")),
        sa.UniqueConstraint("order_id", name=op.f("uq_voucher_redemptions_order_id")),
    )
    op.create_index(op.f("ix_voucher_redemptions_user_id"), "voucher_redemptions", ["user_id"], unique=False)
    op.create_index(op.f("ix_voucher_redemptions_voucher_id"), "voucher_redemptions", ["voucher_id"], unique=False)
    op.create_table(
        "voucher_customer_uses",
        sa.Column("voucher_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.CheckConstraint("uses >= 0", name=op.f("ck_voucher_customer_uses_uses_non_negative")),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["vouchers.id"],
            name=op.f("fk_voucher_customer_uses_voucher_id_vouchers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_voucher_customer_uses_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("voucher_id", "user_id", name=op.f("pk_voucher_customer_uses")),
    )
    op.create_index(op.f("ix_voucher_customer_uses_user_id"), "voucher_customer_uses", ["user_id"], unique=False)

    op.add_column(
        "orders", sa.Column("discount", sa.Numeric(precision=12, scale=2), server_default="0", nullable=False)
    )
    op.add_column("orders", sa.Column("voucher_code", sa.String(length=32), nullable=True))
    op.drop_constraint(op.f("ck_orders_totals"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_totals"),
        "orders",
        "subtotal >= 0 AND shipping >= 0 AND discount >= 0 AND discount <= subtotal"
        " AND total = subtotal - discount + shipping",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_orders_totals"), "orders", type_="check")
    op.create_check_constraint(
        op.f("ck_orders_totals"), "orders", "subtotal >= 0 AND shipping >= 0 AND total = subtotal + shipping"
    )
    op.drop_column("orders", "voucher_code")
    op.drop_column("orders", "discount")
    op.drop_index(op.f("ix_voucher_customer_uses_user_id"), table_name="voucher_customer_uses")
    op.drop_table("voucher_customer_uses")
    op.drop_index(op.f("ix_voucher_redemptions_voucher_id"), table_name="voucher_redemptions")
    op.drop_index(op.f("ix_voucher_redemptions_user_id"), table_name="voucher_redemptions")
    op.drop_table("voucher_redemptions")
    op.drop_index(op.f("ix_voucher_genres_genre_id"), table_name="voucher_genres")
    op.drop_table("voucher_genres")
    op.drop_table("vouchers")
