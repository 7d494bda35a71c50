"""Every change of a book's stock: always through the ledger, never below zero.

Checkout takes stock with a conditional ``UPDATE ... WHERE stock_quantity >= :n``
per book, always in ascending book id order, so concurrent checkouts wait for each
other instead of deadlocking and can never take more than there is; each
statement also writes its ledger row. A cancelled order's stock comes back the
same way (ascending ids, a ledger row per book), and staff restock and adjust
through :meth:`InventoryService.change_stock`. Each change bumps the book's
cache version once the transaction commits. A change that brings a book back
from 0 queues the back-in-stock mails of its wishlist in the same transaction; a
change that takes a book to :data:`LOW_STOCK_THRESHOLD` copies or fewer writes a
``book.low_stock`` webhook event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pyramid.config import Configurator
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed

from ..catalog.cache import CatalogCache
from ..catalog.models import Book
from ..exceptions import InsufficientStock, NotFound, OutOfStock
from ..mail.messages import MailComposer
from ..webhooks import events as webhook_events
from ..wishlist.services import queue_back_in_stock
from .models import StockMovement

#: Take ``quantity`` copies if there are that many, and write the ledger row, in one round trip.
TAKE_STOCK = text(
    """
    WITH taken AS (
        UPDATE books
        SET stock_quantity = stock_quantity - :quantity, sales_count = sales_count + :quantity
        WHERE id = :book_id AND stock_quantity >= :quantity AND archived_at IS NULL
        RETURNING id, stock_quantity
    )
    INSERT INTO stock_movements (book_id, delta, reason, resulting_quantity, order_id, actor_user_id)
    SELECT id, -:quantity, 'order', stock_quantity, :order_id, :actor FROM taken
    RETURNING resulting_quantity
    """
)

#: stock at or below this is low: the low-stock report's default, and when ``book.low_stock`` is sent
LOW_STOCK_THRESHOLD = 5


def fell_to_low_stock(before: int, after: int, threshold: int = LOW_STOCK_THRESHOLD) -> bool:
    """Whether a change from ``before`` to ``after`` copies crossed into low stock."""
    return after <= threshold < before


#: Set several books' stock to given levels and write a ledger row for each one that changed, in
#: one statement: the books are locked in id order, the delta is taken against the locked value.
SET_STOCK_LEVELS = text(
    """
    WITH wanted AS (
        SELECT * FROM unnest(CAST(:book_ids AS bigint[]), CAST(:quantities AS integer[])) AS w(book_id, quantity)
    ),
    locked AS (
        SELECT b.id, b.stock_quantity AS before
        FROM books b JOIN wanted ON wanted.book_id = b.id
        WHERE b.stock_quantity <> wanted.quantity
        ORDER BY b.id
        FOR UPDATE OF b
    ),
    changed AS (
        UPDATE books b SET stock_quantity = wanted.quantity
        FROM locked JOIN wanted ON wanted.book_id = locked.id
        WHERE b.id = locked.id AND b.stock_quantity <> wanted.quantity
        RETURNING b.id, b.stock_quantity, b.stock_quantity - locked.before AS delta
    )
    INSERT INTO stock_movements (book_id, delta, reason, note, resulting_quantity, actor_user_id)
    SELECT id, delta, :reason, :note, stock_quantity, :actor FROM changed
    RETURNING book_id
    """
)


#: Ledger rows for new books' opening stock (written with the book, in the same transaction).
RECORD_OPENING_STOCK = text(
    """
    INSERT INTO stock_movements (book_id, delta, reason, note, resulting_quantity, actor_user_id)
    SELECT b.id, b.stock_quantity, :reason, :note, b.stock_quantity, :actor
    FROM books b
    WHERE b.id = ANY(CAST(:book_ids AS bigint[])) AND b.stock_quantity > 0
    """
)


def shortages(items: Iterable[tuple[int, int]], stock: Mapping[int, int]) -> list[dict]:
    """The ``(book_id, quantity)`` items that ``stock`` (book id -> copies) cannot fill."""
    return [
        {"book_id": book_id, "requested": quantity, "available": stock.get(book_id, 0)}
        for book_id, quantity in items
        if stock.get(book_id, 0) < quantity
    ]


class InventoryService:
    def __init__(self, dbsession: Session, cache: CatalogCache | None = None, mail: MailComposer | None = None):
        self.db = dbsession
        self.cache = cache
        self.mail = mail

    def _came_back(self, book_id: int, before: int, after: int) -> None:
        """Stock went from none to some: the wishers hear of it (once per restock)."""
        self._in_stock_changed(before, after)
        if before <= 0 < after and self.mail is not None:
            queue_back_in_stock(self.db, self.mail, book_id)

    def _in_stock_changed(self, before: int, after: int) -> None:
        """A book sold out or came back: "in stock only" listings hold other books now, so the
        catalogue version moves too (the book's own version moves with every stock change)."""
        if (before > 0) != (after > 0) and self.cache is not None:
            self.cache.after_commit_bump(catalog=True)

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
                raise NotFound("book")
            raise InsufficientStock(book_id, current, delta)
        self._came_back(book_id, row.stock_quantity - delta, row.stock_quantity)
        self._low_stock_check(book_id, row.stock_quantity - delta, row.stock_quantity)
        return self.record(
            book_id, delta, reason, row.stock_quantity, note=note, actor_user_id=actor_user_id, order_id=order_id
        )

    def set_stock_levels(
        self, levels: list[tuple[int, int]], reason: str, *, note: str | None, actor_user_id: int | None
    ) -> list[int]:
        """Bring each ``(book_id, quantity)`` to that quantity (never below zero), with a ledger row each.

        For bulk changes (the catalogue import): one statement per call, whatever
        the number of books; books already at their level are left alone (no row).
        Returns the ids of the books whose stock changed.
        """
        if not levels:
            return []
        if any(quantity < 0 for _, quantity in levels):
            raise ValueError("stock levels are never negative")
        levels = sorted(levels)
        changed = list(
            self.db.execute(
                SET_STOCK_LEVELS,
                {
                    "book_ids": [book_id for book_id, _ in levels],
                    "quantities": [quantity for _, quantity in levels],
                    "reason": reason,
                    "note": note,
                    "actor": actor_user_id,
                },
            ).scalars()
        )
        mark_changed(self.db)  # raw SQL: tell the transaction manager there is something to commit
        self.stock_changed(changed)
        return changed

    def record_opening_stock(
        self, book_ids: list[int], reason: str, *, note: str | None, actor_user_id: int | None
    ) -> int:
        """Write the ledger rows of books just created in this transaction with stock already on them.

        A bulk load (the catalogue import) inserts a new book with its opening
        stock in one write instead of inserting it empty and then updating it;
        this records that stock as the book's first movement (from 0), so the
        ledger still explains every copy. Returns the number of rows written.
        """
        if not book_ids:
            return 0
        written = self.db.execute(
            RECORD_OPENING_STOCK, {"book_ids": book_ids, "reason": reason, "note": note, "actor": actor_user_id}
        ).rowcount
        mark_changed(self.db)
        self.stock_changed(book_ids)
        return written

    def take_for_order(self, order_id: int, items: list[tuple[int, int]], actor_user_id: int) -> None:
        """Take the ``(book_id, quantity)`` items for a new order, or raise :class:`OutOfStock` (409).

        One statement per book takes the copies and writes the ledger row, in
        ascending book id order (no deadlocks between concurrent checkouts). Run
        it last in the checkout transaction: the book rows stay locked until commit.
        """
        for book_id, quantity in sorted(items):
            taken = self.db.execute(
                TAKE_STOCK, {"book_id": book_id, "quantity": quantity, "order_id": order_id, "actor": actor_user_id}
            ).first()
            if taken is None:
                raise OutOfStock(
                    "Some books sold out while you were checking out.",
                    self.current_shortages(items) or [{"book_id": book_id}],
                )
            self._low_stock_check(book_id, taken.resulting_quantity + quantity, taken.resulting_quantity)
            self._in_stock_changed(taken.resulting_quantity + quantity, taken.resulting_quantity)
        self.stock_changed([book_id for book_id, _ in items])

    def return_for_order(self, order_id: int, items: list[tuple[int, int]], actor_user_id: int) -> None:
        """Put a cancelled order's ``(book_id, quantity)`` items back in stock, with their ledger rows."""
        for book_id, quantity in sorted(items):
            resulting = self.db.execute(
                update(Book)
                .where(Book.id == book_id)
                .values(
                    stock_quantity=Book.stock_quantity + quantity,
                    sales_count=func.greatest(Book.sales_count - quantity, 0),
                )
                .returning(Book.stock_quantity)
            ).scalar_one()
            self._came_back(book_id, resulting - quantity, resulting)
            self.record(book_id, quantity, "cancel", resulting, order_id=order_id, actor_user_id=actor_user_id)

    def _low_stock_check(self, book_id: int, before: int, after: int) -> None:
        """A change that takes a book into low stock sends ``book.low_stock`` (in this transaction)."""
        if fell_to_low_stock(before, after):
            webhook_events.book_low_stock(self.db, book_id, after, LOW_STOCK_THRESHOLD)

    def current_shortages(self, items: list[tuple[int, int]]) -> list[dict]:
        """The items that the live (unarchived) stock cannot fill right now."""
        stock = self.db.execute(
            select(Book.id, Book.stock_quantity).where(
                Book.id.in_([book_id for book_id, _ in items]), Book.archived_at.is_(None)
            )
        ).all()
        return shortages(items, dict(stock))

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
        """A staff restock or adjustment (openapi.yaml has checked the reason and the delta's range)."""
        movement = self.change_stock(book_id, delta, reason, note=note, actor_user_id=actor_user_id)
        self.db.flush()
        return movement

    def ledger(self, book_id: int, page: int, per_page: int) -> tuple[list[StockMovement], int]:
        if self.db.get(Book, book_id) is None:
            raise NotFound("book")
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
        lambda context, request: InventoryService(
            request.dbsession, request.registry["catalog_cache"], request.registry["mail"]
        ),
        InventoryService,
    )
