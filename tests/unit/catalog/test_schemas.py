"""ISBN-13 and money rules."""

from decimal import Decimal

import pytest

from bookstore_api.catalog.schemas import isbn13_check_digit, money, normalize_isbn, parse_price
from bookstore_dev.seed import make_isbn


@pytest.mark.parametrize("isbn", ["9780306406157", "978-0-306-40615-7", "9791234567896", "978 0 306 40615 7"])
def test_valid_isbns(isbn):
    assert normalize_isbn(isbn) == isbn.replace("-", "").replace(" ", "")


@pytest.mark.parametrize(
    "isbn", ["9780306406158", "0306406152", "97803064061571", "978030640615X", "", None, 9780306406157, "1234567890128"]
)
def test_invalid_isbns(isbn):
    assert normalize_isbn(isbn) is None


def test_generated_isbns_are_valid_and_distinct():
    isbns = [make_isbn(n) for n in (0, 1, 999_999_999, 1_000_000_000, 1_999_999_999)]
    assert all(normalize_isbn(i) == i for i in isbns)
    assert len(set(isbns)) == len(isbns)
    assert isbn13_check_digit("978030640615") == 7


@pytest.mark.parametrize(
    ("text", "value"), [("0", "0.00"), ("12.5", "12.50"), ("12.50", "12.50"), ("99999999.99", "99999999.99")]
)
def test_prices(text, value):
    assert parse_price(text) == Decimal(value)
    assert money(parse_price(text)) == value


@pytest.mark.parametrize(
    "text", ["-1", "1.999", "1e3", "NaN", "Infinity", "", " ", "1,50", "123456789.00", 12.5, 3, None]
)
def test_bad_prices(text):
    assert parse_price(text) is None
