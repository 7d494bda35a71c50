"""Card checks both apps make: Luhn, expiry (against a given day), security code, brand."""

import datetime as dt

import pytest

from bookstore_core import cards

TODAY = dt.date.today()


@pytest.mark.parametrize("number", ["4242424242424242", "4000000000000002", "378282246310005", "5555555555554444"])
def test_known_test_numbers_pass_luhn(number):
    assert cards.luhn_valid(number) and cards.number_valid(number)


@pytest.mark.parametrize("number", ["4242424242424241", "42424242424", "42424242424242424242", "4242x42424242424", ""])
def test_bad_numbers_fail(number):
    assert not cards.number_valid(number)


def test_separators_are_removed():
    assert cards.normalize_number("4242 4242-4242 4242") == "4242424242424242"


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("12/30", (12, 2030)),
        ("1/31", (1, 2031)),
        (" 06 / 2040 ", (6, 2040)),
        ("13/30", None),
        ("00/30", None),
        ("1230", None),
    ],
)
def test_expiry_is_parsed(raw, parsed):
    assert cards.parse_expiry(raw) == parsed


def _month_shift(day: dt.date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index % 12 + 1, index // 12


def test_a_card_is_good_through_its_expiry_month():
    assert not cards.expired(TODAY.month, TODAY.year, today=TODAY)
    assert not cards.expired(*_month_shift(TODAY, 1), today=TODAY)
    assert cards.expired(*_month_shift(TODAY, -1), today=TODAY)


def test_expiry_is_judged_on_the_day_given():
    month, year = _month_shift(TODAY, 1)
    later = dt.date(year + 1, 1, 1)
    assert not cards.expired(month, year, today=TODAY)
    assert cards.expired(month, year, today=later)


@pytest.mark.parametrize(
    ("cvc", "ok"), [("123", True), ("1234", True), ("12", False), ("12345", False), ("12a", False)]
)
def test_cvc(cvc, ok):
    assert cards.cvc_valid(cvc) is ok


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2221000000000009", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "card"),
    ],
)
def test_brand(number, brand):
    assert cards.brand(number) == brand
