"""Browser tests: real API and storefront servers (waitress, in threads, on free loopback
ports) over a database of their own on the harness's PostgreSQL and Redis, driven by
Playwright with Debian's Chromium. axe-core is injected from ``vendor/`` (no network).

Screenshots of every page visited go to ``var/screenshots/<page>-<desktop|phone>.png``.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BOOKSTORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE_JS = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

STAFF_EMAIL = "browser-staff@bookstore.test"
PASSWORD = "a long enough password"


def pytest_collection_modifyitems(config, items):
    """Without Chromium the browser tests are skipped on a developer's machine, but in CI
    (``CI`` set) they fail: the setup script installs Chromium, so its absence is a defect."""
    if Path(CHROMIUM).exists():
        return
    reason = f"no Chromium at {CHROMIUM} (scripts/system-deps.sh installs it)"
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI: {reason}; the browser tests must run here")
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(skip)


@dataclass
class Shop:
    api_url: str
    web_url: str
    database_url: str
    book_id: int
    book_title: str


class ThreadedServer:
    """A waitress server in a daemon thread on a free loopback port."""

    def __init__(self, app, threads: int = 4):
        import waitress.server

        self.server = waitress.server.create_server(
            app, host="127.0.0.1", port=0, threads=threads, ident="bookstore-test", clear_untrusted_proxy_headers=True
        )
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True, name=f"waitress {self.url}")
        self.thread.start()

    def stop(self) -> None:
        self.server.close()
        self.thread.join(5)


def _seed(database_url: str) -> tuple[int, str]:
    from sqlalchemy.orm import Session

    from bookstore_api.infra.db import make_engine
    from bookstore_dev.seed import seed_catalog
    from tests.helpers.factories import make_book

    engine = make_engine({"sqlalchemy.url": database_url, "sqlalchemy.pool_size": 2, "sqlalchemy.max_overflow": 0})
    seed_catalog(engine, books=60, seed=7, progress=False)
    with Session(engine) as session:
        book = make_book(
            session,
            title="The Quiet Lighthouse",
            authors=("Mara Quill",),
            genres=(),
            price="14.50",
            stock=3,
            description="A keeper, a storm, and a secret.\nA novel about the sea and the people who wait for it.",
            publisher="Harbour Press",
            pages=312,
            language="en",
        )
        book_id = book.id
        session.commit()
    engine.dispose()
    return book_id, "The Quiet Lighthouse"


@pytest.fixture(scope="session")
def shop(services) -> Iterator[Shop]:
    """The API and the storefront, served over HTTP like in production."""
    from bookstore_api import main as api_main
    from bookstore_api.cli.migrate import upgrade
    from bookstore_api.cli.users import ensure_user
    from bookstore_web import main as web_main
    from tests.helpers.services import (
        app_settings_for,
        covers_dir_for,
        create_database,
        delete_prefix,
        drop_database,
    )

    name = f"bookstore_browser_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    database_url = create_database(services.server_url, name)
    redis_prefix = f"{services.redis_prefix}browser:"
    api = web = None
    try:
        upgrade(database_url)
        book_id, title = _seed(database_url)
        api_settings = app_settings_for(services, **{"sqlalchemy.url": database_url, "redis.prefix": redis_prefix})
        ensure_user(api_settings, STAFF_EMAIL, PASSWORD, "Sam Staff", "staff")
        api = ThreadedServer(api_main({}, **api_settings))
        web_settings = {
            "bookstore.env": "testing",
            "bookstore.log_format": "text",
            "bookstore.log_level": "WARNING",
            "web.api_url": api.url,
            "redis.url": services.redis_url,
            "redis.prefix": redis_prefix,
            "web.covers_dir": str(covers_dir_for(services)),
        }
        web = ThreadedServer(web_main({}, **web_settings), threads=6)
        yield Shop(api.url, web.url, database_url, book_id, title)
    finally:
        for server in (web, api):
            if server is not None:
                server.stop()
        drop_database(services.server_url, name)
        delete_prefix(services.redis_url, redis_prefix)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def axe_results() -> dict[str, dict[str, int]]:
    """Page name -> {viewport: number of violations}; printed at the end of the session."""
    results: dict[str, dict[str, int]] = {}
    yield results
    if results:
        lines = [
            f"  {page:<28} " + "  ".join(f"{vp}: {n}" for vp, n in sorted(r.items())) for page, r in results.items()
        ]
        print("\naxe-core WCAG 2 A/AA violations per page:\n" + "\n".join(lines))


class Visitor:
    """One shopper's browser tab (a context of its own), with page checks built in."""

    def __init__(self, browser, shop: Shop, screenshots: Path, axe_results: dict, viewport: str = "desktop"):
        self.browser = browser
        self.shop = shop
        self.screenshots = screenshots
        self.axe_results = axe_results
        self.viewport = viewport
        self.context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=shop.web_url, locale="en-GB")
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def _console(self, message) -> None:
        # a 4xx/5xx answer is logged by the browser itself; pages with form errors answer 400 on purpose
        if message.type == "error" and not message.text.startswith("Failed to load resource: the server responded"):
            self.console_errors.append(message.text)

    def goto(self, path: str):
        response = self.page.goto(path)
        self.page.wait_for_load_state("load")
        return response

    def check(self, name: str, *, phone_too: bool = True) -> None:
        """axe-core (zero WCAG 2 A/AA violations), no console or CSP errors, and screenshots."""
        self._check_page(self.page, name, self.viewport)
        if phone_too and self.viewport == "desktop":
            phone = self.browser.new_context(
                viewport=VIEWPORTS["phone"], base_url=self.shop.web_url, storage_state=self.context.storage_state()
            )
            try:
                page = phone.new_page()
                page.goto(self.page.url)
                self._check_page(page, name, "phone")
            finally:
                phone.close()
        assert not self.console_errors, f"{name}: browser console errors: {self.console_errors}"

    def _check_page(self, page, name: str, viewport: str) -> None:
        page.screenshot(path=str(self.screenshots / f"{name}-{viewport}.png"), full_page=True)
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(AXE_JS.read_text())  # evaluated by the driver, so the page's CSP does not block it
        violations = page.evaluate(
            "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))",
            WCAG_TAGS,
        )
        self.axe_results.setdefault(name, {})[viewport] = len(violations)
        assert violations == [], f"{name} ({viewport}): axe violations: {violations}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visitor(browser, shop, screenshots, axe_results) -> Iterator:
    made: list[Visitor] = []

    def make(viewport: str = "desktop") -> Visitor:
        made.append(Visitor(browser, shop, screenshots, axe_results, viewport))
        return made[-1]

    yield make
    for one in made:
        one.close()
