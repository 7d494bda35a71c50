"""Webhooks: the endpoints staff register, the event outbox and the delivery log.

An event is written in the transaction that caused it, together with one
delivery per endpoint subscribed to its type (:mod:`.events`); the worker
(:mod:`.delivery`, ``bookstore deliver-webhooks``) sends the deliveries later and
records every attempt.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from ..infra.models import Base, TimestampMixin

#: the events an endpoint can subscribe to (``webhook.test`` is sent on request only)
EVENT_TYPES = ("order.paid", "order.shipped", "order.delivered", "order.cancelled", "book.low_stock")
TEST_EVENT = "webhook.test"

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DELIVERY_STATUSES = (PENDING, DELIVERED, FAILED)


class WebhookEndpoint(TimestampMixin, Base):
    """A URL that receives signed events; ``failing`` once a delivery was given up on."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(32)), nullable=False)
    #: the signing secret, encrypted with the shop's webhook key (:mod:`.signing`)
    secret_ciphertext: Mapped[str] = mapped_column(Text, nullable=False)
    failing_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @property
    def failing(self) -> bool:
        return self.failing_since is not None


class WebhookEvent(Base):
    """Something that happened, as it is sent: written in the transaction that caused it."""

    __tablename__ = "webhook_events"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    #: events with the same key reach one endpoint in the order they happened (``order:<id>``)
    ordering_key: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class WebhookDelivery(Base):
    """One event for one endpoint: pending until delivered or given up on (``failed``)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in DELIVERY_STATUSES)})", name="status"),
        # what the worker looks for: pending and due
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        # an earlier pending delivery of the same key holds the later ones back
        Index(
            "ix_webhook_deliveries_queue",
            "endpoint_id",
            "ordering_key",
            "id",
            postgresql_where=text("status = 'pending' AND ordering_key IS NOT NULL"),
        ),
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    #: sent as ``Bookstore-Delivery``; the same for every attempt
    public_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, unique=True, server_default=text("gen_random_uuid()")
    )
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False)
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True, nullable=False
    )
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    ordering_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    """Every attempt to deliver: when, the status code (if any), how long it took, what went wrong."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True, nullable=False
    )
    attempted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
