"""The address book (list, add, edit, delete, default) and saved addresses at checkout."""

from __future__ import annotations

from tests.helpers.clients import Client
from tests.helpers.commerce import FUTURE_EXPIRY

from .account_helpers import form_with_action, post_without_csrf
from .conftest import PASSWORD, add_to_cart, checkout, csrf_token, register

HOME = {"name": "Ada Reader", "line1": "1 Library Lane", "city": "Springfield", "postal_code": "12345", "country": "US"}
WORK = {
    "name": "Ada at Work",
    "line1": "9 Office Park",
    "line2": "Floor 3",
    "city": "Shelbyville",
    "region": "Oregon",
    "postal_code": "97000",
    "country": "US",
}


def add_address(web, fields: dict, default: bool = False, status="*"):
    form = web.get("/account/addresses/new").forms["address-form"]
    for name, value in fields.items():
        form[name] = value
    form["is_default"].checked = default
    return form.submit(status=status)


def cards(page) -> list[str]:
    return [card.get_text(" ", strip=True) for card in page.html.select(".address-card")]


def address_ids(testapp, email: str) -> dict[str, int]:
    token = Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}).json["token"]
    found = Client(testapp, token).get("/me/addresses").json
    items = found["items"] if isinstance(found, dict) else found
    return {a["name"]: a["id"] for a in items}


def test_an_empty_address_book_says_so(web):
    register(web)
    page = web.get("/account/addresses")
    assert "You have no saved addresses yet." in page.text
    assert page.html.find("a", string="Add an address")["href"] == "/account/addresses/new"


def test_add_edit_default_and_delete(web, testapp):
    email = register(web)
    first = add_address(web, HOME, status=303)
    assert first.location == "/account/addresses"
    page = add_address(web, WORK, status=303).follow()
    assert "The address is saved in your address book." in page.text
    assert len(cards(page)) == 2
    assert "9 Office Park" in page.text and "Floor 3" in page.text and "Oregon" in page.text
    ids = address_ids(testapp, email)

    # the default: shown first, marked, and without its own "make default" button
    page = form_with_action(page, f"/account/addresses/{ids['Ada at Work']}/default").submit(status=303).follow()
    assert "This is now your default delivery address." in page.text
    assert cards(page)[0].startswith("Ada at Work Default")
    assert not [f for f in page.forms.values() if f.action == f"/account/addresses/{ids['Ada at Work']}/default"]

    edit = web.get(f"/account/addresses/{ids['Ada Reader']}/edit").forms["address-form"]
    assert edit["line1"].value == "1 Library Lane"
    edit["line1"], edit["line2"] = "2 Library Lane", "Flat 5"
    page = edit.submit(status=303).follow()
    assert "The address is updated." in page.text
    assert "2 Library Lane" in page.text and "Flat 5" in page.text

    cleared = web.get(f"/account/addresses/{ids['Ada at Work']}/edit").forms["address-form"]
    cleared["line2"] = ""
    page = cleared.submit(status=303).follow()
    assert "Floor 3" not in page.text  # an optional field can be emptied

    page = form_with_action(page, f"/account/addresses/{ids['Ada Reader']}/delete").submit(status=303).follow()
    assert "The address is deleted from your address book." in page.text
    assert len(cards(page)) == 1 and "Library Lane" not in page.text


def test_missing_fields_are_explained(web):
    register(web)
    page = add_address(web, {**HOME, "line1": "", "postal_code": "x" * 21, "country": "US"}, status=400)
    assert page.html.find(id="f-line1-error").text == "Enter the street address."
    assert page.html.find(id="f-postal_code-error").text == "Use at most 20 characters."
    assert page.forms["address-form"]["city"].value == "Springfield"  # what was typed stays


def test_another_shoppers_address_is_a_friendly_404(web, other_browser, testapp):
    theirs = register(other_browser, name="Other Reader")
    add_address(other_browser, HOME, status=303)
    their_id = address_ids(testapp, theirs)["Ada Reader"]
    register(web)
    token = csrf_token(web.get("/account/addresses"))

    for response in (
        web.get(f"/account/addresses/{their_id}/edit", status=404),
        web.post(f"/account/addresses/{their_id}/edit", {**WORK, "csrf_token": token}, status=404),
        web.post(f"/account/addresses/{their_id}/delete", {"csrf_token": token}, status=404),
        web.post(f"/account/addresses/{their_id}/default", {"csrf_token": token}, status=404),
        web.get("/account/addresses/99999999999/edit", status=404),
        web.get("/account/addresses/abc/edit", status=404),
    ):
        assert response.html.find("h1").text == "Page not found"
    assert "1 Library Lane" in other_browser.get("/account/addresses").text  # untouched


def test_the_address_forms_refuse_a_post_without_csrf_token(web, testapp):
    email = register(web)
    add_address(web, HOME, status=303)
    address_id = address_ids(testapp, email)["Ada Reader"]
    for path, data in (
        ("/account/addresses/new", WORK),
        (f"/account/addresses/{address_id}/edit", WORK),
        (f"/account/addresses/{address_id}/default", {}),
        (f"/account/addresses/{address_id}/delete", {}),
    ):
        post_without_csrf(web, path, data)
    assert cards(web.get("/account/addresses")) and "9 Office Park" not in web.get("/account/addresses").text


def test_the_address_book_needs_a_signed_in_shopper(web):
    assert web.get("/account/addresses", status=303).location.startswith("/login?next=%2Faccount%2Faddresses")


# --- checkout -----------------------------------------------------------------------------------


def test_checkout_offers_saved_addresses_with_the_default_chosen(web, testapp, book):
    email = register(web)
    add_address(web, HOME, status=303)
    add_address(web, WORK, default=True, status=303)
    ids = address_ids(testapp, email)
    add_to_cart(web, book.id)

    page = web.get("/checkout")

    choices = page.html.select("input[name=address_id]")
    assert [c["value"] for c in choices] == [str(ids["Ada at Work"]), str(ids["Ada Reader"]), "new"]
    assert [c.has_attr("checked") for c in choices] == [True, False, False]
    form = page.forms["checkout-form"]
    form["card_number"], form["expiry"], form["cvc"] = "4242 4242 4242 4242", FUTURE_EXPIRY, "123"
    form["address_id"] = str(ids["Ada Reader"])  # a saved address, not the default; no fields typed

    response = form.submit(status=303)

    order_id = int(response.location.split("/orders/")[1].split("?")[0])
    token = Client(testapp).post("/auth/tokens", {"email": email, "password": PASSWORD}).json["token"]
    order = Client(testapp, token).get(f"/orders/{order_id}").json
    assert order["shipping_address"]["line1"] == "1 Library Lane"
    assert order["shipping_address"]["name"] == "Ada Reader"


def test_checkout_with_a_new_address_can_save_it(web, book):
    register(web)
    add_to_cart(web, book.id)
    page = web.get("/checkout")
    assert not page.html.select("input[name=address_id]")  # nothing saved yet: just the fields
    form = checkout(web)
    form["save_address"].checked = True

    order = form.submit(status=303).follow()

    assert "The address is saved in your address book." in order.text
    book_page = web.get("/account/addresses")
    assert len(cards(book_page)) == 1 and "1 Library Lane" in book_page.text

    add_to_cart(web, book.id)
    again = web.get("/checkout")
    assert len(again.html.select("input[name=address_id]")) == 2  # the saved one (chosen) and "new"
    form = again.forms["checkout-form"]
    form["address_id"] = "new"
    for name, value in {**HOME, "card_number": "4242 4242 4242 4242", "expiry": FUTURE_EXPIRY, "cvc": "123"}.items():
        form[name] = value
    form["save_address"].checked = True
    form.submit(status=303).follow()
    assert len(cards(web.get("/account/addresses"))) == 1  # the same address is not saved twice


def test_a_declined_card_saves_no_address(web, book):
    register(web)
    add_to_cart(web, book.id)
    form = checkout(web, card="4000 0000 0000 0002")
    form["save_address"].checked = True

    page = form.submit(status=402)

    assert "declined" in page.text
    assert page.forms["checkout-form"]["save_address"].checked  # the choice is kept for the retry
    assert "You have no saved addresses yet." in web.get("/account/addresses").text


def test_a_new_address_must_be_complete_only_when_chosen(web, book):
    register(web)
    add_address(web, HOME, status=303)
    add_to_cart(web, book.id)
    form = web.get("/checkout").forms["checkout-form"]
    form["address_id"] = "new"
    form["card_number"], form["expiry"], form["cvc"] = "4242 4242 4242 4242", FUTURE_EXPIRY, "123"

    page = form.submit(status=400)

    assert page.html.find(id="f-line1-error").text == "Enter the street address."
    assert page.html.find("input", id="address-choice-new").has_attr("checked")


def test_checkout_with_another_shoppers_address_id_is_refused_kindly(web, other_browser, testapp, book):
    theirs = register(other_browser, name="Other Reader")
    add_address(other_browser, HOME, status=303)
    their_id = address_ids(testapp, theirs)["Ada Reader"]
    register(web)
    add_address(web, WORK, status=303)
    add_to_cart(web, book.id)
    form = web.get("/checkout").forms["checkout-form"]
    form["card_number"], form["expiry"], form["cvc"] = "4242 4242 4242 4242", FUTURE_EXPIRY, "123"
    fields = dict(form.submit_fields())
    fields["address_id"] = str(their_id)  # a forged choice

    page = web.post("/checkout", fields, status=400)

    assert "no longer in your address book" in page.html.find(id="form-errors").text
    assert "1 Library Lane" not in page.text  # their address is never shown
    assert web.get("/cart").html.select(".cart-table tbody tr")  # nothing was bought
