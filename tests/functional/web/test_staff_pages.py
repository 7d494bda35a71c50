"""The staff back-office: role checks, books, stock and the ledger, low stock, orders to ship."""

from __future__ import annotations

from tests.helpers import live
from tests.helpers.factories import make_book, next_isbn

from .conftest import WHOLE_CATALOGUE, add_to_cart, checkout, csrf_token, register, staff_member

STAFF_PAGES = ("/staff", "/staff/books", "/staff/books/new", "/staff/low-stock", "/staff/orders")


def test_staff_pages_need_a_signed_in_staff_member(web, book):
    for path in STAFF_PAGES + (f"/staff/books/{book.id}/edit", f"/staff/books/{book.id}/stock"):
        assert "/login?next=" in web.get(path, status=303).location
    register(web)
    for path in STAFF_PAGES:
        page = web.get(path, status=403)
        assert page.html.find("h1").text.strip() == "You cannot open this page"
    token = csrf_token(web.get("/"))
    web.post(f"/staff/books/{book.id}/stock", {"delta": "5", "reason": "restock", "csrf_token": token}, status=403)
    assert web.get("/").html.find("a", string="Staff") is None


def test_staff_dashboard_and_navigation(web, dbsession, api_app, book):
    staff_member(dbsession, api_app, web)

    page = web.get("/staff")

    assert page.html.find("h1").text.strip() == "Back-office"
    assert web.get("/").html.find("a", string="Staff")["href"] == "/staff"
    for path in STAFF_PAGES:
        assert web.get(path).status_int == 200


def test_staff_adds_a_book_then_restocks_it(web, dbsession, api_app):
    staff_member(dbsession, api_app, web)
    form = web.get("/staff/books/new").forms["book-form"]
    isbn = next_isbn()
    form["isbn"], form["title"], form["price"] = isbn, "Tide Tables", "18.00"
    form["authors"] = "Nell Marsh\nTheo Gull"
    form["description"] = "Everything about the sea."

    stock_page = form.submit(status=303).follow()

    assert "“Tide Tables” is in the catalogue." in stock_page.text
    assert stock_page.html.find(id="stock-quantity").text == "0"
    adjust = stock_page.forms["stock-form"]
    adjust["delta"], adjust["reason"], adjust["note"] = "12", "restock", "Delivery 42"
    restocked = adjust.submit(status=303).follow()
    assert "Added 12 copies." in restocked.text
    assert restocked.html.find(id="stock-quantity").text == "12"
    ledger = restocked.html.select("section[aria-labelledby=ledger-title] tbody tr")
    assert "+12" in ledger[0].text and "Restock: Delivery 42" in ledger[0].text and "12" in ledger[0].text

    book_url = restocked.html.find("a", string="View in shop")["href"]
    live.record("book", book_url.rstrip("/").rsplit("/", 1)[-1])  # a deployed shop's copy is removed afterwards
    shop_page = web.get(book_url)
    assert "Nell Marsh" in shop_page.text and "Theo Gull" in shop_page.text


def test_book_form_errors(web, dbsession, api_app, book):
    staff_member(dbsession, api_app, web)
    form = web.get("/staff/books/new").forms["book-form"]
    form["isbn"], form["title"], form["price"], form["authors"] = "9780000000000", "", "free", ""

    page = form.submit(status=400)

    assert page.html.find(id="f-title-error").text == "Enter the title."
    assert page.html.find(id="f-price-error").text == "Enter the price as a number such as 12.50."
    assert page.html.find(id="f-authors-error").text == "List at least one author, one per line."

    form = page.forms["book-form"]
    form["isbn"], form["title"], form["price"], form["authors"] = "9780000000001", "Bad Isbn", "5.00", "A B"
    assert page.forms["book-form"] is not None
    page = form.submit(status=400)
    assert "ISBN-13" in page.html.find(id="f-isbn-error").text

    form = page.forms["book-form"]
    form["isbn"] = book.isbn
    page = form.submit(status=400)
    assert page.html.find(id="f-isbn-error").text == "A book with this ISBN is already in the catalogue."


def test_staff_edits_and_archives_a_book(web, dbsession, api_app, book):
    staff_member(dbsession, api_app, web)
    form = web.get(f"/staff/books/{book.id}/edit").forms["book-form"]
    assert form["title"].value == "The Quiet Lighthouse" and form["authors"].value == "Mara Quill"
    form["title"], form["price"] = "The Quiet Lighthouse (2nd ed.)", "16.00"

    form.submit(status=303).follow()

    page = web.get(f"/books/{book.id}")
    assert page.html.find("h1").text.strip() == "The Quiet Lighthouse (2nd ed.)"
    assert page.html.select_one(".price-large").text.strip() == "$16.00"

    edit = web.get(f"/staff/books/{book.id}/edit")
    archive = next(f for f in edit.forms.values() if f.action.endswith("/archive"))
    done = archive.submit(status=303).follow()
    assert "is no longer for sale" in done.text
    register_browser_sees = web.get("/books", {"q": "Quiet Lighthouse"})
    assert f'href="/books/{book.id}"' not in str(register_browser_sees.html.select_one("#results"))


def test_removing_more_stock_than_there_is_is_refused(web, dbsession, api_app, book):
    staff_member(dbsession, api_app, web)
    form = web.get(f"/staff/books/{book.id}/stock").forms["stock-form"]
    form["delta"], form["reason"] = "-50", "adjustment"

    page = form.submit(status=409)

    assert page.html.find(id="f-delta-error").text == "There are not that many copies in stock to remove."
    assert page.html.find(id="stock-quantity").text == "7"
    form = page.forms["stock-form"]
    form["delta"] = "zero"
    assert "Enter how many copies" in form.submit(status=400).html.find(id="f-delta-error").text


@WHOLE_CATALOGUE
def test_low_stock_list(web, dbsession, api_app):
    make_book(dbsession, title="Running Low", stock=1)
    make_book(dbsession, title="Plenty Here", stock=500)
    staff_member(dbsession, api_app, web)

    page = web.get("/staff/low-stock", {"threshold": "3"})

    titles = [row.find("th").text.strip() for row in page.html.select("tbody tr")]
    assert "Running Low" in titles and "Plenty Here" not in titles


def test_staff_ships_and_delivers_an_order(web, other_browser, dbsession, api_app, book):
    register(other_browser)
    add_to_cart(other_browser, book.id, 1)
    order_url = checkout(other_browser).submit().location.split("?")[0]
    order_id = order_url.rsplit("/", 1)[1]
    staff_member(dbsession, api_app, web)

    to_ship = web.get("/staff/orders", {"status": "paid"})
    assert f"Order {order_id}" in to_ship.text
    ship = next(f for f in to_ship.forms.values() if f.action == f"/staff/orders/{order_id}/ship")
    shipped_list = ship.submit(status=303).follow()
    assert f"Order {order_id} is marked shipped." in shipped_list.text

    detail = web.get(f"/staff/orders/{order_id}")
    assert "Shipped" in detail.html.select_one(".status").text
    deliver = next(f for f in detail.forms.values() if f.action == f"/staff/orders/{order_id}/deliver")
    delivered = deliver.submit(status=303).follow()
    assert "Delivered" in delivered.html.select_one(".status").text

    customer_view = other_browser.get(order_url)
    assert "Delivered" in customer_view.html.select_one(".status").text
    assert not [f for f in customer_view.forms.values() if "cancel" in f.action]  # too late to cancel
