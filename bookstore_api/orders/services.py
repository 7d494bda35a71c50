"""Checkout and the order lifecycle: never oversell, never charge twice, never deadlock.

Checkout is one transaction. Stock is taken through the inventory service
(:meth:`~bookstore_api.inventory.services.InventoryService.take_for_order`: a
conditional decrement per book in ascending id order, so concurrent checkouts
wait for each other instead of deadlocking and never oversell). The order, its
lines (with a price snapshot), one ledger row per line, the idempotency record,
the confirmation message and the ``order.paid`` webhook event are written in the
same transaction (each lifecycle transition writes its event the same way).

The card is charged before stock is taken (no row locks are held while a
provider answers); if the transaction then fails for any reason, an after-abort
hook refunds the charge. A retried request with the same Idempotency-Key finds
the committed record and gets the same order back.

Which status changes are allowed, and to whom, is :mod:`.lifecycle`'s table.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import transaction
from pyramid.config import Configurator
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ..accounts.identity import Identity
from ..accounts.models import User
from ..addresses.models import SavedAddress
from ..carts.services import CartService
from ..catalog.models import Book
from ..exceptions import Conflict, InvalidInput, NotFound, OutOfStock, PaymentDeclined, RateLimited
from ..infra.throttle import WindowLimit, longest_wait
from ..inventory.services import InventoryService, shortages
from ..mail.messages import MailComposer
from ..payments.services import PaymentDeclined as CardDeclined
from ..payments.services import PaymentProvider, new_attempt_key
from ..reviews.services import withdraw_unbought_reviews
from ..vouchers.pricing import PricedLine, ShippingRule
from ..vouchers.services import VoucherService
from ..webhooks import events as webhook_events
from . import lifecycle
from .models import IdempotencyKey, Order, OrderLine
from .schemas import Address, CheckoutRequest, order_out

log = logging.getLogger(__name__)
CENT = Decimal("0.01")
#: the largest total the orders table stores (``Numeric(precision, scale)``)
MAX_ORDER_TOTAL = Decimal(10) ** (Order.__table__.c.total.type.precision - Order.__table__.c.total.type.scale) - CENT


#: the mail each transition sends the customer
STATUS_MAILS = {
    lifecycle.SHIP: "order_shipped",
    lifecycle.DELIVER: "order_delivered",
    lifecycle.CANCEL: "order_cancelled",
}

#: the next order id, drawn when an Idempotency-Key is claimed
NEXT_ORDER_ID = text("nextval(pg_get_serial_sequence('orders', 'id'))")


class DeclineLimit:
    """Declined cards per user and per address, so checkout cannot be used to test stolen cards.

    Only declines count: a shopper whose orders go through is never slowed, and
    nobody can use up another's allowance (a user's count needs their token, an
    address's count needs that address).
    """

    def __init__(self, per_user: WindowLimit, per_address: WindowLimit):
        self.per_user = per_user
        self.per_address = per_address

    def check(self, user_id: int, address: str | None) -> None:
        wait = longest_wait(
            self.per_user.retry_after(str(user_id)), self.per_address.retry_after(address) if address else None
        )
        if wait is not None:
            raise RateLimited("Too many declined payments; try again later.", wait)

    def declined(self, user_id: int, address: str | None) -> None:
        self.per_user.hit(str(user_id))
        if address:
            self.per_address.hit(address)


class OrderService:
    def __init__(
        self,
        dbsession: Session,
        payments: PaymentProvider,
        shipping: ShippingRule,
        currency: str,
        carts: CartService,
        inventory: InventoryService,
        declines: DeclineLimit | None = None,
        mail: MailComposer | None = None,
        vouchers: VoucherService | None = None,
    ):
        self.db = dbsession
        self.payments = payments
        self.shipping = shipping
        self.currency = currency
        self.carts = carts
        self.inventory = inventory
        self.declines = declines
        self.mail = mail
        self.vouchers = vouchers or VoucherService(dbsession)

    # -- checkout --------------------------------------------------------------

    def _claim_key(self, user_id: int, key: str, fingerprint: str) -> tuple[int | None, Order | None]:
        """Claim the Idempotency-Key: ``(new order id, None)``, or ``(None, order)`` of an earlier request.

        A concurrent request with the same key waits on the unique index until the
        first one commits (then sees its order) or aborts (then claims the key itself).
        The claim draws the new order's id from the orders sequence in the same
        statement, so the order, its lines and its confirmation are written in one
        flush afterwards (the key's foreign key is checked at commit).
        """
        claimed = self.db.execute(
            insert(IdempotencyKey)
            .values(user_id=user_id, key=key, request_hash=fingerprint, order_id=NEXT_ORDER_ID)
            .on_conflict_do_nothing(constraint="uq_idempotency_keys_user_id_key")
            .returning(IdempotencyKey.order_id)
        ).scalar()
        if claimed is not None:
            return claimed, None
        record = self.db.scalar(
            select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        )
        if record.request_hash != fingerprint:
            raise Conflict("idempotency_key_reused", "This Idempotency-Key was already used for a different request.")
        return None, self.db.get(Order, record.order_id)

    def _wanted_items(self, request: CheckoutRequest, identity: Identity) -> tuple[list[tuple[int, int]], Any]:
        if request.cart_id is None:
            return list(request.items), None
        cart = self.carts.get(request.cart_id, identity, for_update=True)
        items = sorted((item.book_id, item.quantity) for item in cart.items)
        if not items:
            raise InvalidInput("The cart is empty.", {"cart_id": "empty"}, code="cart_empty")
        return items, cart

    def place_order(
        self, identity: Identity, key: str, request: CheckoutRequest, address: str | None = None
    ) -> tuple[Order, bool]:
        """Check everything, then charge, then write: nothing that can refuse the order runs after the charge
        but taking the stock (a race lost to another buyer), which the after-abort hook refunds."""
        order_id, existing = self._claim_key(identity.user_id, key, request.fingerprint())
        if existing is not None:
            return existing, False
        if self.declines is not None:
            self.declines.check(identity.user_id, address)
        items, cart = self._wanted_items(request, identity)
        ship_to = self._shipping_address(request, identity)

        books = {
            row.id: row
            for row in self.db.execute(
                select(Book.id, Book.price, Book.stock_quantity, Book.title, Book.genre_ids).where(
                    Book.id.in_([book_id for book_id, _ in items]), Book.archived_at.is_(None)
                )
            )
        }
        unknown = [book_id for book_id, _ in items if book_id not in books]
        if unknown:
            raise NotFound(f"book {unknown[0]}")
        short = shortages(items, {book_id: book.stock_quantity for book_id, book in books.items()})
        if short:  # fail fast, before charging the card
            raise OutOfStock("Some books are not available in the quantity asked for.", short)

        # The cart preview prices through the same call: what it showed is what is charged here.
        lines = [
            PricedLine(book_id, quantity, books[book_id].price, frozenset(books[book_id].genre_ids or ()))
            for book_id, quantity in items
        ]
        quote, voucher = self.vouchers.price(lines, self.shipping, request.voucher_code, identity.user_id)
        subtotal, shipping, discount, total = quote.subtotal, quote.shipping, quote.discount, quote.total
        if (
            total > MAX_ORDER_TOTAL or subtotal > MAX_ORDER_TOTAL
        ):  # what orders.total can hold; checked before the card is charged
            raise InvalidInput(
                f"One order may total at most {MAX_ORDER_TOTAL} {self.currency}; split it into several.",
                {"items": "The order's total is too large."},
            )
        charge = self._charge(identity, key, request, total, address)
        self._refund_if_not_committed(charge.reference, total)

        # Write everything that touches no shared row first ...
        now = dt.datetime.now(dt.UTC)
        order = Order(
            id=order_id,
            user_id=identity.user_id,
            status=lifecycle.INITIAL,
            created_at=now,
            updated_at=now,
            subtotal=subtotal,
            shipping=shipping,
            discount=discount,
            voucher_code=voucher.code if voucher is not None else None,
            total=total,
            currency=self.currency,
            ship_name=ship_to.name,
            ship_line1=ship_to.line1,
            ship_line2=ship_to.line2,
            ship_city=ship_to.city,
            ship_region=ship_to.region,
            ship_postal_code=ship_to.postal_code,
            ship_country=ship_to.country,
            payment_brand=charge.brand,
            payment_last4=charge.last4,
            payment_reference=charge.reference,
            lines=[
                OrderLine(
                    book_id=book_id, title=books[book_id].title, quantity=quantity, unit_price=books[book_id].price
                )
                for book_id, quantity in items
            ],
        )
        # Plain INSERTs: nothing written here is read back in this transaction, so the
        # unit of work (identity map, change tracking) would only cost time. ``order``
        # itself stays out of the session: it is what the response is rendered from.
        self.db.execute(insert(Order.__table__), [_column_values(order)])
        self.db.execute(
            insert(OrderLine.__table__), [_column_values(line) | {"order_id": order.id} for line in order.lines]
        )
        if self.mail is not None:
            self.mail.queue(
                self.db,
                "order_confirmation",
                identity.email,
                {"order_id": order.id},
                **self.mail.order_context(order, identity.name),
            )
        webhook_events.order_paid(self.db, order_out(order))
        if cart is not None:
            self.carts.empty(cart)
            self.db.flush()

        # ... then take the stock, last, so the hot book rows stay locked only until the
        # commit that follows (one statement per book, ascending ids: no deadlocks).
        # The order keeps the price read above: it is the price the card was charged.
        self.inventory.take_for_order(order.id, items, identity.user_id)
        # ... and the voucher's use last of all (its row is the hottest: every checkout with the
        # code waits on it), counted exactly or refused (the charge is then refunded).
        if voucher is not None:
            self.vouchers.redeem(voucher, identity.user_id, order.id, discount)
        return order, True

    def _charge(self, identity: Identity, key: str, request: CheckoutRequest, total: Decimal, address: str | None):
        """Charge the card; a decline is logged with its reason (for staff) and told to the client as one kind."""
        try:
            return self.payments.charge(
                total, self.currency, request.card, new_attempt_key(f"order:{identity.user_id}:{key}")
            )
        except CardDeclined as exc:
            log.warning(
                "payment declined",
                extra={
                    "event": "payment_declined",
                    "reason": exc.reason,
                    "user_id": identity.user_id,
                    "client_address": address,
                    "idempotency_key": key,
                    "amount": str(total),
                    "currency": self.currency,
                    "card_brand": request.card.brand,
                    "card_last4": request.card.last4,
                },
            )
            if self.declines is not None:
                self.declines.declined(identity.user_id, address)
            raise PaymentDeclined("declined") from exc

    def _refund_if_not_committed(self, reference: str, amount: Decimal) -> None:
        def refund(*args: object) -> None:
            committed = bool(args[0]) if args else False
            if committed:
                return
            try:
                self.payments.refund(reference, amount, f"void:{reference}")
            except Exception:
                log.exception("could not void charge %s after a failed checkout", reference)

        current = transaction.get()
        current.addAfterCommitHook(refund)
        current.addAfterAbortHook(refund)

    def _shipping_address(self, request: CheckoutRequest, identity: Identity) -> Address:
        """What the order ships to: the address in the request, or a copy of the customer's saved one."""
        if request.address is not None:
            return request.address
        saved = self.db.get(SavedAddress, request.address_id)
        if saved is None or saved.user_id != identity.user_id:
            raise NotFound("address")
        return Address(saved.name, saved.line1, saved.line2, saved.city, saved.postal_code, saved.country, saved.region)

    # -- reading ---------------------------------------------------------------

    def get(self, order_id: int, identity: Identity, *, for_update: bool = False) -> Order:
        statement = select(Order).where(Order.id == order_id)
        if for_update:
            statement = statement.with_for_update()
        order = self.db.scalar(statement)
        if order is None or (order.user_id != identity.user_id and not identity.is_staff):
            raise NotFound("order")
        return order

    def list(self, identity: Identity, status: str | None, page: int, per_page: int) -> tuple[list[Order], int]:
        condition = Order.status == status if status else None
        statement = select(Order)
        count = select(func.count()).select_from(Order)
        if not identity.is_staff:
            statement = statement.where(Order.user_id == identity.user_id)
            count = count.where(Order.user_id == identity.user_id)
        if condition is not None:
            statement = statement.where(condition)
            count = count.where(condition)
        total = self.db.scalar(count) or 0
        rows = self.db.scalars(statement.order_by(Order.id.desc()).offset((page - 1) * per_page).limit(per_page))
        return list(rows), total

    # -- lifecycle -------------------------------------------------------------

    def actions(self, order: Order, identity: Identity) -> list[str]:
        """What this caller may do with the order now (the order's ``actions``)."""
        return lifecycle.allowed_actions(order.status, owner=order.user_id == identity.user_id, staff=identity.is_staff)

    def transition(self, order_id: int, identity: Identity, action: str) -> Order:
        """Make one of the lifecycle's transitions, if the table allows it to this caller now."""
        order = self.get(order_id, identity, for_update=True)
        step = lifecycle.check(action, order.status, owner=order.user_id == identity.user_id, staff=identity.is_staff)
        if step.action == lifecycle.CANCEL:
            self._undo_checkout(order, identity)
        order.status = step.target
        setattr(order, step.stamp, dt.datetime.now(dt.UTC))
        self.db.flush()
        if step.action == lifecycle.CANCEL:  # a review needs a purchase that still stands
            withdraw_unbought_reviews(
                self.db, self.inventory.cache, order.user_id, [line.book_id for line in order.lines]
            )
        self.db.refresh(order)
        self._status_mail(order, step.action)
        webhook_events.order_changed(self.db, order.status, order_out(order))
        return order

    def _status_mail(self, order: Order, action: str) -> None:
        """Tell the customer their order shipped, arrived, or was cancelled and refunded."""
        kind = STATUS_MAILS.get(action)
        customer = self.db.get(User, order.user_id)
        if kind is None or self.mail is None or customer is None:
            return
        self.mail.queue(
            self.db, kind, customer.email, {"order_id": order.id}, **self.mail.order_context(order, customer.name)
        )

    def _undo_checkout(self, order: Order, identity: Identity) -> None:
        """A cancelled order's books go back in stock and its charge is refunded."""
        items = [(line.book_id, line.quantity) for line in order.lines]
        self.inventory.return_for_order(order.id, items, identity.user_id)
        self.vouchers.release(order.id)  # after the books: the same lock order as checkout
        order.refund_reference = self.payments.refund(order.payment_reference, order.total, f"refund:{order.id}")

    def cancel(self, order_id: int, identity: Identity) -> Order:
        return self.transition(order_id, identity, lifecycle.CANCEL)

    def ship(self, order_id: int, identity: Identity) -> Order:
        return self.transition(order_id, identity, lifecycle.SHIP)

    def deliver(self, order_id: int, identity: Identity) -> Order:
        return self.transition(order_id, identity, lifecycle.DELIVER)


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    currency = settings["bookstore.currency"]
    shipping = ShippingRule.from_settings(settings)

    def limit(per: str) -> tuple[int, int]:
        return int(settings[f"bookstore.checkout_max_declines_per_{per}"]), int(
            settings["bookstore.checkout_decline_window_seconds"]
        )

    def factory(context, request):
        # Built directly (not through find_service): checkout is the hottest write path.
        db, registry, redis = request.dbsession, request.registry, request.redis
        return OrderService(
            db,
            registry["payment_provider"],
            shipping,
            currency,
            CartService(db, currency, shipping),
            InventoryService(db, registry["catalog_cache"], registry["mail"]),
            DeclineLimit(
                WindowLimit(redis, "checkout:declines:user", *limit("user")),
                WindowLimit(redis, "checkout:declines:addr", *limit("address")),
            ),
            registry["mail"],
            VoucherService(db),
        )

    config.register_service_factory(factory, OrderService)


def _column_values(instance: Any) -> dict[str, Any]:
    """The column values set on a new (transient) ORM instance, for a plain INSERT."""
    state = instance.__dict__
    return {column.key: state[column.key] for column in instance.__table__.columns if column.key in state}
