"""Vouchers: staff manage them; checkout and the cart preview apply them.

Checking a code (:meth:`VoucherService.usable`) happens before the card is
charged and answers every refusal with its reason. Redeeming it
(:meth:`VoucherService.redeem`) happens after, in the checkout's transaction, as
the last write: a conditional ``UPDATE vouchers SET uses = uses + 1 WHERE ...
uses < max_uses`` that locks the voucher's row until the commit. Every other
checkout with the same voucher waits on that row, so while it is held the
customer's standing redemptions can be counted exactly (READ COMMITTED reads
what the previous holders committed) and ``max_uses_per_customer`` holds even for
parallel checkouts of one customer. A refusal at that point aborts the whole
transaction, and the charge is refunded like any lost race for stock.

Locks are taken in one order everywhere: books (ascending ids), then the voucher
(checkout and cancellation alike), so voucher checkouts never deadlock.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pyramid.config import Configurator
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..catalog.models import Genre
from ..exceptions import Conflict, InvalidInput, NotFound, VoucherInvalid
from .models import PERCENT, Voucher, VoucherRedemption
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

    def usable(self, code: str, user_id: int | None, now: dt.datetime | None = None) -> Voucher:
        """The voucher named by ``code`` if it can be used now (by ``user_id``, when known), else
        :class:`VoucherInvalid` with the reason. Says nothing yet about the order's books."""
        now = now or dt.datetime.now(dt.UTC)
        voucher = self.db.scalar(select(Voucher).where(Voucher.code == normalize_code(code)))
        if voucher is None:
            raise VoucherInvalid("unknown")
        if not voucher.active:
            raise VoucherInvalid("inactive")
        if voucher.starts_at is not None and now < voucher.starts_at:
            raise VoucherInvalid("not_started")
        if voucher.ends_at is not None and now >= voucher.ends_at:
            raise VoucherInvalid("expired")
        if voucher.max_uses is not None and voucher.uses >= voucher.max_uses:
            raise VoucherInvalid("exhausted")
        limit = voucher.max_uses_per_customer
        if limit is not None and user_id is not None and self._standing_uses(voucher.id, user_id) >= limit:
            raise VoucherInvalid("customer_limit")
        return voucher

    def price(
        self, lines: list[PricedLine], shipping: ShippingRule, code: str | None, user_id: int | None
    ) -> tuple[Quote, Voucher | None]:
        """What ``lines`` cost with the voucher ``code`` (none: without one): the cart preview and checkout
        both price through here. Raises :class:`VoucherInvalid` when the voucher cannot be used."""
        if not code:
            return quote(lines, shipping), None
        voucher = self.usable(code, user_id)
        return quote(lines, shipping, terms(voucher)), voucher

    def redeem(self, voucher: Voucher, user_id: int, order_id: int, discount: Decimal) -> None:
        """Count one use for this order, or refuse (``exhausted``, ``inactive``, ``customer_limit``).

        The conditional UPDATE locks the voucher's row until the commit; the count after it sees
        every redemption committed before (see the module's docstring).
        """
        table = Voucher.__table__
        limit_row = self.db.execute(
            update(table)
            .where(
                table.c.id == voucher.id,
                table.c.active.is_(True),
                or_(table.c.max_uses.is_(None), table.c.uses < table.c.max_uses),
            )
            .values(uses=table.c.uses + 1)
            .returning(table.c.max_uses_per_customer)
        ).first()
        if limit_row is None:
            active = self.db.execute(select(table.c.active).where(table.c.id == voucher.id)).scalar()
            raise VoucherInvalid("exhausted" if active else "inactive")
        limit = limit_row[0]
        if limit is not None and self._standing_uses(voucher.id, user_id) >= limit:
            raise VoucherInvalid("customer_limit")
        self.db.execute(
            insert(VoucherRedemption.__table__).values(
                voucher_id=voucher.id, user_id=user_id, order_id=order_id, discount=discount
            )
        )

    def release(self, order_id: int) -> None:
        """A cancelled order gives its use of the voucher back (its redemption stays, released)."""
        redemptions = VoucherRedemption.__table__
        voucher_id = self.db.execute(
            update(redemptions)
            .where(redemptions.c.order_id == order_id, redemptions.c.released_at.is_(None))
            .values(released_at=func.now())
            .returning(redemptions.c.voucher_id)
        ).scalar()
        if voucher_id is not None:
            table = Voucher.__table__
            self.db.execute(update(table).where(table.c.id == voucher_id).values(uses=table.c.uses - 1))

    def _standing_uses(self, voucher_id: int, user_id: int) -> int:
        redemptions = VoucherRedemption.__table__
        return (
            self.db.execute(
                select(func.count())
                .select_from(redemptions)
                .where(
                    redemptions.c.voucher_id == voucher_id,
                    redemptions.c.user_id == user_id,
                    redemptions.c.released_at.is_(None),
                )
            ).scalar()
            or 0
        )


def terms(voucher: Voucher) -> VoucherTerms:
    return VoucherTerms(
        code=voucher.code,
        kind=voucher.kind,
        value=voucher.value,
        min_subtotal=voucher.min_subtotal,
        genre_ids=frozenset(genre.id for genre in voucher.genres),
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


def includeme(config: Configurator) -> None:
    config.register_service_factory(lambda context, request: VoucherService(request.dbsession), VoucherService)
