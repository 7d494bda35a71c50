"""Wishlists, and back-in-stock mails.

Adding a book is idempotent (``INSERT ... ON CONFLICT DO NOTHING``); an unknown or
archived book is a 404. An account keeps at most ``MAX_WISHES`` books.

When a book's stock goes from 0 to some, the inventory service calls
:func:`queue_back_in_stock` in the same transaction: one mail per customer who
wishes for it and has a verified address, through the outbox. The stock change
that did it is the only one that sees the 0 (the book's row is locked by the
UPDATE), so each restock mails each wisher at most once.
"""

from __future__ import annotations

from pyramid.config import Configurator
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..catalog.models import Book
from ..catalog.services import CatalogService
from ..exceptions import Conflict, NotFound
from ..mail.messages import MailComposer
from .models import WishlistItem

MAX_WISHES = 500


class WishlistService:
    def __init__(self, dbsession: Session, catalog: CatalogService):
        self.db = dbsession
        self.catalog = catalog

    def _live(self, user_id: int):
        return (
            select(WishlistItem.book_id)
            .join(Book, Book.id == WishlistItem.book_id)
            .where(WishlistItem.user_id == user_id, Book.archived_at.is_(None))
        )

    def list(self, user_id: int, page: int, per_page: int) -> tuple[list[Book], int]:
        """The live books on the wishlist, most recently added first."""
        live = self._live(user_id)
        total = self.db.scalar(select(func.count()).select_from(live.subquery())) or 0
        ids = self.db.scalars(
            live.order_by(WishlistItem.created_at.desc(), WishlistItem.book_id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        ).all()
        return self.catalog.books_by_ids(list(ids)), total

    def book_ids(self, user_id: int) -> list[int]:
        return list(self.db.scalars(select(WishlistItem.book_id).where(WishlistItem.user_id == user_id)))

    def add(self, user_id: int, book_id: int) -> None:
        book = self.db.get(Book, book_id)
        if book is None or book.archived_at is not None:
            raise NotFound("book")
        self.db.execute(select(User.id).where(User.id == user_id).with_for_update())  # the cap holds under races
        count = self.db.scalar(select(func.count()).select_from(WishlistItem).where(WishlistItem.user_id == user_id))
        if count >= MAX_WISHES:
            exists = self.db.get(WishlistItem, (user_id, book_id))
            if exists is not None:
                return
            raise Conflict("wishlist_full", f"A wishlist holds at most {MAX_WISHES} books.", {"max": MAX_WISHES})
        self.db.execute(insert(WishlistItem).values(user_id=user_id, book_id=book_id).on_conflict_do_nothing())

    def remove(self, user_id: int, book_id: int) -> None:
        """Take the book off the wishlist (nothing to do when it is not on it)."""
        self.db.execute(delete(WishlistItem).where(WishlistItem.user_id == user_id, WishlistItem.book_id == book_id))


def queue_back_in_stock(db: Session, mail: MailComposer, book_id: int) -> int:
    """A book came back in stock: queue a mail to each verified wisher (returns how many)."""
    book = db.get(Book, book_id)
    if book is None or book.archived_at is not None:
        return 0
    wishers = db.execute(
        select(User.id, User.email, User.name)
        .join(WishlistItem, WishlistItem.user_id == User.id)
        .where(
            WishlistItem.book_id == book_id,
            User.is_active.is_(True),
            User.email_verified_at.is_not(None),
        )
        .order_by(User.id)
    ).all()
    for user_id, email, name in wishers:
        mail.queue(
            db,
            "back_in_stock",
            email,
            {"book_id": book_id, "user_id": user_id},
            name=name,
            book=book,
            book_url=mail.link(f"/books/{book_id}"),
        )
    return len(wishers)


def includeme(config: Configurator) -> None:
    currency = config.get_settings()["bookstore.currency"]

    def factory(context, request) -> WishlistService:
        return WishlistService(
            request.dbsession, CatalogService(request.dbsession, currency, request.registry["catalog_cache"])
        )

    config.register_service_factory(factory, WishlistService)
