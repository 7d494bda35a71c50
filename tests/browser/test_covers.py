"""A book page with an uploaded cover does not move while the cover arrives: the box is reserved
from the img's width/height before a byte of the image is in (Cumulative Layout Shift measured by
the browser's own PerformanceObserver 'layout-shift' entries is 0)."""

from __future__ import annotations

import json
import urllib.request

from tests.browser.conftest import PASSWORD, STAFF_EMAIL
from tests.helpers.factories import next_isbn
from tests.helpers.images import image_bytes

CLS_OBSERVER = """
window.__layoutShifts = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.__layoutShifts.push({value: entry.value, time: entry.startTime,
      sources: (entry.sources || []).map((s) => (s.node && s.node.nodeType === 1 ? s.node.outerHTML.slice(0, 120) : String(s.node))
        + ' ' + JSON.stringify(s.previousRect) + ' -> ' + JSON.stringify(s.currentRect))});
  }
}).observe({type: 'layout-shift', buffered: true});
"""


def _api(shop, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> dict:
    request = urllib.request.Request(shop.api_url + "/api/v1" + path, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _book_with_cover(shop) -> dict:
    login = json.dumps({"email": STAFF_EMAIL, "password": PASSWORD}).encode()
    token = _api(shop, "POST", "/auth/tokens", login, {"Content-Type": "application/json"})["token"]
    auth = {"Authorization": f"Bearer {token}"}
    # a description of usual length: the shelf of the author's other books (loaded by htmx when
    # revealed) starts below the first screen, as on most book pages
    description = "\n\n".join(
        "The lights of the harbour go out one by one, and Ines Tallow keeps count. " * 6 for _ in range(4)
    )
    body = {
        "isbn": next_isbn(),
        "title": "Harbour Lights",
        "price": "11.00",
        "authors": ["Ines Tallow"],
        "description": description,
    }
    book = _api(shop, "POST", "/books", json.dumps(body).encode(), {**auth, "Content-Type": "application/json"})
    cover = image_bytes("image/jpeg", (640, 960), color=(20, 60, 120), quality=90)
    return _api(shop, "PUT", f"/books/{book['id']}/cover", cover, {**auth, "Content-Type": "image/jpeg"})


def test_the_book_page_does_not_shift_while_its_cover_loads(visitor, shop):
    book = _book_with_cover(shop)
    tab = visitor()
    page = tab.page
    page.add_init_script(CLS_OBSERVER)
    held = []
    page.route("**/covers/**", lambda route: held.append(route))  # the cover waits until released below

    page.goto(f"/books/{book['id']}", wait_until="domcontentloaded")
    cover = page.locator(".book-detail-cover img.cover")
    page.wait_for_function("() => document.fonts.status === 'loaded'")
    before = cover.bounding_box()
    assert page.evaluate("() => document.querySelector('.book-detail-cover img.cover').complete") is False
    assert before["height"] > 0 and abs(before["height"] / before["width"] - 1.5) < 0.02, before

    assert held, "the cover was requested at once (not lazily) by the book page"
    for route in held:
        route.continue_()
    page.route("**/covers/**", lambda route: route.continue_())
    page.wait_for_function(
        "() => { const img = document.querySelector('.book-detail-cover img.cover');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    page.wait_for_load_state("load")
    after = cover.bounding_box()
    assert after == before, "the cover's box changed when the image arrived"
    shifts = page.evaluate("() => window.__layoutShifts")
    assert sum(shift["value"] for shift in shifts) == 0, f"layout shifts: {shifts}"
    assert page.evaluate("() => document.querySelector('.book-detail-cover img.cover').currentSrc").endswith(".webp")
    tab.check("book-with-cover")
