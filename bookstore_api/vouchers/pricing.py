"""What an order costs: the one function that prices a cart preview and a checkout alike.

:func:`quote` takes the lines (current prices), the shipping rule and, when the
shopper gave one, a voucher, and returns subtotal, shipping, discount and total.
``GET /carts/{id}`` shows exactly what ``POST /orders`` then charges because both
call it with the same inputs.

The rules:

* a percent discount is taken off the eligible lines' subtotal as a whole and
  rounded *down* to the cent (the shop's favour, every time);
* a fixed discount never exceeds the eligible subtotal (a 10.00 voucher on a
  7.50 book makes it free, never negative);
* a voucher restricted to genres applies only to lines whose book is in one of
  them (``not_applicable`` when none is); ``min_subtotal`` is measured on the
  whole subtotal before the discount (``below_minimum`` under it);
* shipping is never discounted, and the free-shipping threshold looks at the
  subtotal before the discount (a voucher never makes shipping cost more).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from ..exceptions import VoucherInvalid
from .models import PERCENT

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


class ShippingRule:
    """Flat rate, free from a threshold (both in the shop's currency)."""

    def __init__(self, flat_rate: Decimal, free_from: Decimal | None):
        self.flat_rate = flat_rate
        self.free_from = free_from

    def cost(self, subtotal: Decimal) -> Decimal:
        if self.free_from is not None and subtotal >= self.free_from:
            return ZERO
        return self.flat_rate

    @classmethod
    def from_settings(cls, settings: Mapping) -> ShippingRule:
        free_from = str(settings.get("bookstore.free_shipping_from", "50.00"))
        return cls(
            Decimal(str(settings.get("bookstore.shipping_flat_rate", "4.99"))),
            Decimal(free_from) if free_from.strip() else None,
        )


@dataclass(frozen=True)
class PricedLine:
    book_id: int
    quantity: int
    unit_price: Decimal
    genre_ids: frozenset[int] = frozenset()

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class VoucherTerms:
    """What pricing needs to know of a voucher (the checks on dates and uses come before)."""

    code: str
    kind: str
    value: Decimal
    min_subtotal: Decimal | None = None
    genre_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Quote:
    subtotal: Decimal
    shipping: Decimal
    discount: Decimal
    total: Decimal
    voucher_code: str | None = None


def discount_for(lines: Iterable[PricedLine], subtotal: Decimal, voucher: VoucherTerms) -> Decimal:
    """The voucher's discount on these lines; :class:`VoucherInvalid` when it does not apply to them."""
    if voucher.min_subtotal is not None and subtotal < voucher.min_subtotal:
        raise VoucherInvalid("below_minimum", minimum=voucher.min_subtotal)
    eligible = [line for line in lines if not voucher.genre_ids or line.genre_ids & voucher.genre_ids]
    if not eligible:
        raise VoucherInvalid("not_applicable")
    base = sum((line.total for line in eligible), ZERO)
    if voucher.kind == PERCENT:
        discount = (base * voucher.value / HUNDRED).quantize(CENT, rounding=ROUND_DOWN)
    else:
        discount = min(voucher.value, base)
    return discount.quantize(CENT)


def quote(lines: list[PricedLine], shipping: ShippingRule, voucher: VoucherTerms | None = None) -> Quote:
    """Subtotal, shipping, discount and total of ``lines``; raises :class:`VoucherInvalid` for a voucher
    that does not apply to them. An empty cart costs nothing (no shipping either)."""
    subtotal = sum((line.total for line in lines), ZERO).quantize(CENT)
    postage = shipping.cost(subtotal) if lines else ZERO
    discount = discount_for(lines, subtotal, voucher) if voucher is not None else ZERO
    total = (subtotal - discount + postage).quantize(CENT)
    return Quote(subtotal, postage.quantize(CENT), discount, total, voucher.code if voucher else None)
