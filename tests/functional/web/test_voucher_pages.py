"""Vouchers in the storefront: the code field in the cart and at checkout, the totals shown from the
cart preview (and charged), the discount on order pages, and the staff's voucher pages."""

from __future__ import annotations

from sqlalchemy import select

from bookstore_api.orders.models import Order
from bookstore_api.vouchers.models import Voucher
from tests.helpers.factories import make_book

from .conftest import add_to_cart, checkout, csrf_token, htmx, register, staff_member


def make_voucher(dbsession, code: str, kind: str = "percent", value: str = "10", **fields) -> Voucher:
    voucher = Voucher(code=code, kind=kind, value=value, uses=0, active=True, **fields)
    dbsession.add(voucher)
    dbsession.flush()
    return voucher


def totals(page) -> dict[str, str]:
    return {row["class"][0]: row.find("dd").get_text(" ", strip=True) for row in page.html.select("dl.totals > div")}


def apply(web, code: str, page: str = "/cart", back: str = "cart"):
    form = next(f for f in web.get(page).forms.values() if f.action == "/cart/voucher" and "code" in f.fields)
    assert form["back"].value == back
    form["code"] = code
    return form.submit()


def test_the_cart_shows_shipping_and_the_total_to_pay(web, book):
    add_to_cart(web, book.id, 2)
    assert totals(web.get("/cart")) == {"subtotal": "$29.00", "shipping": "$4.99", "total": "$33.99"}


def test_a_voucher_in_the_cart_then_at_checkout_is_what_is_charged(web, dbsession, book):
    make_voucher(dbsession, "READ15", value="15")
    register(web)
    add_to_cart(web, book.id, 2)

    cart = apply(web, "read15").follow()
    assert "Voucher READ15 is applied." in cart.text
    # 15 % of 29.00 = 4.35
    assert totals(cart) == {"subtotal": "$29.00", "discount": "−$4.35", "shipping": "$4.99", "total": "$29.64"}
    assert "Discount (READ15)" in cart.html.select_one("dl.totals").text

    page = web.get("/checkout")
    assert totals(page) == totals(cart)
    assert "Place order · pay $29.64" in page.html.find("button", attrs={"data-once": True}).text
    form = checkout(web)
    assert form["voucher_code"].value == "READ15"
    placed = form.submit(status=303).follow()

    order = dbsession.scalars(select(Order).order_by(Order.id.desc())).first()
    assert (str(order.total), str(order.discount), order.voucher_code) == ("29.64", "4.35", "READ15")
    assert "Discount (READ15)" in placed.html.select_one("tr.discount").text
    assert "−$4.35" in placed.html.select_one("tr.discount").text
    assert "$29.64" in placed.html.select_one("tr.total").text
    assert "Your cart is empty." in web.get("/cart").text


def test_a_voucher_that_cannot_be_used_says_why_and_is_not_kept(web, dbsession, book):
    make_voucher(dbsession, "BIGSPEND", kind="fixed", value="5", min_subtotal="100")
    add_to_cart(web, book.id, 1)
    cart = apply(web, "BIGSPEND").follow()
    assert "This voucher needs an order of at least $100.00 before shipping." in cart.text
    assert "discount" not in totals(cart)
    cart = apply(web, "NO-SUCH-CODE").follow()
    assert "There is no voucher with this code." in cart.text
    assert "discount" not in totals(web.get("/cart"))


def test_apply_and_remove_with_htmx(web, dbsession, book):
    make_voucher(dbsession, "FIVEOFF", kind="fixed", value="5")
    add_to_cart(web, book.id, 1)
    token = csrf_token(web.get("/cart"))
    fragment = web.post("/cart/voucher", {"code": "fiveoff", "back": "cart", "csrf_token": token}, headers=htmx())
    assert fragment.text.lstrip().startswith('<section id="cart"')
    assert totals(fragment) == {"subtotal": "$14.50", "discount": "−$5.00", "shipping": "$4.99", "total": "$14.49"}
    fragment = web.post("/cart/voucher", {"action": "remove", "back": "cart", "csrf_token": token}, headers=htmx())
    assert "discount" not in totals(fragment) and "The voucher is removed." in fragment.text


def test_a_voucher_used_up_before_the_order_is_placed(web, other_browser, dbsession, book):
    voucher = make_voucher(dbsession, "LASTONE", kind="fixed", value="3", max_uses=1)
    register(web)
    add_to_cart(web, book.id, 1)
    apply(web, "LASTONE", page="/checkout", back="checkout").follow()
    form = checkout(web)
    voucher.uses = 1  # someone else took the last use meanwhile
    dbsession.flush()
    page = form.submit(status=409)
    assert "This voucher has been fully used." in page.text
    assert "discount" not in totals(page) and totals(page)["total"] == "$19.49"
    assert dbsession.scalar(select(Order.id).where(Order.voucher_code == "LASTONE")) is None


def test_voucher_forms_need_the_csrf_token(web, dbsession, api_app, book):
    add_to_cart(web, book.id, 1)
    web.post("/cart/voucher", {"code": "ANY"}, status=400)
    staff_member(dbsession, api_app, web)
    web.post("/staff/vouchers/new", {"code": "NOTOKEN", "kind": "fixed", "value": "5"}, status=400)
    assert dbsession.scalar(select(Voucher.id).where(Voucher.code == "NOTOKEN")) is None


def test_staff_pages_are_for_staff(web):
    assert "/login?next=" in web.get("/staff/vouchers", status=303).location
    register(web)
    web.get("/staff/vouchers", status=403)
    web.get("/staff/vouchers/new", status=403)


def test_staff_create_edit_and_deactivate_a_voucher(web, dbsession, api_app, book):
    make_book(dbsession, title="Verse", genres=("poetry",))
    staff_member(dbsession, api_app, web)
    form = web.get("/staff/vouchers/new").forms["voucher-form"]
    form["code"], form["kind"], form["value"] = "winter-20", "percent", "20"
    form["max_uses"], form["max_uses_per_customer"] = "50", "1"
    form["ends_at"] = "2099-01-31T23:59"
    form["genres"] = ["poetry"]
    listing = form.submit(status=303).follow()
    assert "Voucher WINTER-20 is created." in listing.text
    row = listing.html.select_one(".vouchers-table tbody tr")
    assert "WINTER-20" in row.text and "20% off" in row.text and "0 of 50" in row.text and "Active" in row.text
    voucher = dbsession.scalar(select(Voucher).where(Voucher.code == "WINTER-20"))
    assert voucher.ends_at.isoformat() == "2099-01-31T23:59:00+00:00"

    edit = web.get(f"/staff/vouchers/{voucher.id}/edit").forms["voucher-form"]
    assert edit["ends_at"].value == "2099-01-31T23:59"
    edit["value"], edit["max_uses"] = "150", ""
    errors = edit.submit(status=400)
    assert "A percentage is at most 100." in errors.text
    edit = errors.forms["voucher-form"]
    edit["value"] = "25"
    edit.submit(status=303)
    dbsession.expire_all()
    assert (str(voucher.value), voucher.max_uses) == ("25.00", None)

    listing = web.get("/staff/vouchers")
    deactivate = next(f for f in listing.forms.values() if f.action == f"/staff/vouchers/{voucher.id}/active")
    listing = deactivate.submit(status=303).follow()
    assert "Voucher WINTER-20 is deactivated" in listing.text
    assert "Inactive" in listing.html.select_one(".vouchers-table tbody tr").text

    form = web.get("/staff/vouchers/new").forms["voucher-form"]
    form["code"], form["value"] = "Winter-20", "5"
    assert "A voucher with this code already exists." in form.submit(status=400).text


def test_the_staff_order_page_shows_the_discount(web, other_browser, dbsession, api_app, book):
    make_voucher(dbsession, "STAFFSEE", kind="fixed", value="2.50")
    register(other_browser)
    add_to_cart(other_browser, book.id, 1)
    apply(other_browser, "STAFFSEE").follow()
    checkout(other_browser).submit(status=303)
    order = dbsession.scalars(select(Order).order_by(Order.id.desc())).first()
    staff_member(dbsession, api_app, web)
    page = web.get(f"/staff/orders/{order.id}")
    assert "−$2.50" in page.html.select_one("tr.discount").text and "STAFFSEE" in page.text
