"""The spec compiled into request validators: what it accepts, what it names, and that it matches the code."""

from types import SimpleNamespace

import pytest
import yaml

from bookstore_api import OPENAPI_SPEC
from bookstore_api.catalog.models import Book
from bookstore_api.http.errors import APIError
from bookstore_api.http.helpers import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE
from bookstore_api.http.validation import compile_operations
from bookstore_core.accounts import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

SPEC = yaml.safe_load(OPENAPI_SPEC.read_text())
OPERATIONS = compile_operations(str(OPENAPI_SPEC))
BOOK = {"isbn": "9780306406157", "title": "Dune", "price": "12.50", "authors": ["Frank Herbert"]}
REGISTRATION = {"email": "ann@example.com", "password": "long enough password", "name": "Ann"}
CARD = {"card_number": "4242424242424242", "expiry": "12/40", "cvc": "123"}
ADDRESS = {"name": "Ann", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def request(body=None, query=None, path=None, headers=None):
    environ = {} if body is None else {"bookstore.json": body}
    return SimpleNamespace(environ=environ, GET=query or {}, matchdict=path or {}, headers=headers or {})


def validate(route, method, **parts):
    return OPERATIONS[(route, method)].validate(request(**parts))


def rejected(route, method, **parts) -> dict[str, str]:
    with pytest.raises(APIError) as raised:
        validate(route, method, **parts)
    assert (raised.value.status, raised.value.code) == (400, "invalid_input")
    return raised.value.details["fields"]


def test_the_password_lengths_are_the_ones_the_code_uses():
    password = SPEC["components"]["schemas"]["Registration"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH)


def test_paging_bounds_are_the_ones_the_code_uses():
    parameters = SPEC["components"]["parameters"]
    assert parameters["Page"]["schema"]["maximum"] == MAX_PAGE
    assert (parameters["PerPage"]["schema"]["maximum"], parameters["PerPage"]["schema"]["default"]) == (
        MAX_PER_PAGE,
        DEFAULT_PER_PAGE,
    )


def test_money_allows_exactly_the_digits_books_price_stores():
    price = Book.__table__.c.price.type
    integer_digits = price.precision - price.scale
    assert validate("api.books", "POST", body={**BOOK, "price": "9" * integer_digits + ".99"}).body
    fields = rejected("api.books", "POST", body={**BOOK, "price": "9" * (integer_digits + 1)})
    assert list(fields) == ["price"]
    assert list(rejected("api.books", "POST", body={**BOOK, "price": "1.999"})) == ["price"]


def test_a_short_password_is_named_and_never_echoed():
    fields = rejected("api.users", "POST", body={**REGISTRATION, "password": "sesame"})
    assert fields == {"password": f"Use at least {PASSWORD_MIN_LENGTH} characters."}
    assert validate("api.users", "POST", body=REGISTRATION).body == REGISTRATION


@pytest.mark.parametrize("title", ["Bad\x00title", "Bad\ttitle", "Trailing newline\n", "   ", "x" * 501])
def test_titles_are_one_filled_line_without_control_characters(title):
    assert list(rejected("api.books", "POST", body={**BOOK, "title": title})) == ["title"]


def test_long_text_may_hold_line_breaks_but_no_other_control_characters():
    assert validate("api.books", "POST", body={**BOOK, "description": "One.\n\n\tTwo."}).body
    assert list(rejected("api.books", "POST", body={**BOOK, "description": "bell\x07"})) == ["description"]


@pytest.mark.parametrize(("language", "ok"), [("en", True), ("pt-BR", True), ("EN", False), ("english", False)])
def test_language_codes(language, ok):
    body = {**BOOK, "language": language}
    if ok:
        assert validate("api.books", "POST", body=body).body == body
    else:
        assert list(rejected("api.books", "POST", body=body)) == ["language"]


def test_unknown_fields_and_missing_ones_are_named():
    fields = rejected("api.books", "POST", body={"title": "Dune", "colour": "red"})
    assert fields["colour"] == "Not an accepted field."
    assert {"isbn", "price", "authors"} <= set(fields)


def checkout(**change):
    return {"shipping_address": ADDRESS, "payment": CARD, **change}


def test_checkout_takes_exactly_one_of_cart_id_and_items():
    items = [{"book_id": 1, "quantity": 1}]
    headers = {"Idempotency-Key": "k1"}
    assert validate("api.orders", "POST", body=checkout(cart_id="abc"), headers=headers).body
    assert validate("api.orders", "POST", body=checkout(items=items), headers=headers).body
    for body in (checkout(), checkout(cart_id="abc", items=items)):
        assert "cart_id" in rejected("api.orders", "POST", body=body, headers=headers)


def test_a_restock_adds_stock():
    path = {"book_id": "1"}
    assert validate("api.book.stock", "POST", body={"delta": -2, "reason": "adjustment"}, path=path).body
    assert rejected("api.book.stock", "POST", body={"delta": -2, "reason": "restock"}, path=path) == {
        "delta": "Must be at least 1."
    }
    assert list(rejected("api.book.stock", "POST", body={"delta": 0, "reason": "adjustment"}, path=path)) == ["delta"]


def test_query_parameters_are_coerced_bounded_and_defaulted():
    assert validate("api.books", "GET", query={"page": "3", "in_stock": "true"}).query == {
        "page": 3,
        "per_page": DEFAULT_PER_PAGE,
        "in_stock": True,
    }
    fields = rejected("api.books", "GET", query={"per_page": str(MAX_PER_PAGE + 1), "page": "x", "sort": "odd"})
    assert set(fields) == {"per_page", "page", "sort"}
    assert list(rejected("api.books", "GET", query={"genre": "Not A Slug"})) == ["genre"]


def test_path_parameters_are_checked():
    assert validate("api.book", "GET", path={"book_id": "12"}).path == {"book_id": 12}
    assert list(rejected("api.cart", "GET", path={"cart_id": "bad\x00id"})) == ["cart_id"]


def test_money_inputs_follow_the_one_price_format():
    """Every money input of the spec has the pattern bookstore_core.money states (the storefront's forms use it)."""
    from bookstore_core.money import PRICE_PATTERN, parse_price

    spec = yaml.safe_load(OPENAPI_SPEC.read_text())
    assert spec["components"]["schemas"]["MoneyInput"]["pattern"] == PRICE_PATTERN
    filters = {p["name"]: p for p in spec["paths"]["/books"]["get"]["parameters"] if "name" in p}
    assert filters["min_price"]["schema"]["pattern"] == filters["max_price"]["schema"]["pattern"] == PRICE_PATTERN
    assert [str(parse_price(t)) for t in ("12", "12.5", "12.50", "99999999.99")] == [
        "12",
        "12.5",
        "12.50",
        "99999999.99",
    ]
    assert [parse_price(t) for t in ("", "-1", "1.234", "123456789", "1e3", "12.50\n")] == [None] * 6
