"""Staff reports: sales by period, top books and genres, stock — figures, CSV and access."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import text

from tests.helpers.commerce import checkout_body, new_key
from tests.helpers.factories import make_book

pytestmark = pytest.mark.needs_db


def place(customer, book, quantity) -> dict:
    return customer.post("/orders", checkout_body([(book.id, quantity)]), headers=new_key()).json


def backdate(dbsession, order: dict, day: str) -> None:
    dbsession.execute(
        text(
            "UPDATE orders SET created_at = CAST(:day AS timestamp) AT TIME ZONE 'UTC' + interval '13 hours' WHERE id = :id"
        ),
        {"day": day, "id": order["id"]},
    )
    dbsession.flush()


@pytest.fixture
def sales(customer, staff, dbsession):
    """Orders on known days of March 2001 (a Monday is 2001-03-05), one of them cancelled."""
    alpha = make_book(dbsession, title="Alpha", price="12.50", stock=50, genres=("fiction",))
    beta = make_book(dbsession, title='=HYPERLINK("http://x")', price="40.00", stock=50, genres=("fiction", "history"))
    orders = {
        "o1": place(customer, alpha, 2),  # 25.00 + 4.99 shipping = 29.99
        "o2": place(customer, beta, 2),  # 80.00, free shipping = 80.00
        "o3": place(customer, alpha, 1),  # 12.50 + 4.99 = 17.49
        "o4": place(customer, beta, 1),  # 44.99, cancelled: never counts
        "o5": place(customer, alpha, 1),  # 17.49, in the previous period
    }
    staff.post(f"/orders/{orders['o3']['id']}/ship", status=200)
    customer.post(f"/orders/{orders['o4']['id']}/cancel", status=200)
    for name, day in (
        ("o1", "2001-03-05"),
        ("o2", "2001-03-05"),
        ("o3", "2001-03-07"),
        ("o4", "2001-03-07"),
        ("o5", "2001-03-02"),
    ):
        backdate(dbsession, orders[name], day)
    return {"alpha": alpha, "beta": beta, **orders}


def test_sales_by_day_with_empty_days_and_the_previous_period(staff, sales):
    report = staff.get("/reports/sales", params={"from": "2001-03-05", "to": "2001-03-08", "group": "day"}).json
    assert report["currency"] == "USD"
    assert [(p["start"], p["orders"], p["revenue"], p["average_order_value"]) for p in report["periods"]] == [
        ("2001-03-05", 2, "109.99", "55.00"),
        ("2001-03-06", 0, "0.00", "0.00"),
        ("2001-03-07", 1, "17.49", "17.49"),
        ("2001-03-08", 0, "0.00", "0.00"),
    ]
    assert report["totals"] == {"orders": 3, "revenue": "127.48", "average_order_value": "42.49"}
    assert (report["previous_from"], report["previous_to"]) == ("2001-03-01", "2001-03-04")
    assert report["previous_totals"] == {"orders": 1, "revenue": "17.49", "average_order_value": "17.49"}


def test_sales_by_week_and_month(staff, sales):
    weeks = staff.get("/reports/sales", params={"from": "2001-03-01", "to": "2001-03-14", "group": "week"}).json
    assert [(p["start"], p["end"], p["orders"], p["revenue"]) for p in weeks["periods"]] == [
        ("2001-03-01", "2001-03-04", 1, "17.49"),  # the week of Monday 26 February, cut to `from`
        ("2001-03-05", "2001-03-11", 3, "127.48"),
        ("2001-03-12", "2001-03-14", 0, "0.00"),
    ]
    months = staff.get("/reports/sales", params={"from": "2001-02-01", "to": "2001-04-30", "group": "month"}).json
    assert [(p["start"], p["end"], p["orders"], p["revenue"]) for p in months["periods"]] == [
        ("2001-02-01", "2001-02-28", 0, "0.00"),
        ("2001-03-01", "2001-03-31", 4, "144.97"),
        ("2001-04-01", "2001-04-30", 0, "0.00"),
    ]
    assert months["previous_totals"] == {"orders": 0, "revenue": "0.00", "average_order_value": "0.00"}


def test_top_books_and_genres(staff, sales):
    period = {"from": "2001-03-01", "to": "2001-03-31"}
    by_revenue = staff.get("/reports/top-books", params={**period, "by": "revenue"}).json["items"]
    assert [(i["book_id"], i["units"], i["revenue"]) for i in by_revenue] == [
        (sales["beta"].id, 2, "80.00"),
        (sales["alpha"].id, 4, "50.00"),
    ]
    by_units = staff.get("/reports/top-books", params={**period, "by": "units", "limit": 1}).json["items"]
    assert [(i["book_id"], i["units"]) for i in by_units] == [(sales["alpha"].id, 4)]
    genres = staff.get("/reports/top-genres", params={**period, "by": "revenue"}).json["items"]
    assert [(g["slug"], g["units"], g["revenue"]) for g in genres] == [
        ("fiction", 6, "130.00"),
        ("history", 2, "80.00"),
    ]


def test_csv_with_formula_guard(staff, sales):
    response = staff.get(
        "/reports/top-books", params={"from": "2001-03-01", "to": "2001-03-31"}, headers={"Accept": "text/csv"}
    )
    assert response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["rank", "book_id", "isbn", "title", "units", "revenue (USD)"]
    assert rows[1][3] == '\'=HYPERLINK("http://x")'  # a spreadsheet shows it as text, never runs it
    assert rows[2][3] == "Alpha"

    sales_csv = staff.get(
        "/reports/sales", params={"from": "2001-03-05", "to": "2001-03-06"}, headers={"Accept": "text/csv"}
    )
    assert sales_csv.content_type == "text/csv"
    assert list(csv.reader(io.StringIO(sales_csv.text))) == [
        ["start", "end", "orders", "revenue (USD)", "average_order_value"],
        ["2001-03-05", "2001-03-05", "2", "109.99", "55.00"],
        ["2001-03-06", "2001-03-06", "0", "0.00", "0.00"],
    ]
    genres_csv = staff.get("/reports/top-genres", params={"from": "2001-03-05"}, headers={"Accept": "text/csv"})
    assert genres_csv.text.splitlines()[1].startswith("1,fiction,Fiction,")
    # JSON stays the default, and is chosen when preferred
    assert (
        staff.get("/reports/sales", headers={"Accept": "application/json, text/csv;q=0.5"}).content_type
        == "application/json"
    )


def test_stock_report_and_slow_movers(staff, customer, dbsession):
    before = staff.get("/reports/stock").json
    idle = make_book(dbsession, title="Idle", price="999.99", stock=100)
    empty = make_book(dbsession, title="Sold out", price="5.00", stock=0)
    selling = make_book(dbsession, title="Selling", price="999.99", stock=101)
    place(customer, selling, 1)  # today: sold within the window
    after = staff.get("/reports/stock", params={"days": 30, "limit": 100}).json
    from decimal import Decimal

    added = Decimal(after["stock_value"]) - Decimal(before["stock_value"])
    assert added == Decimal("99999.00") + Decimal("99999.00")  # idle 100 + selling 100 left, at 999.99
    assert after["books_out_of_stock"] == before["books_out_of_stock"] + 1
    slow = {m["book_id"]: m for m in after["slow_movers"]}
    assert slow[idle.id] == {
        "book_id": idle.id,
        "isbn": idle.isbn,
        "title": "Idle",
        "stock_quantity": 100,
        "stock_value": "99999.00",
        "units_sold": 0,
    }
    assert empty.id not in slow
    assert selling.id not in slow or slow[selling.id]["units_sold"] == 1
    unsold = [m for m in after["slow_movers"] if m["units_sold"] == 0]
    assert unsold == sorted(unsold, key=lambda m: -Decimal(m["stock_value"]))
    response = staff.get("/reports/stock", headers={"Accept": "text/csv"})
    assert response.content_type == "text/csv"
    assert (
        response.text.splitlines()[0] == "book_id,isbn,title,stock_quantity,stock_value (USD),units_sold_last_90_days"
    )


@pytest.mark.parametrize("path", ["/reports/sales", "/reports/top-books", "/reports/top-genres", "/reports/stock"])
def test_staff_only(path, anon, customer):
    assert anon.get(path, status=401).json["error"]["code"] == "not_authenticated"
    assert customer.get(path, status=403).json["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/reports/sales", {"from": "2001-03-09", "to": "2001-03-08"}, "from"),
        ("/reports/sales", {"from": "2001-01-01", "to": "2002-01-05", "group": "day"}, "to"),
        ("/reports/sales", {"from": "2001-01-01", "to": "2005-01-05", "group": "month"}, "to"),
        ("/reports/sales", {"group": "year"}, "group"),
        ("/reports/sales", {"from": "2001-02-30"}, "from"),
        ("/reports/sales", {"to": "01/02/2001"}, "to"),
        ("/reports/top-books", {"by": "profit"}, "by"),
        ("/reports/top-books", {"limit": "0"}, "limit"),
        ("/reports/top-genres", {"from": "2001-03-09", "to": "2001-03-08"}, "from"),
        ("/reports/stock", {"days": "0"}, "days"),
    ],
)
def test_bad_parameters(staff, path, params, field):
    error = staff.get(path, params=params, status=400).json["error"]
    assert error["code"] == "invalid_input"
    assert field in error["details"]["fields"]


def test_default_period_is_the_last_30_days(staff):
    report = staff.get("/reports/sales").json
    today = dt.datetime.now(dt.UTC).date()
    assert report["to"] == today.isoformat()
    assert len(report["periods"]) == 30
