"""Vouchers (discount codes) and their redemptions, one per order that used a voucher.

``vouchers.uses`` counts the redemptions that stand (a cancelled order gives its
use back); checkout raises it with a conditional ``UPDATE`` so it never passes
``max_uses``. ``voucher_customer_uses`` counts them per customer the same way
(a conditional upsert), so ``max_uses_per_customer`` holds under any concurrency too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from ..catalog.models import Genre
from ..infra.models import Base, TimestampMixin

PERCENT = "percent"
FIXED = "fixed"
KINDS = (PERCENT, FIXED)

voucher_genres = Table(
    "voucher_genres",
    Base.metadata,
    Column("voucher_id", ForeignKey("vouchers.id", ondelete="CASCADE"), primary_key=True),
    Column("genre_id", ForeignKey("genres.id", ondelete="RESTRICT"), primary_key=True, index=True),
)


class Voucher(TimestampMixin, Base):
    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("code = upper(code) AND length(code) BETWEEN 3 AND 32", name="code_format"),
        CheckConstraint(f"kind IN ({', '.join(repr(kind) for kind in KINDS)})", name="kind"),
        CheckConstraint("value > 0 AND (kind <> 'percent' OR value <= 100)", name="value_range"),
        CheckConstraint("min_subtotal IS NULL OR min_subtotal >= 0", name="min_subtotal_non_negative"),
        CheckConstraint("starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at", name="period"),
        CheckConstraint(
            "uses >= 0 AND (max_uses IS NULL OR max_uses > 0)"
            " AND (max_uses_per_customer IS NULL OR max_uses_per_customer > 0)",
            name="uses",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    value: Mapped[Decimal] = mapped_column(Numeric(10, 2), nullable=False)
    min_subtotal: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    starts_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    max_uses: Mapped[int | None] = mapped_column(Integer)
    max_uses_per_customer: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))

    genres: Mapped[list[Genre]] = relationship(secondary=voucher_genres, order_by=Genre.slug, lazy="selectin")


class VoucherCustomerUses(Base):
    """How many standing uses one customer has made of one voucher (the per-customer limit's counter).

    Raised with a conditional upsert (``... ON CONFLICT DO UPDATE ... WHERE uses < limit``) that locks
    only this customer's row, so parallel checkouts of one customer count exactly.
    """

    __tablename__ = "voucher_customer_uses"
    __table_args__ = (CheckConstraint("uses >= 0", name="uses_non_negative"),)

    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    uses: Mapped[int] = mapped_column(Integer, nullable=False)


class VoucherRedemption(Base):
    """One order's use of a voucher; ``released_at`` is set when the order is cancelled."""

    __tablename__ = "voucher_redemptions"
    __table_args__ = (CheckConstraint("discount >= 0", name="discount_non_negative"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id", ondelete="RESTRICT"), index=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True, nullable=False)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True, nullable=False)
    discount: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    released_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


#: the uses that stand, as staff see them: the customers' counts added up (``vouchers.uses`` is the
#: counter checkout enforces ``max_uses`` on, kept current while the voucher has a cap)
Voucher.standing_uses = column_property(
    select(func.coalesce(func.sum(VoucherCustomerUses.uses), 0))
    .where(VoucherCustomerUses.voucher_id == Voucher.id)
    .correlate_except(VoucherCustomerUses)
    .scalar_subquery()
)
