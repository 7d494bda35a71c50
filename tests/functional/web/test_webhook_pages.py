"""The staff's webhook pages: list (with the failing state), create (the secret shown once),
edit, the delivery log, a test event, delete; staff only, every form with its CSRF token."""

from __future__ import annotations

from sqlalchemy import text

from .conftest import csrf_token, register, staff_member

PUBLIC_URL = "https://93.184.215.14/erp-hooks"


def add_webhook(web, url=PUBLIC_URL, events=("order.paid", "order.shipped"), description="ERP"):
    form = web.get("/staff/webhooks").forms["webhook-form"]
    form["url"] = url
    for checkbox in form.fields["events"]:
        checkbox.checked = checkbox._value in events
    form["description"] = description
    return form.submit(status="*")


def test_webhook_pages_are_for_staff_only(web, dbsession, api_app):
    assert "/login?next=" in web.get("/staff/webhooks", status=303).location
    register(web)
    assert web.get("/staff/webhooks", status=403)
    token = csrf_token(web.get("/"))
    web.post("/staff/webhooks", {"url": PUBLIC_URL, "events": "order.paid", "csrf_token": token}, status=403)


def test_staff_add_a_webhook_and_see_the_secret_once(web, dbsession, api_app):
    staff_member(dbsession, api_app, web)
    assert web.get("/staff").html.find("a", string="Webhooks")["href"] == "/staff/webhooks"

    created = add_webhook(web)

    assert created.status_int == 200 and "no-store" in created.headers["Cache-Control"]
    secret = created.html.find(id="webhook-secret")["value"]
    assert secret.startswith("whsec_")
    listing = web.get("/staff/webhooks")
    assert PUBLIC_URL in listing.text and "ERP" in listing.text and "Working" in listing.text
    assert secret not in listing.text
    detail = listing.click(href=r"/staff/webhooks/\d+$")
    assert secret not in detail.text
    assert detail.forms["webhook-form"]["url"].value == PUBLIC_URL
    assert [c.checked for c in detail.forms["webhook-form"].fields["events"]] == [True, True, False, False, False]


def test_the_forms_need_their_csrf_token(web, dbsession, api_app):
    staff_member(dbsession, api_app, web)
    web.post("/staff/webhooks", {"url": PUBLIC_URL, "events": "order.paid"}, status=400)
    created = add_webhook(web)
    hook_id = created.html.find("a", string="Go to the webhook")["href"].rsplit("/", 1)[1]
    for path in (f"/staff/webhooks/{hook_id}", f"/staff/webhooks/{hook_id}/test", f"/staff/webhooks/{hook_id}/delete"):
        web.post(path, {"url": PUBLIC_URL, "events": "order.paid", "csrf_token": "forged"}, status=400)
    assert web.get(f"/staff/webhooks/{hook_id}").status_int == 200  # nothing deleted


def test_refused_urls_and_missing_events_are_explained(web, dbsession, api_app):
    staff_member(dbsession, api_app, web)
    page = add_webhook(web, url="http://169.254.169.254/latest/", events=())
    assert page.status_int == 400
    assert page.html.find(id="f-events-error").text == "Choose at least one event."
    page = add_webhook(web, url="http://10.0.0.1/hooks")
    assert page.status_int == 400
    assert "private address" in page.html.find(id="f-url-error").text
    assert page.forms["webhook-form"]["url"].value == "http://10.0.0.1/hooks"  # the form keeps what was typed


def test_edit_send_a_test_event_see_the_log_and_delete(web, dbsession, api_app):
    staff_member(dbsession, api_app, web)
    created = add_webhook(web)
    detail = web.get(created.html.find("a", string="Go to the webhook")["href"])
    hook_path = detail.request.path

    form = detail.forms["webhook-form"]
    form["url"] = "https://93.184.215.14/v2"
    for checkbox in form.fields["events"]:
        checkbox.checked = checkbox._value == "book.low_stock"
    saved = form.submit(status=303).follow()
    assert "The webhook is saved." in saved.text
    assert saved.forms["webhook-form"]["url"].value == "https://93.184.215.14/v2"
    assert "Nothing sent yet." in saved.text

    tested = saved.forms["webhook-test-form"].submit(status=303).follow()
    assert "A test event is on its way" in tested.text
    (row,) = tested.html.select("#deliveries tbody tr")
    assert "webhook.test" in row.text and "Pending" in row.text

    # a delivery given up on shows as failing, in the list and on the page; saving clears it
    dbsession.execute(text("UPDATE webhook_endpoints SET failing_since = now()"))
    assert "Failing" in web.get("/staff/webhooks").html.find(id="webhooks").text
    failing = web.get(hook_path)
    assert failing.html.find(id="failing") is not None
    cleared = failing.forms["webhook-form"].submit(status=303).follow()
    assert cleared.html.find(id="failing") is None

    gone = cleared.forms["webhook-delete-form"].submit(status=303).follow()
    assert "The webhook is deleted" in gone.text and "No webhooks yet." in gone.text
    web.get(hook_path, status=404)
