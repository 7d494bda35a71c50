"""The pricing rules: rounding in the shop's favour, caps, genres, minimums, shipping never discounted."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bookstore_api.exceptions import VoucherInvalid
from bookstore_api.vouchers.pricing import PricedLine, ShippingRule, VoucherTerms, quote

SHIPPING = ShippingRule(Decimal("4.99"), Decimal("50.00"))
POETRY, CRIME = 1, 2


def line(price: str, quantity: int = 1, *genres: int, book_id: int = 1) -> PricedLine:
    return PricedLine(book_id, quantity, Decimal(price), frozenset(genres))


def percent(value: str, **kw) -> VoucherTerms:
    return VoucherTerms("P", "percent", Decimal(value), **kw)


def fixed(value: str, **kw) -> VoucherTerms:
    return VoucherTerms("F", "fixed", Decimal(value), **kw)


def figures(q) -> tuple[str, str, str, str]:
    return str(q.subtotal), str(q.discount), str(q.shipping), str(q.total)


def test_without_a_voucher():
    assert figures(quote([line("12.50", 2)], SHIPPING)) == ("25.00", "0.00", "4.99", "29.99")
    assert figures(quote([], SHIPPING)) == ("0.00", "0.00", "0.00", "0.00")


@pytest.mark.parametrize(
    ("price", "rate", "discount"),
    [
        ("9.99", "15", "1.49"),
        ("9.99", "10", "0.99"),
        ("0.01", "50", "0.00"),
        ("33.33", "33.33", "11.10"),
        ("10.00", "100", "10.00"),
    ],
)
def test_percent_rounds_down_to_the_cent(price, rate, discount):
    assert quote([line(price)], SHIPPING, percent(rate)).discount == Decimal(discount)


def test_percent_is_taken_off_the_eligible_subtotal_as_a_whole():
    # line by line: 3 x (1.109889 -> 1.10) = 3.30; on the whole: 9.99 x 33.33 % = 3.329667 -> 3.32
    lines = [line("3.33", 1, book_id=i) for i in range(3)]
    assert quote(lines, SHIPPING, percent("33.33")).discount == Decimal("3.32")


def test_a_fixed_discount_never_exceeds_the_eligible_subtotal_and_shipping_stays():
    assert figures(quote([line("7.50")], SHIPPING, fixed("20"))) == ("7.50", "7.50", "4.99", "4.99")
    assert figures(quote([line("7.50")], SHIPPING, fixed("2.25"))) == ("7.50", "2.25", "4.99", "10.24")


def test_free_shipping_looks_at_the_subtotal_before_the_discount():
    assert figures(quote([line("50.00")], SHIPPING, fixed("10"))) == ("50.00", "10.00", "0.00", "40.00")


def test_genres_limit_the_eligible_lines():
    lines = [line("10.00", 2, POETRY, book_id=1), line("30.00", 1, CRIME, book_id=2), line("5.00", 1, book_id=3)]
    assert quote(lines, SHIPPING, percent("50", genre_ids=frozenset({POETRY}))).discount == Decimal("10.00")
    assert quote(lines, SHIPPING, fixed("100", genre_ids=frozenset({POETRY, CRIME}))).discount == Decimal("50.00")
    with pytest.raises(VoucherInvalid) as refused:
        quote([line("5.00")], SHIPPING, percent("10", genre_ids=frozenset({POETRY})))
    assert refused.value.details["reason"] == "not_applicable"


def test_the_minimum_is_the_whole_subtotal_before_the_discount():
    voucher = fixed("5", min_subtotal=Decimal("20.00"))
    assert quote([line("20.00")], SHIPPING, voucher).discount == Decimal("5.00")
    with pytest.raises(VoucherInvalid) as refused:
        quote([line("19.99")], SHIPPING, voucher)
    assert refused.value.details == {"reason": "below_minimum", "minimum": "20.00"}
