"""The back-office dashboard's reports (period picker, SVG charts, CSV downloads) and the catalogue import pages."""

from __future__ import annotations

import csv
import io

from sqlalchemy import text

from bookstore_dev.seed import make_isbn
from bookstore_web.views import staff_catalogue
from tests.helpers.factories import make_book, make_genre

from .conftest import add_to_cart, checkout, csrf_token, register, staff_member

HEADER = "isbn,title,authors,genres,price,stock,description,publisher,published,language,pages\n"


def sold(web, dbsession, api_app, book, day: str) -> None:
    """A shopper buys the book; the order is dated ``day``."""
    register(web)
    add_to_cart(web, book.id, 2)
    checkout(web).submit().maybe_follow()
    dbsession.execute(
        text(
            "UPDATE orders SET created_at = CAST(:day AS timestamp) AT TIME ZONE 'UTC' + interval '12 hours' WHERE id = (SELECT max(id) FROM orders)"
        ),
        {"day": day},
    )
    dbsession.flush()
    web.reset()


def test_dashboard_charts_tables_and_csv(web, dbsession, api_app):
    book = make_book(dbsession, title="=cmd|' /C calc'!A0", price="20.00", stock=9, genres=("poetry",))
    sold(web, dbsession, api_app, book, "2003-06-03")
    staff_member(dbsession, api_app, web)

    page = web.get("/staff", params={"from": "2003-06-01", "to": "2003-06-07", "group": "day"})

    revenue = page.html.find("svg", attrs={"aria-labelledby": "chart-revenue-title"})
    assert revenue["role"] == "img" and revenue["viewbox"] == "0 0 640 260"
    assert revenue.find("title", id="chart-revenue-title").text.startswith("Revenue per day (USD)")
    description = revenue.find("desc", id="chart-revenue-desc").text
    assert "44.99 USD in total" in description and "Highest: 44.99 USD (3 Jun)" in description  # shipping included
    assert len(revenue.select(".chart-bars rect")) == 7  # every day, sold or not
    assert revenue.select_one(".chart-previous polyline") is not None  # the 7 days before, for comparison
    orders = page.html.find("svg", attrs={"aria-labelledby": "chart-orders-title"})
    assert "1 in total" in orders.find("desc").text
    books = page.html.find("svg", attrs={"aria-labelledby": "chart-books-title"})
    assert "calc" in books.find("desc").text
    genres = page.html.find("svg", attrs={"aria-labelledby": "chart-genres-title"})
    assert "Poetry: 40.00 USD, 2 sold" in genres.find("desc").text
    rows = page.html.select("details.chart-data tbody tr")
    assert len(rows) == 7 and "$44.99" in rows[2].text
    assert page.html.find("input", id="p-from")["value"] == "2003-06-01"
    assert page.html.find("select", id="p-group").find("option", selected=True)["value"] == "day"
    assert "<script" not in str(revenue)

    link = page.html.find("a", string="Download top books as CSV")["href"]
    download = web.get(link)
    assert download.content_type == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    cells = list(csv.reader(io.StringIO(download.text)))
    assert cells[1][3] == "'=cmd|' /C calc'!A0"  # guarded against formula injection
    for name in ("Download sales as CSV", "Download top genres as CSV", "Download slow movers as CSV"):
        assert web.get(page.html.find("a", string=name)["href"]).content_type == "text/csv"
    web.get("/staff/reports/orders.csv", status=404)


def test_period_picker_errors_fall_back(web, dbsession, api_app):
    staff_member(dbsession, api_app, web)
    page = web.get("/staff", params={"from": "2003-06-09", "to": "2003-06-01", "group": "week"})
    assert page.status_int == 200
    assert "Must not be after to." in page.html.find(id="p-error").text
    assert len(page.html.select("details.chart-data tbody tr")) >= 4  # the last 30 days by week
    assert web.get("/staff", params={"from": "junk", "group": "fortnight"}).status_int == 200


def test_reports_are_staff_only(web, dbsession, api_app):
    assert "/login?next=" in web.get("/staff/reports/sales.csv", status=303).location
    assert "/login?next=" in web.get("/staff/catalogue/import", status=303).location
    register(web)
    web.get("/staff/reports/sales.csv", status=403)
    web.get("/staff/catalogue/import", status=403)
    web.get("/staff/catalogue/export.csv", status=403)


def test_upload_check_then_import_in_batches(web, dbsession, api_app, monkeypatch):
    make_genre(dbsession, "fiction")
    monkeypatch.setattr(staff_catalogue, "BATCH_ROWS", 2)
    staff_member(dbsession, api_app, web)
    form = web.get("/staff/catalogue/import").forms["import-form"]

    bad = HEADER + f"{make_isbn(700_000_001)},Fine,Ann,fiction,1.00,1,,,,,\n9780000000001,Bad,Ann,westerns,x,1,,,,,\n"
    form["file"] = ("bad.csv", bad.encode(), "text/csv")
    report = form.submit()
    problems = [row.text for row in report.html.select("tbody tr")]
    assert len(problems) == 3
    assert "Not a valid ISBN-13" in problems[0] and "3" in problems[0]
    assert "Unknown genre: westerns" in problems[1]
    assert report.html.find("button", string=lambda s: s and "Import" in s) is None

    isbns = [make_isbn(700_000_010 + i) for i in range(5)]
    good = HEADER + "".join(
        f'{isbn},"Book {i}, vol. {i}",Ann Author,fiction,{i}.50,{i},"multi\nline",,,,\n' for i, isbn in enumerate(isbns)
    )
    form = web.get("/staff/catalogue/import").forms["import-form"]
    form["file"] = ("good.csv", good.encode(), "text/csv")
    report = form.submit()
    counts = report.html.select_one("ul.counts").text
    assert "Rows: 5" in counts and "New books: 5" in counts
    confirm = report.forms["confirm-form"]

    # without the CSRF token the import is refused
    web.post(confirm.action, {}, status=400)

    progress = confirm.submit()
    assert "Import finished" in progress.text
    assert "5 of 5 rows imported (batch 3 of 3)" in progress.text
    assert "Created: 5" in progress.html.select_one("ul.counts").text
    assert dbsession.execute(text("SELECT count(*) FROM books WHERE isbn = ANY(:i)"), {"i": isbns}).scalar() == 5
    assert (
        dbsession.execute(text("SELECT title FROM books WHERE isbn = :i"), {"i": isbns[3]}).scalar() == "Book 3, vol. 3"
    )
    # the staged file is gone: confirming again is a 404
    web.post(confirm.action, {"csrf_token": csrf_token(progress)}, status=404)

    # the same file again: every row unchanged
    form = web.get("/staff/catalogue/import").forms["import-form"]
    form["file"] = ("good.csv", good.encode(), "text/csv")
    assert "Unchanged: 5" in form.submit().html.select_one("ul.counts").text

    export = web.get("/staff/catalogue/export.csv")
    assert export.content_type == "text/csv"
    assert {row["isbn"] for row in csv.DictReader(io.StringIO(export.text))} >= set(isbns)


def test_time_budget_continues_on_the_next_request(web, dbsession, api_app, monkeypatch):
    make_genre(dbsession, "fiction")
    monkeypatch.setattr(staff_catalogue, "BATCH_ROWS", 1)
    monkeypatch.setattr(staff_catalogue, "TIME_BUDGET_SECONDS", 0.0)  # one batch per request
    staff_member(dbsession, api_app, web)
    form = web.get("/staff/catalogue/import").forms["import-form"]
    body = HEADER + "".join(f"{make_isbn(700_000_100 + i)},Book {i},Ann,fiction,1.00,,,,,,\n" for i in range(3))
    form["file"] = ("three.csv", body.encode(), "text/csv")
    page = form.submit().forms["confirm-form"].submit()
    steps = 0
    while "Import finished" not in page.text:
        steps += 1
        assert "Continue the import" in page.text and steps < 5
        page = page.forms["continue-form"].submit()
    assert steps == 2
    assert "Created: 3" in page.html.select_one("ul.counts").text


def test_upload_refusals(web, dbsession, api_app, monkeypatch):
    staff_member(dbsession, api_app, web)
    page = web.get("/staff/catalogue/import")
    token = csrf_token(page)
    # no token: refused before anything is read
    web.post("/staff/catalogue/import", upload_files=[("file", "a.csv", HEADER.encode())], status=400)
    # no file / not the catalogue's CSV
    form = page.forms["import-form"]
    form["file"] = ("empty.csv", b"", "text/csv")
    assert "Choose a CSV file" in form.submit(status=400).text
    form = web.get("/staff/catalogue/import").forms["import-form"]
    form["file"] = ("other.csv", b"name,colour\nx,y\n", "text/csv")
    assert "missing isbn" in form.submit(status=400).text
    # too large: a 413 page before the body is read
    from bookstore_web import tweens

    monkeypatch.setitem(tweens.UPLOAD_LIMITS, "/staff/catalogue/import", 100)
    big = web.post(
        "/staff/catalogue/import", {"csrf_token": token}, upload_files=[("file", "a.csv", b"x" * 500)], status=413
    )
    assert "MiB at most" in big.text


def test_a_staged_import_is_its_uploaders_only(web, other_browser, dbsession, api_app):
    make_genre(dbsession, "fiction")
    staff_member(dbsession, api_app, web)
    form = web.get("/staff/catalogue/import").forms["import-form"]
    form["file"] = ("one.csv", (HEADER + f"{make_isbn(700_000_200)},One,Ann,fiction,1.00,,,,,,\n").encode(), "text/csv")
    action = form.submit().forms["confirm-form"].action
    staff_member(dbsession, api_app, other_browser)
    token = csrf_token(other_browser.get("/staff/catalogue/import"))
    other_browser.post(action, {"csrf_token": token}, status=404)
    web.post("/staff/catalogue/import/not*a*token", {"csrf_token": csrf_token(web.get("/staff"))}, status=404)
