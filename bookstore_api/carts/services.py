"""Carts: anonymous or owned, quantities 1..99 per line, subtotal from current prices.

A cart id is an unguessable token, so holding it is what authorizes an anonymous
cart; a cart that belongs to a user is visible to that user only (404 otherwise).
Carts idle for 30 days expire.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

from pyramid.config import Configurator
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, undefer

from ..accounts.identity import Identity
from ..catalog.models import Book
from ..exceptions import Conflict, NotFound, VoucherInvalid
from ..vouchers.pricing import PricedLine, ShippingRule
from ..vouchers.services import VoucherService, normalize_code
from .models import Cart, CartItem

CART_IDLE_DAYS = 30
MAX_LINES = 100


def cart_expiry_cutoff() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=CART_IDLE_DAYS)


class CartService:
    def __init__(self, dbsession: Session, currency: str, shipping: ShippingRule | None = None):
        self.db = dbsession
        self.currency = currency
        self.shipping = shipping or ShippingRule(Decimal("0.00"), None)

    def create(self, identity: Identity | None) -> tuple[Cart, bool]:
        if identity is not None:
            existing = self.db.scalar(select(Cart).where(Cart.user_id == identity.user_id))
            if existing is not None and existing.updated_at >= cart_expiry_cutoff():
                return existing, False
            if existing is not None:
                self.db.delete(existing)
                self.db.flush()
        cart = Cart(id=secrets.token_urlsafe(24), user_id=identity.user_id if identity else None)
        self.db.add(cart)
        self.db.flush()
        self.db.refresh(cart)
        return cart, True

    def get(self, cart_id: str, identity: Identity | None, *, for_update: bool = False) -> Cart:
        statement = select(Cart).where(Cart.id == cart_id)
        if for_update:
            statement = statement.with_for_update()
        cart = self.db.scalar(statement)
        if cart is None:
            raise NotFound("cart")
        if cart.user_id is not None and (identity is None or identity.user_id != cart.user_id):
            raise NotFound("cart")
        if cart.updated_at < cart_expiry_cutoff():
            self.db.delete(cart)
            self.db.flush()
            raise NotFound("cart")
        return cart

    def _touch(self, cart: Cart) -> None:
        cart.updated_at = func.now()

    def set_item(self, cart: Cart, book_id: int, quantity: int) -> Cart:
        book = self.db.get(Book, book_id)
        if book is None or book.archived_at is not None:
            raise NotFound("book")
        if len(cart.items) >= MAX_LINES and all(item.book_id != book_id for item in cart.items):
            raise Conflict("cart_full", f"A cart holds at most {MAX_LINES} different books.")
        self.db.execute(
            insert(CartItem)
            .values(cart_id=cart.id, book_id=book_id, quantity=quantity)
            .on_conflict_do_update(index_elements=["cart_id", "book_id"], set_={"quantity": quantity})
        )
        self._touch(cart)
        self.db.flush()
        self.db.refresh(cart)
        self.db.expire(cart, ["items"])
        return cart

    def remove_item(self, cart: Cart, book_id: int) -> Cart:
        self.db.execute(delete(CartItem).where(CartItem.cart_id == cart.id, CartItem.book_id == book_id))
        self._touch(cart)
        self.db.flush()
        self.db.refresh(cart)
        self.db.expire(cart, ["items"])
        return cart

    def empty(self, cart: Cart) -> None:
        self.db.execute(delete(CartItem).where(CartItem.cart_id == cart.id))
        self._touch(cart)

    def merge(self, target: Cart, from_cart_id: str, identity: Identity) -> Cart:
        """Fold an anonymous cart into the user's cart; the anonymous cart is then gone."""
        if from_cart_id == target.id:
            return target
        source = self.db.scalar(select(Cart).where(Cart.id == from_cart_id).with_for_update())
        if source is None or source.user_id is not None:
            raise NotFound("cart to merge")
        for item in source.items:
            self.db.execute(
                insert(CartItem)
                .values(cart_id=target.id, book_id=item.book_id, quantity=item.quantity)
                .on_conflict_do_update(
                    index_elements=["cart_id", "book_id"],
                    set_={"quantity": func.least(CartItem.quantity + item.quantity, 99)},
                )
            )
        self.db.delete(source)
        self._touch(target)
        self.db.flush()
        self.db.refresh(target)
        self.db.expire(target, ["items"])
        return target

    def render(self, cart: Cart, *, voucher_code: str | None = None, identity: Identity | None = None) -> dict:
        """The cart with current prices, and what checkout would charge for it now.

        Priced by the same call as checkout (:meth:`VoucherService.price`), so ``total`` is
        the amount ``POST /orders`` charges; a voucher that cannot be used is reported in
        ``voucher_error`` (with the checkout's reason) and left out of the total.
        """
        book_ids = [item.book_id for item in cart.items]
        books = (
            {
                b.id: b
                for b in self.db.scalars(select(Book).where(Book.id.in_(book_ids)).options(undefer(Book.genre_ids)))
            }
            if book_ids
            else {}
        )
        items = []
        lines = []
        for item in cart.items:
            book = books[item.book_id]
            line_total = book.price * item.quantity
            lines.append(PricedLine(book.id, item.quantity, book.price, frozenset(book.genre_ids or ())))
            items.append(
                {
                    "book_id": book.id,
                    "title": book.title,
                    "quantity": item.quantity,
                    "unit_price": f"{book.price:.2f}",
                    "line_total": f"{line_total:.2f}",
                    "available_quantity": book.stock_quantity,
                    "in_stock": book.stock_quantity >= item.quantity and book.archived_at is None,
                }
            )
        body: dict[str, Any] = {"id": cart.id, "items": items, "item_count": sum(item["quantity"] for item in items)}
        vouchers = VoucherService(self.db)
        user_id = identity.user_id if identity is not None else None
        try:
            quote, _ = vouchers.price(lines, self.shipping, voucher_code, user_id)
        except VoucherInvalid as exc:
            quote, _ = vouchers.price(lines, self.shipping, None, user_id)
            body["voucher_error"] = {"message": exc.message, **exc.details}
        if voucher_code is not None:
            body["voucher_code"] = normalize_code(voucher_code)
        if quote.voucher_code is not None:
            body["discount"] = f"{quote.discount:.2f}"
        body.update(
            subtotal=f"{quote.subtotal:.2f}",
            shipping=f"{quote.shipping:.2f}",
            total=f"{quote.total:.2f}",
            currency=self.currency,
        )
        return body

    def purge_expired(self) -> int:
        result = self.db.execute(delete(Cart).where(Cart.updated_at < cart_expiry_cutoff()))
        return result.rowcount or 0


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    currency = settings["bookstore.currency"]
    shipping = ShippingRule.from_settings(settings)
    config.register_service_factory(
        lambda context, request: CartService(request.dbsession, currency, shipping), CartService
    )
