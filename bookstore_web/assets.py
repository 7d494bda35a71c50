"""Static files: served under ``/static`` with long cache lifetimes, cache-busted by content.

Every URL made with ``request.static_url`` carries a hash of the file's bytes
(``/static/css/site.css?v=3f2a…``), so a changed file gets a new URL and
browsers and proxies may keep each version for a year (``immutable``).

Text assets (CSS, JavaScript, SVG) are sent gzip-compressed to clients that accept it
(``Content-Encoding: gzip``, with ``Vary: Accept-Encoding`` so caches keep both forms),
compressed once per file and process: htmx shrinks from 51 to 17 kB, which is what a
phone on a slow connection waits for before the page works.

Covers kept in a local directory (the API's local cover storage, ``make run``)
are served under ``/covers/``: their names are digests of their bytes, so they
are immutable too. In AWS covers come from the CDN and that directory is empty.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

from pyramid.config import Configurator
from pyramid.static import QueryStringCacheBuster

STATIC_DIR = Path(__file__).parent / "static"
#: the static files worth compressing (images other than SVG, and fonts, are compressed already)
COMPRESSIBLE_TYPES = frozenset({"text/css", "text/javascript", "application/javascript", "image/svg+xml"})


def _static_file(path: str) -> Path | None:
    file = (STATIC_DIR / path).resolve()
    if STATIC_DIR.resolve() not in file.parents or not file.is_file():
        return None
    return file


@lru_cache(maxsize=512)
def content_hash(path: str) -> str:
    """The first 12 hex digits of the SHA-256 of a static file (read once per process)."""
    file = _static_file(path)
    if file is None:
        return "missing"
    return hashlib.sha256(file.read_bytes()).hexdigest()[:12]


@lru_cache(maxsize=128)
def gzipped(path: str) -> bytes | None:
    """A static file gzip-compressed (once per process), or None when that would not make it smaller."""
    file = _static_file(path)
    if file is None:
        return None
    data = file.read_bytes()
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    return packed if len(packed) < len(data) else None


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
    config.add_subscriber(_compress_static, "pyramid.events.NewResponse")


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


def _accepts_gzip(request: object) -> bool:
    header = request.headers.get("Accept-Encoding")  # type: ignore[attr-defined]
    if not header:
        return False  # no header: send the file as it is (what clients without one expect)
    return bool(request.accept_encoding.acceptable_offers(["gzip"]))  # type: ignore[attr-defined]


def _compress_static(event: object) -> None:
    """Send a text asset gzip-compressed when the client accepts it."""
    request = event.request  # type: ignore[attr-defined]
    response = event.response  # type: ignore[attr-defined]
    if not request.path_info.startswith("/static/") or response.content_type not in COMPRESSIBLE_TYPES:
        return
    response.vary = tuple(dict.fromkeys([*(response.vary or ()), "Accept-Encoding"]))
    if response.status_code != 200 or response.content_encoding or request.method != "GET":
        return
    if not _accepts_gzip(request):
        return
    packed = gzipped(request.path_info[len("/static/") :])
    if packed is None:
        return
    if hasattr(response.app_iter, "close"):
        response.app_iter.close()  # the file the static view opened
    response.app_iter = [packed]
    response.content_length = len(packed)
    response.content_encoding = "gzip"
    if response.etag:
        response.etag = f"{response.etag}-gzip"  # another representation, another validator
