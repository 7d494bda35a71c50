"""Uploaded covers: the digest of a book's cover renditions, their srcset and the largest one's size.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("books", sa.Column("cover_image", sa.String(32), nullable=True))
    op.add_column("books", sa.Column("cover_srcset", sa.String(2000), nullable=True))
    op.add_column("books", sa.Column("cover_width", sa.SmallInteger, nullable=True))
    op.add_column("books", sa.Column("cover_height", sa.SmallInteger, nullable=True))
    op.create_check_constraint(
        op.f("ck_books_uploaded_cover_complete"),
        "books",
        "(cover_image IS NULL AND cover_width IS NULL AND cover_height IS NULL)"
        " OR (cover_image ~ '^[0-9a-f]{32}$' AND cover_width > 0 AND cover_height > 0)",
    )  # = catalog.models.UPLOADED_COVER_COMPLETE_SQL at this revision


def downgrade() -> None:
    op.drop_constraint(op.f("ck_books_uploaded_cover_complete"), "books", type_="check")
    for column in ("cover_height", "cover_width", "cover_srcset", "cover_image"):
        op.drop_column("books", column)
