"""Orders, their lines (with a price snapshot), idempotency keys and the mail outbox.

An order's ``total`` is ``subtotal - discount + shipping`` (a database constraint).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..infra.models import Base, TimestampMixin
from .lifecycle import STATUSES


class Order(TimestampMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(status) for status in STATUSES)})", name="status"),
        CheckConstraint(
            "subtotal >= 0 AND shipping >= 0 AND discount >= 0 AND discount <= subtotal"
            " AND total = subtotal - discount + shipping",
            name="totals",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    subtotal: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    shipping: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    #: what the voucher took off the books (never off shipping); 0 without one
    discount: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False, server_default="0")
    #: the code as the voucher had it when the order was placed
    voucher_code: Mapped[str | None] = mapped_column(String(32))
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    ship_name: Mapped[str] = mapped_column(String(200), nullable=False)
    ship_line1: Mapped[str] = mapped_column(String(200), nullable=False)
    ship_line2: Mapped[str | None] = mapped_column(String(200))
    ship_city: Mapped[str] = mapped_column(String(100), nullable=False)
    ship_region: Mapped[str | None] = mapped_column(String(100))
    ship_postal_code: Mapped[str] = mapped_column(String(20), nullable=False)
    ship_country: Mapped[str] = mapped_column(String(2), nullable=False)
    payment_brand: Mapped[str] = mapped_column(String(20), nullable=False)
    payment_last4: Mapped[str] = mapped_column(String(4), nullable=False)
    payment_reference: Mapped[str] = mapped_column(String(100), nullable=False)
    refund_reference: Mapped[str | None] = mapped_column(String(100))
    shipped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list[OrderLine]] = relationship(
        cascade="all, delete-orphan", order_by="OrderLine.id", lazy="selectin"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity > 0 AND unit_price >= 0", name="positive"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True, nullable=False)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id", ondelete="RESTRICT"), index=True, nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2), nullable=False)


class IdempotencyKey(Base):
    """A client's Idempotency-Key for ``POST /orders``, with a hash of its request."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_id_key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # the id is drawn from the orders sequence when the key is claimed, before the order row
    # exists: the foreign key is checked at commit (migration 0004)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED")
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
