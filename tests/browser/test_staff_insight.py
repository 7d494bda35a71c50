"""The back-office reports and the catalogue import in a real browser: charts, tables, upload, progress.

Every page is checked with axe-core (WCAG 2 A/AA) and screenshotted at desktop and
phone widths (``var/screenshots/staff-reports-*.png``, ``staff-import-*.png``).
"""

from __future__ import annotations

import psycopg2
from playwright.sync_api import expect

from bookstore_dev.seed import make_isbn

from .conftest import PASSWORD, STAFF_EMAIL

HEADER = "isbn,title,authors,genres,price,stock,description,publisher,published,language,pages\n"


def _sales(database_url: str) -> None:
    """Orders over the last 60 days (some cancelled), so every chart has something to draw."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO users (email, name, password_hash) VALUES ('browser-buyer@bookstore.test', 'Buyer', 'x') "
            "ON CONFLICT (email) DO UPDATE SET name = excluded.name RETURNING id"
        )
        user_id = cursor.fetchone()[0]
        cursor.execute(
            """
            WITH placed AS (
                INSERT INTO orders (user_id, status, subtotal, shipping, total, currency, ship_name, ship_line1,
                                    ship_city, ship_postal_code, ship_country, payment_brand, payment_last4,
                                    payment_reference, created_at)
                SELECT %s, CASE WHEN g %% 7 = 0 THEN 'cancelled' ELSE 'delivered' END, 10 + (g %% 13) * 3.25, 4.99,
                       10 + (g %% 13) * 3.25 + 4.99, 'USD', 'Buyer', '1 Lane', 'City', '1000', 'PT', 'visa', '4242',
                       'browser-' || g, now() - (g %% 60) * interval '1 day' - interval '1 hour'
                FROM generate_series(1, 150) g
                RETURNING id
            )
            INSERT INTO order_lines (order_id, book_id, title, quantity, unit_price)
            SELECT placed.id, b.id, b.title, 1 + placed.id %% 2, b.price
            FROM placed JOIN LATERAL (
                SELECT id, title, price FROM books ORDER BY id OFFSET (placed.id %% 12) LIMIT 1
            ) b ON true
            """,
            (user_id,),
        )


def test_staff_reports_and_catalogue_import(visitor, shop, tmp_path):
    _sales(shop.database_url)
    staff = visitor()
    page = staff.page
    staff.goto("/login?next=/staff")
    page.get_by_label("Email address").fill(STAFF_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Back-office")

    revenue = page.get_by_role("img", name="Revenue per day (USD), with the previous period")
    expect(revenue).to_be_visible()
    expect(page.get_by_role("img", name="Orders per day")).to_be_visible()
    expect(page.get_by_role("img", name="Top books by revenue (USD)")).to_be_visible()
    expect(page.get_by_role("img", name="Top genres by revenue (USD)")).to_be_visible()
    staff.check("staff-reports")

    page.get_by_label("Per", exact=True).select_option("week")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("img", name="Revenue per week (USD), with the previous period")).to_be_visible()
    page.get_by_text("Sales per week as a table").click()
    expect(page.locator("details.chart-data tbody tr").first).to_be_visible()
    staff.check("staff-reports-weekly")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download top books as CSV").click()
    assert download.value.suggested_filename.startswith("top-books-")

    page.get_by_role("navigation", name="Back-office").get_by_role("link", name="Import/export").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import and export the catalogue")
    staff.check("staff-import")

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "9780000000001,Bad,Ann,no-such-genre,x,1,,,,,\n")
    page.get_by_label("CSV file (at most 50 MiB)").set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", level=2, name="The file has problems")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(3)
    staff.check("staff-import-problems", phone_too=False)

    good = tmp_path / "good.csv"
    good.write_text(
        HEADER + "".join(f"{make_isbn(600_000_000 + i)},Imported {i},Ann Author,,9.50,{i},,,,en,\n" for i in range(4))
    )
    page.get_by_role("link", name="Upload a corrected file").click()
    page.get_by_label("CSV file (at most 50 MiB)").set_input_files(str(good))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", level=2, name="The file is ready to import")).to_be_visible()
    staff.check("staff-import-ready", phone_too=False)
    page.get_by_role("button", name="Import 4 rows").click()
    expect(page.get_by_role("heading", level=2, name="Import finished")).to_be_visible()
    expect(page.locator("#import-bar")).to_have_attribute("value", "4")
    staff.check("staff-import-finished", phone_too=False)
