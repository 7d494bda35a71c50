"""Reviews: only buyers review, once per book; the book's rating stays exact.

A review counts while its author still has a purchase of the book that was not
cancelled: cancelling the last one withdraws the review (hidden from the book's
reviews, out of its rating) in the same transaction as the cancel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from pyramid.config import Configurator
from sqlalchemy import Numeric, case, cast, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..catalog.cache import CatalogCache
from ..catalog.models import Book
from ..exceptions import Conflict, Forbidden, NotFound
from ..orders.lifecycle import CANCELLED
from ..orders.models import Order, OrderLine
from .models import Review


class ReviewService:
    def __init__(self, dbsession: Session, cache: CatalogCache | None = None):
        self.db = dbsession
        self.cache = cache

    def _live_book(self, book_id: int) -> Book:
        book = self.db.get(Book, book_id)
        if book is None or book.archived_at is not None:
            raise NotFound("book")
        return book

    @staticmethod
    def _bought(user_id: int, book_id: int):
        """Whether the user has an order with the book that was not cancelled (a buyer)."""
        return exists().where(
            OrderLine.book_id == book_id,
            OrderLine.order_id == Order.id,
            Order.user_id == user_id,
            Order.status != CANCELLED,
        )

    def has_bought(self, user_id: int, book_id: int) -> bool:
        return bool(self.db.scalar(select(self._bought(user_id, book_id))))

    def can_review(self, user_id: int, book_id: int) -> bool:
        """Whether the user may review the book now: they bought it and have not reviewed it yet."""
        reviewed = exists().where(Review.book_id == book_id, Review.user_id == user_id)
        return bool(self.db.scalar(select(self._bought(user_id, book_id) & ~reviewed)))

    def create(self, book_id: int, user_id: int, rating: object, title: object, body: object) -> Review:
        # openapi.yaml has checked rating, title and body
        self._live_book(book_id)
        if not self.has_bought(user_id, book_id):
            raise Forbidden("Only customers who bought this book can review it.", code="not_a_buyer")
        if self.db.scalar(select(User.email_verified_at).where(User.id == user_id)) is None:
            raise Forbidden("Confirm your e-mail address before writing reviews.", code="email_unverified")
        review = Review(book_id=book_id, user_id=user_id, rating=rating, title=(title or None), body=body.strip())
        try:
            with self.db.begin_nested():
                self.db.add(review)
                self.db.flush()
        except IntegrityError as exc:
            raise Conflict("already_reviewed", "You have already reviewed this book.") from exc
        # One statement: concurrent reviews of the same book cannot lose an update.
        self.db.execute(
            update(Book)
            .where(Book.id == book_id)
            .values(
                rating_sum=Book.rating_sum + rating,
                rating_count=Book.rating_count + 1,
                average_rating=func.round(cast(Book.rating_sum + rating, Numeric) / (Book.rating_count + 1), 2),
            )
        )
        if self.cache is not None:
            self.cache.after_commit_bump(books=[book_id])
        return review

    def list_for_book(self, book_id: int, page: int, per_page: int) -> tuple[list[tuple[Review, str]], int]:
        self._live_book(book_id)
        shown = (Review.book_id == book_id) & Review.withdrawn_at.is_(None)
        total = self.db.scalar(select(func.count()).select_from(Review).where(shown)) or 0
        rows = self.db.execute(
            select(Review, User.name)
            .join(User, User.id == Review.user_id)
            .where(shown)
            .order_by(Review.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        ).all()
        return [(review, name) for review, name in rows], total


def _take_out_of_ratings(db: Session, withdrawn: list[tuple[int, int]]) -> None:
    """Take withdrawn ``(book_id, rating)`` reviews out of their books' ratings (one statement per book)."""
    for book_id, rating in sorted(withdrawn):
        db.execute(
            update(Book)
            .where(Book.id == book_id)
            .values(
                rating_sum=Book.rating_sum - rating,
                rating_count=Book.rating_count - 1,
                average_rating=case(
                    (Book.rating_count <= 1, 0),
                    else_=func.round(cast(Book.rating_sum - rating, Numeric) / (Book.rating_count - 1), 2),
                ),
            )
            .execution_options(synchronize_session=False)
        )


def delete_user_reviews(db: Session, cache: CatalogCache | None, user_id: int) -> int:
    """A closed account's reviews go, and out of their books' ratings; returns how many."""
    withdrawn = db.execute(
        update(Review)
        .where(Review.user_id == user_id, Review.withdrawn_at.is_(None))
        .values(withdrawn_at=dt.datetime.now(dt.UTC))
        .returning(Review.book_id, Review.rating)
    ).all()
    _take_out_of_ratings(db, [(book_id, rating) for book_id, rating in withdrawn])
    removed = db.execute(delete(Review).where(Review.user_id == user_id).returning(Review.id)).all()
    if withdrawn and cache is not None:
        cache.after_commit_bump(books=[book_id for book_id, _ in withdrawn])
    return len(removed)


def withdraw_unbought_reviews(db: Session, cache: CatalogCache | None, user_id: int, book_ids: Iterable[int]) -> None:
    """After a cancel: the user's reviews of these books that no live purchase backs any more are
    withdrawn and taken out of each book's rating (one statement per book: no lost update)."""
    still_bought = exists().where(
        OrderLine.book_id == Review.book_id,
        OrderLine.order_id == Order.id,
        Order.user_id == Review.user_id,
        Order.status != CANCELLED,
    )
    withdrawn = db.execute(
        update(Review)
        .where(
            Review.user_id == user_id,
            Review.book_id.in_(sorted(set(book_ids))),
            Review.withdrawn_at.is_(None),
            ~still_bought,
        )
        .values(withdrawn_at=dt.datetime.now(dt.UTC))
        .returning(Review.book_id, Review.rating)
    ).all()
    _take_out_of_ratings(db, [(book_id, rating) for book_id, rating in withdrawn])
    if withdrawn and cache is not None:
        cache.after_commit_bump(books=[book_id for book_id, _ in withdrawn])


def review_out(review: Review, reviewer_name: str) -> dict:
    return {
        "id": review.id,
        "book_id": review.book_id,
        "rating": review.rating,
        "title": review.title,
        "body": review.body,
        "reviewer_name": reviewer_name,
        "created_at": review.created_at.isoformat() if review.created_at else None,
    }


def includeme(config: Configurator) -> None:
    config.register_service_factory(
        lambda context, request: ReviewService(request.dbsession, request.registry["catalog_cache"]), ReviewService
    )
