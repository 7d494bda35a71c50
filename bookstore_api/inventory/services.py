"""Stock changes, always through the ledger, never below zero."""

from __future__ import annotations

from pyramid.config import Configurator
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..catalog.cache import CatalogCache
from ..catalog.models import Book
from ..http.errors import conflict, invalid, not_found
from .models import StockMovement


class InventoryService:
    def __init__(self, dbsession: Session, cache: CatalogCache | None = None):
        self.db = dbsession
        self.cache = cache

    def change_stock(
        self,
        book_id: int,
        delta: int,
        reason: str,
        *,
        note: str | None = None,
        actor_user_id: int | None = None,
        order_id: int | None = None,
    ) -> StockMovement:
        """Apply ``delta`` atomically and write its ledger row; 409 if stock would go below zero."""
        row = self.db.execute(
            update(Book)
            .where(Book.id == book_id, Book.stock_quantity + delta >= 0)
            .values(stock_quantity=Book.stock_quantity + delta)
            .returning(Book.stock_quantity)
        ).first()
        if row is None:
            current = self.db.scalar(select(Book.stock_quantity).where(Book.id == book_id))
            if current is None:
                raise not_found("book")
            raise conflict(
                "insufficient_stock",
                "Stock cannot go below zero.",
                {"book_id": book_id, "stock_quantity": current, "delta": delta},
            )
        return self.record(
            book_id, delta, reason, row.stock_quantity, note=note, actor_user_id=actor_user_id, order_id=order_id
        )

    def record(
        self,
        book_id: int,
        delta: int,
        reason: str,
        resulting_quantity: int,
        *,
        note: str | None = None,
        actor_user_id: int | None = None,
        order_id: int | None = None,
    ) -> StockMovement:
        """Write the ledger row for a stock change the caller has just applied."""
        movement = StockMovement(
            book_id=book_id,
            delta=delta,
            reason=reason,
            note=note,
            resulting_quantity=resulting_quantity,
            actor_user_id=actor_user_id,
            order_id=order_id,
        )
        self.db.add(movement)
        self.stock_changed([book_id])
        return movement

    def stock_changed(self, book_ids: list[int]) -> None:
        """Books whose stock this transaction changed: their cached entries go once it commits."""
        if self.cache is not None:
            self.cache.after_commit_bump(books=book_ids)

    def staff_movement(
        self, book_id: int, delta: int, reason: str, note: str | None, actor_user_id: int
    ) -> StockMovement:
        fields = {}
        if reason not in ("restock", "adjustment"):
            fields["reason"] = "Use 'restock' or 'adjustment'."
        if delta == 0 or abs(delta) > 100_000:
            fields["delta"] = "A non-zero whole number up to 100000 either way."
        elif reason == "restock" and delta < 0:
            fields["delta"] = "A restock adds stock; use an adjustment to remove it."
        if fields:
            raise invalid("The stock movement is not valid.", fields)
        movement = self.change_stock(book_id, delta, reason, note=note, actor_user_id=actor_user_id)
        self.db.flush()
        return movement

    def ledger(self, book_id: int, page: int, per_page: int) -> tuple[list[StockMovement], int]:
        if self.db.get(Book, book_id) is None:
            raise not_found("book")
        condition = StockMovement.book_id == book_id
        total = self.db.scalar(select(func.count()).select_from(StockMovement).where(condition)) or 0
        rows = self.db.scalars(
            select(StockMovement)
            .where(condition)
            .order_by(StockMovement.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        return list(rows), total

    def low_stock(self, threshold: int, page: int, per_page: int) -> tuple[list[Book], int]:
        condition = (Book.archived_at.is_(None)) & (Book.stock_quantity <= threshold)
        total = self.db.scalar(select(func.count()).select_from(Book).where(condition)) or 0
        rows = self.db.scalars(
            select(Book)
            .where(condition)
            .order_by(Book.stock_quantity, Book.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        return list(rows), total


def movement_out(movement: StockMovement) -> dict:
    return {
        "id": movement.id,
        "book_id": movement.book_id,
        "delta": movement.delta,
        "reason": movement.reason,
        "note": movement.note,
        "resulting_quantity": movement.resulting_quantity,
        "order_id": movement.order_id,
        "actor_user_id": movement.actor_user_id,
        "created_at": movement.created_at.isoformat() if movement.created_at else None,
    }


def includeme(config: Configurator) -> None:
    config.register_service_factory(
        lambda context, request: InventoryService(request.dbsession, request.registry["catalog_cache"]),
        InventoryService,
    )
