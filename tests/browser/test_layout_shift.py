"""Nothing on the storefront's main pages moves once it is on screen (cumulative layout shift 0),
on a phone and on a desktop, even when the scripts arrive after the first paint, as they do on a
slow mobile connection (what Lighthouse's mobile run simulates).

The browser's own ``layout-shift`` entries (PerformanceObserver) are summed, as CLS is. The
scripts (htmx and app.js) are held back until the page has painted, then released."""

from __future__ import annotations

import pytest

from tests.browser.test_covers import CLS_OBSERVER

SCRIPTS = ("**/static/js/**", "**/static/vendor/**")
FIRST_PAINT = "() => performance.getEntriesByType('paint').length > 0"


def _pages(shop) -> dict[str, str]:
    return {
        "home": "/",
        "catalogue": "/books",
        "search": "/books?q=lighthouse",
        "book": f"/books/{shop.book_id}",
    }


def _shifts_with_late_scripts(page, path: str) -> list[dict]:
    page.add_init_script(CLS_OBSERVER)
    held: list = []
    for pattern in SCRIPTS:
        page.route(pattern, lambda route: held.append(route))
    page.goto(path, wait_until="commit")
    page.wait_for_function(FIRST_PAINT, polling="raf")
    page.wait_for_function("() => document.readyState !== 'loading'")
    assert held, f"{path}: no script was requested"
    assert page.evaluate("() => document.readyState") == "interactive", "the scripts ran before they were released"
    for route in held:
        route.continue_()
    for pattern in SCRIPTS:  # anything asked for later goes straight through
        page.route(pattern, lambda route: route.continue_())
    page.wait_for_load_state("load")
    page.wait_for_function("() => document.fonts.status === 'loaded'")
    # two frames after everything has run: any shift the scripts caused has been laid out and reported
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    return page.evaluate("() => window.__layoutShifts")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
@pytest.mark.parametrize("name", ["home", "catalogue", "search", "book"])
def test_no_layout_shift_while_the_page_loads(visitor, shop, name, viewport):
    tab = visitor(viewport)
    shifts = _shifts_with_late_scripts(tab.page, _pages(shop)[name])
    assert sum(shift["value"] for shift in shifts) == 0, f"{name} ({viewport}) layout shifts: {shifts}"
    assert not tab.console_errors, tab.console_errors


@pytest.mark.parametrize(("viewport", "shown"), [("phone", False), ("desktop", True)])
def test_the_catalogue_filters_are_folded_on_a_phone_only(visitor, viewport, shown):
    page = visitor(viewport).page
    page.goto("/books?q=lighthouse")
    page.wait_for_load_state("load")
    assert page.locator("#filters-form").is_visible() is shown
    assert page.evaluate("() => document.querySelector('.filters-box').open") is shown
    assert page.locator("#results-title").is_visible()
    # "Refine" is a button to tab to only where it folds something
    assert page.evaluate("() => document.querySelector('.filters-box > summary').tabIndex") == (-1 if shown else 0)
    if not shown:
        # a tap on "Refine" unfolds them
        page.locator(".filters-box > summary").click()
        assert page.locator("#filters-form").is_visible()


def test_filters_in_use_stay_open_on_a_phone(visitor):
    page = visitor("phone").page
    page.goto("/books?in_stock=1")
    page.wait_for_load_state("load")
    assert page.locator("#filters-form").is_visible()
    assert page.locator("#in_stock").is_checked()
