"""Vouchers: staff manage them; checkout and the cart preview apply them.

Checking a code (:meth:`VoucherService.usable`) happens before the card is
charged and answers every refusal with its reason. Redeeming it
(:meth:`VoucherService.redeem`) happens after, in the checkout's transaction, as
its last statement, which counts the use twice, each time conditionally:

* a voucher with ``max_uses``: ``UPDATE vouchers SET uses = uses + 1 WHERE ...
  uses < max_uses``. Its row stays locked until the commit, and every other
  checkout with the voucher waits there and then re-checks the condition on the
  committed count: never more than ``max_uses``. (One statement, the last, so the
  lock is held for as little as possible: the ratio in ``make bench``.) A voucher
  without a cap is only share-locked (no checkout waits for another), so that
  staff cannot set a cap until the uses in flight are committed and counted;
* the customer's own count, ``voucher_customer_uses``: ``INSERT ... ON CONFLICT
  DO UPDATE SET uses = uses + 1 WHERE uses < max_uses_per_customer``, which locks
  that customer's row and checks the committed count the same way (ten parallel
  checkouts of one customer, one use each: exactly one goes through).

A refusal at that point aborts the whole transaction (the order too), and the
charge is refunded like any race for the last copy lost. Cancelling gives the use
back on both counts.

Locks are taken in one order everywhere: books (ascending ids), then the voucher,
then the customer's count (checkout and cancellation alike): no deadlocks.

Guessing codes is limited (:class:`VoucherGuessLimit`): so many ``unknown`` answers
per client address in a window, then 429 for any code from that address until the
window ends. Counted by address, never by code, so nobody can lock a real code
(or another shopper) out by guessing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pyramid.config import Configurator
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from zope.sqlalchemy import mark_changed

from ..catalog.models import Genre
from ..exceptions import Conflict, InvalidInput, NotFound, RateLimited, VoucherInvalid
from ..infra.throttle import WindowLimit
from .models import PERCENT, Voucher, VoucherCustomerUses
from .pricing import PricedLine, Quote, ShippingRule, VoucherTerms, quote


def normalize_code(code: str) -> str:
    """Codes are case-insensitive: stored and compared in upper case, without surrounding space."""
    return code.strip().upper()


class VoucherService:
    def __init__(self, dbsession: Session):
        self.db = dbsession

    # -- staff -----------------------------------------------------------------

    def get(self, voucher_id: int) -> Voucher:
        voucher = self.db.get(Voucher, voucher_id)
        if voucher is None:
            raise NotFound("voucher")
        return voucher

    def list(self, active: bool | None, page: int, per_page: int) -> tuple[list[Voucher], int]:
        statement = select(Voucher)
        count = select(func.count()).select_from(Voucher)
        if active is not None:
            statement = statement.where(Voucher.active.is_(active))
            count = count.where(Voucher.active.is_(active))
        total = self.db.scalar(count) or 0
        rows = self.db.scalars(statement.order_by(Voucher.id.desc()).offset((page - 1) * per_page).limit(per_page))
        return list(rows), total

    def create(self, values: dict[str, Any]) -> Voucher:
        _check_rules(values)
        genres = self._genres(values.pop("genres", []))
        self._code_free(values["code"])
        voucher = Voucher(uses=0, **values)
        voucher.genres = genres
        self.db.add(voucher)
        self._flush_unique_code()
        self.db.refresh(voucher)
        return voucher

    def update(self, voucher_id: int, values: dict[str, Any]) -> Voucher:
        voucher = self.db.scalar(select(Voucher).where(Voucher.id == voucher_id).with_for_update())
        if voucher is None:
            raise NotFound("voucher")
        merged = {name: getattr(voucher, name) for name in ("code", "kind", "value", "starts_at", "ends_at")}
        _check_rules(merged | values)
        if "code" in values and values["code"] != voucher.code:
            self._code_free(values["code"])
        if "genres" in values:
            voucher.genres = self._genres(values.pop("genres"))
        for name, value in values.items():
            setattr(voucher, name, value)
        if "max_uses" in values:
            # The cap is enforced on vouchers.uses, which only capped vouchers keep current: count it
            # afresh. The row lock taken above waited for every checkout still using the voucher.
            voucher.uses = (
                select(func.coalesce(func.sum(VoucherCustomerUses.uses), 0))
                .where(VoucherCustomerUses.voucher_id == voucher.id)
                .scalar_subquery()
            )
        self._flush_unique_code()
        self.db.refresh(voucher)
        return voucher

    def _genres(self, slugs: list[str]) -> list[Genre]:
        if not slugs:
            return []
        found = {genre.slug: genre for genre in self.db.scalars(select(Genre).where(Genre.slug.in_(slugs)))}
        unknown = sorted(slug for slug in slugs if slug not in found)
        if unknown:
            raise InvalidInput("Unknown genre.", {"genres": f"Unknown genre slug(s): {', '.join(unknown)[:200]}"})
        return [found[slug] for slug in slugs]

    def _code_free(self, code: str) -> None:
        if self.db.scalar(select(Voucher.id).where(Voucher.code == code)) is not None:
            raise _code_taken()

    def _flush_unique_code(self) -> None:
        """Flush; a concurrent voucher with the same code (the unique index) is a 409."""
        try:
            with self.db.begin_nested():
                self.db.flush()
        except IntegrityError as exc:
            raise _code_taken() from exc

    # -- shoppers --------------------------------------------------------------

    def usable(self, code: str, user_id: int | None, now: dt.datetime | None = None) -> UsableVoucher:
        """The voucher named by ``code`` if it can be used now (by ``user_id``, when known), else
        :class:`VoucherInvalid` with the reason. Says nothing yet about the order's books. One query."""
        now = now or dt.datetime.now(dt.UTC)
        row = self.db.execute(_USABLE, {"code": normalize_code(code), "user_id": user_id}).first()
        if row is None:
            raise VoucherInvalid("unknown")
        if not row.active:
            raise VoucherInvalid("inactive")
        if row.starts_at is not None and now < row.starts_at:
            raise VoucherInvalid("not_started")
        if row.ends_at is not None and now >= row.ends_at:
            raise VoucherInvalid("expired")
        if row.max_uses is not None and row.uses >= row.max_uses:
            raise VoucherInvalid("exhausted")
        if row.max_uses_per_customer is not None and row.customer_uses >= row.max_uses_per_customer:
            raise VoucherInvalid("customer_limit")
        return UsableVoucher(
            row.id,
            row.max_uses is not None,
            row.max_uses_per_customer,
            VoucherTerms(row.code, row.kind, row.value, row.min_subtotal, frozenset(row.genre_ids or ())),
        )

    def price(
        self, lines: list[PricedLine], shipping: ShippingRule, code: str | None, user_id: int | None
    ) -> tuple[Quote, UsableVoucher | None]:
        """What ``lines`` cost with the voucher ``code`` (none: without one): the cart preview and checkout
        both price through here. Raises :class:`VoucherInvalid` when the voucher cannot be used."""
        if not code:
            return quote(lines, shipping), None
        voucher = self.usable(code, user_id)
        return quote(lines, shipping, voucher.terms), voucher

    def redeem(self, voucher: UsableVoucher, user_id: int, order_id: int, discount: Decimal) -> None:
        """Count one use for this order, or refuse (``exhausted``, ``inactive``, ``customer_limit``).

        One statement, the checkout's last before its commit: the voucher's row stays locked from
        here to the commit, so the fewer round trips after it the better (see the module's docstring).
        A voucher whose cap staff changed since :meth:`usable` read it is tried the other way once.
        """
        params = {
            "voucher_id": voucher.id,
            "user_id": user_id,
            "order_id": order_id,
            "discount": discount,
            "limit": voucher.max_uses_per_customer or _NO_LIMIT,
        }
        capped = voucher.capped
        for _ in range(2):
            row = self.db.execute(_REDEEM_CAPPED if capped else _REDEEM_UNCAPPED, params).one()
            if row.redeemed:
                mark_changed(self.db)
                return
            if row.counted:  # the voucher took the use, the customer's own limit refused it
                raise VoucherInvalid("customer_limit")
            if not row.active:
                raise VoucherInvalid("inactive")
            if row.capped == capped:
                raise VoucherInvalid("exhausted")
            capped = row.capped
        raise VoucherInvalid("exhausted")

    def release(self, order_id: int) -> None:
        """A cancelled order gives its use of the voucher back (its redemption stays, released).

        The voucher's row first, then the customer's: the same lock order as :meth:`redeem`.
        """
        self.db.execute(_RELEASE, {"order_id": order_id})
        mark_changed(self.db)


@dataclass(frozen=True)
class UsableVoucher:
    """A voucher that :meth:`VoucherService.usable` found usable, with what pricing and redeeming need."""

    id: int
    capped: bool  # max_uses is set: every use takes the voucher's row lock
    max_uses_per_customer: int | None
    terms: VoucherTerms

    @property
    def code(self) -> str:
        return self.terms.code


#: the per-customer bound when a voucher has none (the customer's row is still counted)
_NO_LIMIT = 2**31 - 1

_USABLE = text(
    """
    SELECT v.id, v.code, v.kind, v.value, v.min_subtotal, v.starts_at, v.ends_at, v.max_uses,
           v.max_uses_per_customer, v.uses, v.active,
           ARRAY(SELECT g.genre_id FROM voucher_genres g WHERE g.voucher_id = v.id) AS genre_ids,
           COALESCE((SELECT c.uses FROM voucher_customer_uses c
                     WHERE c.voucher_id = v.id AND c.user_id = :user_id), 0) AS customer_uses
    FROM vouchers v WHERE v.code = :code
    """
)

# The customer's count (a conditional upsert: ON CONFLICT DO UPDATE locks the customer's row and
# checks the latest committed count) and the redemption, after the voucher's own step.
_CUSTOMER_AND_REDEMPTION = """
    , claimed AS (
        INSERT INTO voucher_customer_uses AS c (voucher_id, user_id, uses)
        SELECT id, :user_id, 1 FROM counted
        ON CONFLICT (voucher_id, user_id) DO UPDATE SET uses = c.uses + 1 WHERE c.uses < :limit
        RETURNING c.voucher_id
    ), redeemed AS (
        INSERT INTO voucher_redemptions (voucher_id, user_id, order_id, discount)
        SELECT voucher_id, :user_id, :order_id, :discount FROM claimed
        RETURNING id
    )
    SELECT (SELECT count(*) FROM redeemed) > 0 AS redeemed,
           (SELECT count(*) FROM counted) > 0 AS counted,
           v.active, v.max_uses IS NOT NULL AS capped
    FROM vouchers v WHERE v.id = :voucher_id
"""

#: a capped voucher: raise its count unless that passes max_uses (the row stays locked to the commit)
_REDEEM_CAPPED = text(
    """
    WITH counted AS (
        UPDATE vouchers SET uses = uses + 1
        WHERE id = :voucher_id AND active AND max_uses IS NOT NULL AND uses < max_uses
        RETURNING id
    )"""
    + _CUSTOMER_AND_REDEMPTION
)

#: a voucher without a cap: nothing global to count, so only a share lock (many checkouts hold it
#: at once) that keeps staff from setting a cap until this use is committed and can be counted
_REDEEM_UNCAPPED = text(
    """
    WITH counted AS (
        SELECT id FROM vouchers WHERE id = :voucher_id AND active AND max_uses IS NULL FOR SHARE
    )"""
    + _CUSTOMER_AND_REDEMPTION
)

_RELEASE = text(
    """
    WITH released AS (
        UPDATE voucher_redemptions SET released_at = now()
        WHERE order_id = :order_id AND released_at IS NULL
        RETURNING voucher_id, user_id
    ), uncounted AS (
        UPDATE vouchers v SET uses = GREATEST(v.uses - 1, 0)
        FROM released r WHERE v.id = r.voucher_id
        RETURNING v.id
    )
    UPDATE voucher_customer_uses c SET uses = GREATEST(c.uses - 1, 0)
    FROM released r, uncounted u
    WHERE c.voucher_id = r.voucher_id AND c.user_id = r.user_id AND u.id = r.voucher_id
    """
)


def _code_taken() -> Conflict:
    return Conflict("voucher_code_taken", "A voucher with this code already exists.", {"fields": {"code": "exists"}})


def _check_rules(values: dict[str, Any]) -> None:
    """What the spec cannot say: a percent is at most 100, a value is above zero, the period ends after it starts."""
    fields: dict[str, str] = {}
    value = values.get("value")
    if value is not None:
        if value <= 0:
            fields["value"] = "Must be above zero."
        elif values.get("kind") == PERCENT and value > 100:
            fields["value"] = "A percentage is at most 100."
    starts, ends = values.get("starts_at"), values.get("ends_at")
    if starts is not None and ends is not None and ends <= starts:
        fields["ends_at"] = "Must be after starts_at."
    if fields:
        raise InvalidInput("Some fields are not valid.", fields)


class VoucherGuessLimit:
    """At most so many unknown codes per client address in a window (the cart preview and checkout alike)."""

    def __init__(self, limit: WindowLimit):
        self.limit = limit

    def check(self, address: str) -> None:
        wait = self.limit.retry_after(address)
        if wait is not None:
            raise RateLimited("Too many unknown voucher codes from this address; try again later.", wait)

    def missed(self, address: str) -> None:
        self.limit.hit(address)


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    config.register_service_factory(lambda context, request: VoucherService(request.dbsession), VoucherService)

    def guess_limit(context, request) -> VoucherGuessLimit:
        return VoucherGuessLimit(
            WindowLimit(
                request.redis,
                "voucher:unknown:addr",
                int(settings["bookstore.voucher_unknown_max_per_address"]),
                int(settings["bookstore.voucher_unknown_window_seconds"]),
            )
        )

    config.register_service_factory(guess_limit, VoucherGuessLimit)
