"""Text assets (CSS, JavaScript, SVG) go out gzip-compressed to the browsers that accept it, and
as they are to the others; caches are told the answer depends on Accept-Encoding.

WebTest decodes gzip answers by itself, so the bytes on the wire are read from the app directly
(or over HTTP, undecoded, from a deployed storefront)."""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass

import httpx
import pytest
import webob

from bookstore_web.assets import STATIC_DIR

from .conftest import BROWSER, LIVE_WEB_URL

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def raw(request):
    """GET a URL and return its answer as sent (no content decoding)."""
    if LIVE_WEB_URL:

        def get(url: str, headers: dict[str, str] | None = None) -> Raw:
            sent = {"Accept-Encoding": "identity", **(headers or {})}
            with (
                httpx.Client(base_url=LIVE_WEB_URL, timeout=30) as client,
                client.stream("GET", url, headers=sent) as answer,
            ):
                return Raw(answer.status_code, dict(answer.headers), b"".join(answer.iter_raw()))

        return get
    app = request.getfixturevalue("web_app")

    def get(url: str, headers: dict[str, str] | None = None) -> Raw:
        answer = webob.Request.blank(url, environ=dict(BROWSER), headers=headers or {}).get_response(app)
        return Raw(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.body)

    return get


def _asset_urls(web) -> dict[str, str]:
    page = web.get("/")
    return {
        "css/site.css": page.html.find("link", rel="stylesheet")["href"],
        "vendor/htmx-2.0.11/htmx.min.js": page.html.find("script", src=re.compile("htmx"))["src"],
        "js/app.js": page.html.find("script", src=re.compile("app.js"))["src"],
        "img/favicon.svg": page.html.find("link", rel="icon")["href"],
    }


@pytest.mark.readonly
def test_text_assets_are_gzipped_for_browsers_that_accept_it(web, raw):
    for path, url in _asset_urls(web).items():
        original = (STATIC_DIR / path).read_bytes()
        response = raw(url, GZIP)
        assert response.status == 200, path
        assert "Accept-Encoding" in response.headers.get("vary", ""), path
        assert response.headers["content-encoding"] == "gzip", path
        assert int(response.headers["content-length"]) == len(response.body) < len(original), path
        assert gzip.decompress(response.body) == original, path
        assert "immutable" in response.headers["cache-control"], path


@pytest.mark.readonly
def test_htmx_shrinks_to_a_third(web, raw):
    url = _asset_urls(web)["vendor/htmx-2.0.11/htmx.min.js"]
    response = raw(url, GZIP)
    assert response.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert len(response.body) * 2.5 < (STATIC_DIR / "vendor/htmx-2.0.11/htmx.min.js").stat().st_size


@pytest.mark.readonly
@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0", "br"])
def test_assets_are_sent_as_they_are_without_gzip_in_accept_encoding(web, raw, accept):
    url = _asset_urls(web)["css/site.css"]
    headers = {} if accept is None else {"Accept-Encoding": accept}
    response = raw(url, headers)
    assert "content-encoding" not in response.headers
    assert response.body == (STATIC_DIR / "css/site.css").read_bytes()
    assert "Accept-Encoding" in response.headers["vary"]


@pytest.mark.readonly
def test_other_files_are_not_compressed(raw):
    response = raw("/static/vendor/htmx-2.0.11/LICENSE", GZIP)
    assert response.status == 200
    assert "content-encoding" not in response.headers
    assert response.body == (STATIC_DIR / "vendor/htmx-2.0.11/LICENSE").read_bytes()
