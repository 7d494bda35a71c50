"""ISBN-13 and money rules, and the cleaning of book input the spec has checked."""

import datetime as dt
from decimal import Decimal

import pytest

from bookstore_api.catalog.schemas import isbn13_check_digit, money, normalize_isbn, parse_book_fields, parse_price
from bookstore_api.http.errors import APIError
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


BOOK = {
    "isbn": "978-0-306-40615-7",
    "title": "  Dune ",
    "price": "12.5",
    "authors": ["Frank  Herbert", "frank herbert"],
}


def test_a_new_book_is_cleaned():
    clean = parse_book_fields(
        {**BOOK, "subtitle": "  ", "published_on": "1965-08-01", "genres": ["sf", "sf"]}, partial=False, currency="USD"
    )
    assert clean == {
        "isbn": "9780306406157",
        "title": "Dune",
        "price": Decimal("12.50"),
        "authors": ["Frank Herbert"],
        "subtitle": None,
        "published_on": dt.date(1965, 8, 1),
        "genres": ["sf"],
    }


def test_a_new_book_without_genres_gets_none_and_an_update_only_what_it_names():
    assert parse_book_fields(BOOK, partial=False, currency="USD")["genres"] == []
    assert parse_book_fields({"pages": 300, "publisher": None}, partial=True, currency="USD") == {
        "pages": 300,
        "publisher": None,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [({"isbn": "9780306406158"}, "isbn"), ({"currency": "EUR"}, "currency")],
)
def test_what_the_spec_cannot_say_is_a_400_naming_the_field(change, field):
    with pytest.raises(APIError) as raised:
        parse_book_fields({**BOOK, **change}, partial=False, currency="USD")
    assert (raised.value.status, raised.value.code) == (400, "invalid_input")
    assert list(raised.value.details["fields"]) == [field]


def test_the_shops_currency_in_any_case_is_accepted():
    assert "currency" not in parse_book_fields({"currency": "usd"}, partial=True, currency="USD")
