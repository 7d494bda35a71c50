"""What an attacker tried against the shop, and the limits that stop them without hurting the owner.

Log-in throttling per (account, address), the sign-up limit, the bounded password-hashing
queue, checkout as a card-testing oracle, reviews that outlive a cancelled purchase, the
password policy, control characters and non-ASCII digits, and Location headers.
"""

from __future__ import annotations

import logging
import threading

import pytest
from pyramid.scripting import prepare

from bookstore_api.accounts.services import PasswordService
from tests.helpers.clients import Client, register_and_login, unique_email
from tests.helpers.commerce import ADDRESS, DECLINED_CARD, FUTURE_EXPIRY, checkout_body, new_key
from tests.helpers.factories import make_book

#: the in-process API believes X-Forwarded-For from its test peer (a trusted proxy), so these stand for two
#: shoppers' addresses; a deployed shop sees the QA machine's one address behind them

PASSWORD = "a long enough password"
ATTACKER = {"X-Forwarded-For": "203.0.113.66"}
OWNER_ELSEWHERE = {"X-Forwarded-For": "198.51.100.23"}
INSUFFICIENT_FUNDS_CARD = {"card_number": "4000000000009995", "expiry": FUTURE_EXPIRY, "cvc": "123"}


@pytest.mark.needs_db  # two shoppers' addresses
def test_wrong_passwords_from_one_address_never_lock_the_owner_out_elsewhere(anon):
    email = unique_email("owner")
    anon.post("/users", {"email": email, "password": PASSWORD, "name": "Owner"})
    for _ in range(8):
        anon.post("/auth/tokens", {"email": email, "password": "guess guess guess"}, status="*", headers=ATTACKER)
    limited = anon.post("/auth/tokens", {"email": email, "password": PASSWORD}, status=429, headers=ATTACKER)
    assert limited.json["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    # the owner, from anywhere else, logs in at once
    anon.post("/auth/tokens", {"email": email, "password": PASSWORD}, status=201, headers=OWNER_ELSEWHERE)


@pytest.mark.needs_db  # reads the waits in Redis
def test_the_wait_doubles_with_each_failure_after_the_free_ones(anon, api_app):
    store = api_app.registry["redis"]
    email = unique_email("owner")
    waits = []
    for _ in range(8):
        anon.post("/auth/tokens", {"email": email, "password": "guess guess"}, status=401, headers=ATTACKER)
        keys = list(store.client.scan_iter(store.key("rl", "login:pair", "wait", "*")))
        waits.append(max((store.client.ttl(key) for key in keys), default=0))
        for key in keys:  # as if the wait had passed; the count of failures stays
            store.client.delete(key)
    assert waits[:4] == [0, 0, 0, 0]
    assert [round(wait / 30) for wait in waits[4:]] == [1, 2, 4, 8]  # 30 s, 1 min, 2 min, 4 min


@pytest.mark.needs_db  # changes the app's settings
def test_sign_ups_are_limited_per_address(anon, api_app, monkeypatch):
    monkeypatch.setitem(api_app.registry.settings, "bookstore.signup_max_per_address", 3)
    for _ in range(3):
        anon.post("/users", {"email": unique_email(), "password": PASSWORD, "name": "Bulk"}, headers=ATTACKER)
    limited = anon.post(
        "/users", {"email": unique_email(), "password": PASSWORD, "name": "Bulk"}, status=429, headers=ATTACKER
    )
    assert limited.json["error"]["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    # someone else signs up as usual
    anon.post("/users", {"email": unique_email(), "password": PASSWORD, "name": "Reader"}, headers=OWNER_ELSEWHERE)


def _password_service(api_app) -> PasswordService:
    env = prepare(registry=api_app.registry)
    try:
        return env["request"].find_service(PasswordService)
    finally:
        env["closer"]()


@pytest.mark.needs_db  # fills the app's hashing queue
def test_a_full_hashing_queue_answers_503_with_retry_after_instead_of_waiting(anon, api_app, monkeypatch):
    passwords = _password_service(api_app)
    monkeypatch.setattr(passwords, "queue_wait", 0.05)
    taken = 0
    while passwords._slots.acquire(blocking=False):
        taken += 1
    release = threading.Timer(2.0, lambda: [passwords._slots.release() for _ in range(taken)])
    release.start()
    try:
        busy = anon.post("/auth/tokens", {"email": unique_email(), "password": "guess guess"}, status="*")
    finally:
        release.cancel()
        for _ in range(taken):
            try:
                passwords._slots.release()
            except ValueError:
                break
    assert busy.status_int == 503
    assert busy.json["error"]["code"] == "busy"
    assert busy.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    "password",
    ["1234567890", "          ", "password12345", "qwertyuiop", "aaaaaaaaaaaa", "EMAIL", "LOCAL2024"],
)
def test_weak_passwords_are_refused_naming_the_field(anon, password):
    email = unique_email("policy")
    password = password.replace("EMAIL", email).replace("LOCAL", email.partition("@")[0])
    response = anon.post("/users", {"email": email, "password": password, "name": "Weak"}, status=400)
    assert set(response.json["error"]["details"]["fields"]) == {"password"}


@pytest.fixture
def book(dbsession):
    return make_book(dbsession, title="Oracle Bait", price="12.00", stock=20)


@pytest.mark.needs_db  # reads the app's log
def test_declines_look_alike_and_the_reason_goes_to_the_log(testapp, book, caplog):
    client, _ = register_and_login(testapp)
    caplog.set_level(logging.INFO, logger="bookstore_api.orders.services")
    bodies = []
    for card in (DECLINED_CARD, INSUFFICIENT_FUNDS_CARD):
        response = client.post("/orders", checkout_body([(book.id, 1)], card=card), status=402, headers=new_key())
        bodies.append(response.json["error"])
    assert bodies[0] == bodies[1]
    assert bodies[0]["details"] == {"reason": "declined"}
    logged = [record for record in caplog.records if record.getMessage() == "payment declined"]
    assert [record.reason for record in logged] == ["card_declined", "insufficient_funds"]
    assert all(record.card_last4 in ("0002", "9995") for record in logged)


@pytest.mark.needs_db  # changes the app's settings
def test_declined_cards_are_limited_per_user_and_per_address(testapp, book, api_app, monkeypatch):
    monkeypatch.setitem(api_app.registry.settings, "bookstore.checkout_max_declines_per_user", 2)
    monkeypatch.setitem(api_app.registry.settings, "bookstore.checkout_max_declines_per_address", 3)
    tester, _ = register_and_login(testapp)
    for _ in range(2):
        tester.post("/orders", checkout_body([(book.id, 1)], card=DECLINED_CARD), status=402, headers=new_key())
    limited = tester.post("/orders", checkout_body([(book.id, 1)]), status=429, headers=new_key())
    assert limited.json["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    # a second account from the same address has one decline left there ...
    second, _ = register_and_login(testapp)
    second.post("/orders", checkout_body([(book.id, 1)], card=DECLINED_CARD), status=402, headers=new_key())
    second.post("/orders", checkout_body([(book.id, 1)]), status=429, headers=new_key())
    # ... while a shopper elsewhere buys as usual
    shopper, _ = register_and_login(testapp)
    shopper.post("/orders", checkout_body([(book.id, 1)]), status=201, headers={**new_key(), **OWNER_ELSEWHERE})


@pytest.mark.parametrize("field", ["name", "line1", "city", "postal_code"])
def test_a_control_character_in_the_address_is_refused_before_any_charge(testapp, book, field, caplog):
    client, _ = register_and_login(testapp)
    caplog.set_level(logging.INFO)
    body = checkout_body([(book.id, 1)], address={**ADDRESS, field: "Evil\x00Street"})
    response = client.post("/orders", body, status=400, headers=new_key())
    assert f"shipping_address.{field}" in response.json["error"]["details"]["fields"]
    assert not [record for record in caplog.records if record.getMessage().startswith("payment")]


def test_a_cancelled_purchase_takes_its_review_out_of_the_rating(testapp, book, dbsession, verify_email):
    buyer, _ = register_and_login(testapp)
    other, _ = register_and_login(testapp)
    verify_email(buyer)
    verify_email(other)
    anon = Client(testapp)
    first = buyer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key()).json
    other.post("/orders", checkout_body([(book.id, 1)]), headers=new_key())
    buyer.post(f"/books/{book.id}/reviews", {"rating": 1, "body": "Bought to pan it."})
    other.post(f"/books/{book.id}/reviews", {"rating": 4, "body": "Good."})
    before = anon.get(f"/books/{book.id}").json  # fills the cache
    assert (before["average_rating"], before["rating_count"]) == ("2.50", 2)

    buyer.post(f"/orders/{first['id']}/cancel", status=200)

    after = anon.get(f"/books/{book.id}").json  # the cached entry was replaced
    assert (after["average_rating"], after["rating_count"]) == ("4.00", 1)
    reviews = anon.get(f"/books/{book.id}/reviews").json
    assert [review["rating"] for review in reviews["items"]] == [4] and reviews["total"] == 1


def test_a_review_still_backed_by_another_purchase_keeps_counting(testapp, book, verify_email):
    buyer, _ = register_and_login(testapp)
    verify_email(buyer)
    first = buyer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key()).json
    buyer.post("/orders", checkout_body([(book.id, 1)]), headers=new_key())
    buyer.post(f"/books/{book.id}/reviews", {"rating": 5, "body": "Bought it twice."})
    buyer.post(f"/orders/{first['id']}/cancel", status=200)
    assert Client(testapp).get(f"/books/{book.id}").json["rating_count"] == 1


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/books/%C2%B2", None),  # /books/²
        ("GET", "/books/%D9%A1%D9%A2", None),  # Arabic-Indic 12
        ("GET", "/orders/%C2%B2", None),
        ("GET", "/authors/%C2%B3", None),
        ("GET", "/books/1%00", None),
        ("GET", "/books", {"page": "²"}),
        ("GET", "/books", {"per_page": "٣"}),
        ("GET", "/books", {"q": "nul\x00byte"}),
        ("GET", "/books", {"author": "a\x1bb"}),
        ("GET", "/books", {"min_price": "１０"}),
        ("GET", "/authors", {"q": "\x00"}),
        ("GET", "/inventory/low-stock", {"threshold": "²"}),
    ],
)
def test_control_characters_and_foreign_digits_are_400_or_404_never_500(staff, method, path, params):
    response = staff.get(path, status="*", params=params)
    assert response.status_int in (400, 404), response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/tokens", {"email": "a\x00@example.com", "password": "x"}),
        ("/auth/tokens", {"email": "a@example.com", "password": "pass\x00word"}),
        ("/users", {"email": "a\x00b@example.com", "password": PASSWORD, "name": "N"}),
        ("/users", {"email": unique_email(), "password": PASSWORD, "name": "Bad\x07name"}),
        ("/users", {"email": "a@exa²mple.com", "password": PASSWORD, "name": "N"}),
    ],
)
def test_account_fields_with_control_characters_are_never_500(anon, path, body):
    response = anon.post(path, body, status="*")
    assert response.status_int in (400, 401), response.text


def test_staff_fields_with_control_characters_are_400(staff, dbsession):
    book = make_book(dbsession, stock=1)
    staff.patch(f"/books/{book.id}", {"title": "Bad\x00title"}, status=400)
    staff.post(f"/books/{book.id}/stock-movements", {"delta": 1, "reason": "restock", "note": "a\x00b"}, status=400)
    staff.get("/orders", status=400, params={"status": "paid\x00"})


def test_location_headers_are_paths_whatever_the_host_header(testapp):
    response = testapp.post_json(
        "/api/v1/users",
        {"email": unique_email(), "password": PASSWORD, "name": "Host"},
        headers={"Host": "evil.example"},
        status=201,
    )
    assert response.headers["Location"] == "/api/v1/me"
