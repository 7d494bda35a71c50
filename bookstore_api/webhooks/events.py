"""Writing events: in the transaction that caused them, with a delivery per subscribed endpoint.

:func:`emit` is one statement: it stores the event and queues one delivery for
each endpoint subscribed to its type, or writes nothing when no endpoint is. A
rolled-back order therefore sends nothing, and a committed one always has its
deliveries queued; the worker sends them after the commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed

from .models import TEST_EVENT

EMIT = text(
    """
    WITH targets AS (
        SELECT id FROM webhook_endpoints WHERE CAST(:type AS varchar) = ANY(events)
    ), event AS (
        INSERT INTO webhook_events (id, type, ordering_key, data, created_at)
        SELECT :id, :type, :ordering_key, CAST(:data AS jsonb), :created_at
        WHERE EXISTS (SELECT 1 FROM targets)
        RETURNING id
    )
    INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, ordering_key)
    SELECT targets.id, event.id, :type, :ordering_key FROM targets, event ORDER BY targets.id
    """
)

EMIT_TEST = text(
    """
    WITH event AS (
        INSERT INTO webhook_events (id, type, ordering_key, data, created_at)
        VALUES (:id, :type, NULL, CAST(:data AS jsonb), :created_at)
        RETURNING id
    )
    INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type)
    SELECT :endpoint_id, event.id, :type FROM event
    RETURNING id
    """
)


def _json(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()


def emit(db: Session, event_type: str, data: dict[str, Any], ordering_key: str | None = None) -> None:
    """Record ``event_type`` with ``data`` for every endpoint subscribed to it (in the caller's transaction)."""
    db.execute(
        EMIT,
        {
            "id": uuid.uuid4(),
            "type": event_type,
            "ordering_key": ordering_key,
            "data": _json(data),
            "created_at": dt.datetime.now(dt.UTC),
        },
    )
    mark_changed(db)


def emit_test(db: Session, endpoint_id: int) -> int:
    """Queue a ``webhook.test`` event for one endpoint; the new delivery's id."""
    delivery_id = db.execute(
        EMIT_TEST,
        {
            "id": uuid.uuid4(),
            "type": TEST_EVENT,
            "data": _json({"webhook_id": endpoint_id, "message": "A test event sent from the bookstore."}),
            "created_at": dt.datetime.now(dt.UTC),
            "endpoint_id": endpoint_id,
        },
    ).scalar_one()
    mark_changed(db)
    return delivery_id


def order_paid(db: Session, order_data: dict[str, Any]) -> None:
    emit(db, "order.paid", order_data, f"order:{order_data['id']}")


def order_changed(db: Session, status: str, order_data: dict[str, Any]) -> None:
    """``order.shipped``, ``order.delivered`` or ``order.cancelled`` for an order now in ``status``."""
    emit(db, f"order.{status}", order_data, f"order:{order_data['id']}")


def book_low_stock(db: Session, book_id: int, stock_quantity: int, threshold: int) -> None:
    emit(
        db,
        "book.low_stock",
        {"book_id": book_id, "stock_quantity": stock_quantity, "threshold": threshold},
        f"book:{book_id}",
    )
