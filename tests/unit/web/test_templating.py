"""The storefront's template filters: money, ratings, stars, dates and query strings."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from bookstore_web.templating import date, money, query, rating, stars, to_decimal, year


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        ("12.5", "USD", "$12.50"),
        ("1234.5", "eur", "€1,234.50"),
        ("0.005", "GBP", "£0.00"),  # Decimal's context rounds half to even
        ("0.015", "GBP", "£0.02"),
        ("7", "CHF", "7.00 CHF"),
        ("7", None, "7.00"),
        (None, "USD", ""),
        ("", "USD", ""),
        ("not money", "USD", ""),
    ],
)
def test_money(value, currency, shown):
    assert money(value, currency) == shown


def test_money_refuses_floats():
    with pytest.raises(TypeError):
        to_decimal(12.5)
    assert to_decimal("12.50") == Decimal("12.50")


@pytest.mark.parametrize(
    ("value", "shown"), [("4.25", "4.2"), ("4.35", "4.4"), ("5", "5.0"), (None, "0.0"), ("x", "0.0")]
)
def test_rating(value, shown):
    assert rating(value) == shown


@pytest.mark.parametrize(("value", "full"), [("0", 0), ("2.4", 2), ("2.6", 3), ("9", 5), ("-1", 0), (None, 0)])
def test_stars_are_decorative_and_bounded(value, full):
    html = str(stars(value))
    assert 'aria-hidden="true"' in html
    assert html.count("★") == full and html.count("☆") == 5 - full


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2024-03-05", "5 March 2024"),
        ("2024-03-05T10:00:00Z", "5 March 2024"),
        ("2024-03-05T23:30:00+00:00", "5 March 2024"),
        ("", ""),
        (None, ""),
        ("soon", "soon"),
    ],
)
def test_date(value, shown):
    assert date(value) == shown


def test_year():
    assert year("1937-09-21") == "1937" and year(None) == ""


def test_query_applies_changes_and_drops_empty_values():
    params = {"q": "hobbit", "genre": "fantasy", "page": 3, "sort": ""}
    assert parse_qs(query(params, page=4)) == {"q": ["hobbit"], "genre": ["fantasy"], "page": ["4"]}
    assert parse_qs(query(params, genre=None, page="")) == {"q": ["hobbit"]}
    assert parse_qs(query({"q": "a&b=c"})) == {"q": ["a&b=c"]}  # escaped, not injected
