"""The account's personal data: everything held about it (export), and closing it (erasure).

Closing an account anonymises it rather than deleting the row, because its orders
stay (the shop's books need them): the e-mail becomes a unique address under the
reserved ``.invalid`` domain (nothing is ever mailed there, and the real address can
register again), the name is cleared, the password made unusable, every bearer and
one-time token revoked; addresses, wishlist, carts and reviews (out of their books'
ratings) are deleted; orders keep their lines, totals, status and country but lose
the name and street address they shipped to; mails already queued or sent to the
address lose their recipient and text.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..addresses.models import SavedAddress
from ..addresses.services import address_out
from ..carts.models import Cart
from ..catalog.cache import CatalogCache
from ..catalog.models import Book
from ..mail.messages import UNDELIVERABLE_DOMAIN
from ..mail.models import OutboxMessage
from ..orders.models import Order
from ..orders.schemas import order_out
from ..reviews.models import Review
from ..reviews.services import delete_user_reviews
from ..wishlist.models import WishlistItem
from .models import AccountToken, User
from .schemas import user_out
from .services import TokenService

#: what a closed account's password hash is: no password verifies against it
UNUSABLE_PASSWORD = "!closed"  # noqa: S105 - not an argon2 hash: nothing verifies against it


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export(db: Session, user: User) -> dict[str, Any]:
    """Everything the shop holds about the account, as JSON-ready data."""
    addresses = db.scalars(select(SavedAddress).where(SavedAddress.user_id == user.id).order_by(SavedAddress.id))
    wishes = db.execute(
        select(WishlistItem.book_id, Book.title, WishlistItem.created_at)
        .join(Book, Book.id == WishlistItem.book_id)
        .where(WishlistItem.user_id == user.id)
        .order_by(WishlistItem.created_at)
    ).all()
    orders = db.scalars(select(Order).where(Order.user_id == user.id).order_by(Order.id))
    reviews = db.scalars(select(Review).where(Review.user_id == user.id).order_by(Review.id))
    carts = db.scalars(select(Cart).where(Cart.user_id == user.id))
    return {
        "profile": {
            **user_out(user),
            "created_at": _iso(user.created_at),
            "email_verified_at": _iso(user.email_verified_at),
        },
        "addresses": [address_out(address) for address in addresses],
        "wishlist": [{"book_id": book_id, "title": title, "added_at": _iso(added)} for book_id, title, added in wishes],
        "orders": [order_out(order) for order in orders],
        "reviews": [
            {
                "id": review.id,
                "book_id": review.book_id,
                "rating": review.rating,
                "title": review.title,
                "body": review.body,
                "created_at": _iso(review.created_at),
                "withdrawn": review.withdrawn_at is not None,
            }
            for review in reviews
        ],
        "carts": [
            {
                "id": cart.id,
                "items": [
                    {"book_id": item.book_id, "quantity": item.quantity, "added_at": _iso(item.added_at)}
                    for item in cart.items
                ],
                "updated_at": _iso(cart.updated_at),
            }
            for cart in carts
        ],
    }


def erase(db: Session, user: User, tokens: TokenService, cache: CatalogCache | None) -> None:
    """Close the account and anonymise its personal data (see the module's docstring)."""
    old_email = user.email
    placeholder = f"closed-{user.id}-{secrets.token_hex(8)}@{UNDELIVERABLE_DOMAIN}"
    now = dt.datetime.now(dt.UTC)
    tokens.revoke_all(user.id)
    user.email = placeholder
    user.name = ""
    user.password_hash = UNUSABLE_PASSWORD
    user.is_active = False
    user.email_verified_at = None
    user.deleted_at = now
    db.flush()
    db.execute(delete(AccountToken).where(AccountToken.user_id == user.id))
    db.execute(delete(SavedAddress).where(SavedAddress.user_id == user.id))
    db.execute(delete(WishlistItem).where(WishlistItem.user_id == user.id))
    db.execute(delete(Cart).where(Cart.user_id == user.id))
    delete_user_reviews(db, cache, user.id)
    db.execute(
        update(Order)
        .where(Order.user_id == user.id)
        .values(ship_name="", ship_line1="", ship_line2=None, ship_city="", ship_region=None, ship_postal_code="")
        .execution_options(synchronize_session=False)
    )
    db.execute(delete(OutboxMessage).where(OutboxMessage.recipient == old_email, OutboxMessage.sent_at.is_(None)))
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.recipient == old_email)
        .values(recipient=placeholder, subject="(removed)", body="", html_body=None, payload={})
    )
