"""Static files: served under ``/static`` with long cache lifetimes, cache-busted by content.

Every URL made with ``request.static_url`` carries a hash of the file's bytes
(``/static/css/site.css?v=3f2a…``), so a changed file gets a new URL and
browsers and proxies may keep each version for a year (``immutable``).

Covers kept in a local directory (the API's local cover storage, ``make run``)
are served under ``/covers/``: their names are digests of their bytes, so they
are immutable too. In AWS covers come from the CDN and that directory is empty.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from pyramid.config import Configurator
from pyramid.static import QueryStringCacheBuster

STATIC_DIR = Path(__file__).parent / "static"


@lru_cache(maxsize=512)
def content_hash(path: str) -> str:
    """The first 12 hex digits of the SHA-256 of a static file (read once per process)."""
    file = (STATIC_DIR / path).resolve()
    if STATIC_DIR.resolve() not in file.parents or not file.is_file():
        return "missing"
    return hashlib.sha256(file.read_bytes()).hexdigest()[:12]


class ContentHashCacheBuster(QueryStringCacheBuster):
    """Adds ``?v=<content hash>`` to every static URL."""

    def __init__(self) -> None:
        super().__init__(param="v")

    def tokenize(self, request: object, subpath: str, kw: dict) -> str:
        return content_hash(subpath)


def includeme(config: Configurator) -> None:
    max_age = int(config.get_settings()["web.static_max_age_seconds"])
    config.add_static_view("static", "bookstore_web:static/", cache_max_age=max_age)
    config.add_cache_buster("bookstore_web:static/", ContentHashCacheBuster())
    covers = Path(config.get_settings()["web.covers_dir"]).resolve()
    config.add_static_view("covers", str(covers), cache_max_age=max_age)
    config.add_subscriber(_static_cache_headers, "pyramid.events.NewResponse")


def _static_cache_headers(event: object) -> None:
    request = event.request  # type: ignore[attr-defined]
    response = event.response  # type: ignore[attr-defined]
    if request.path_info.startswith("/covers/") and response.status_code == 200:
        max_age = request.registry.settings["web.static_max_age_seconds"]
        response.headers["Cache-Control"] = f"public, max-age={max_age}, immutable"
        return
    if not request.path_info.startswith("/static/") or response.status_code != 200:
        return
    if request.GET.get("v"):
        max_age = request.registry.settings["web.static_max_age_seconds"]
        response.headers["Cache-Control"] = f"public, max-age={max_age}, immutable"
    else:
        # an un-versioned URL (typed by hand, or stale): short cache, then revalidate
        response.headers["Cache-Control"] = "public, max-age=300"
        response.headers.pop("Expires", None)
