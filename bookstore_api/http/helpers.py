"""Small helpers shared by the API's views."""

from __future__ import annotations

import hashlib

from pyramid.request import Request
from pyramid.response import Response

#: the bounds and defaults openapi.yaml gives the shared ``page`` and ``per_page`` parameters
MAX_PAGE = 100_000
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


def paging(params: dict) -> tuple[int, int]:
    """``page`` and ``per_page`` from query parameters the spec has checked (defaults when absent)."""
    return int(params.get("page") or 1), int(params.get("per_page") or DEFAULT_PER_PAGE)


def page_body(items: list, total: int, page: int, per_page: int) -> dict:
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def path_param(request: Request, name: str):
    return request.validated.path[name]


def query_params(request: Request) -> dict:
    return request.validated.query


def json_body(request: Request) -> dict:
    body = request.validated.body
    return body if isinstance(body, dict) else {}


def cacheable_json(request: Request, body: bytes, max_age: int = 0) -> Response:
    """A JSON response with a strong ETag; ``If-None-Match`` gets a 304.

    Anonymous requests may be cached by browsers and proxies (``public``;
    ``max_age`` 0 means "revalidate every time", right for anything showing
    stock); requests with credentials are ``private``.
    """
    etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'
    private = "Authorization" in request.headers
    cache_control = f"private, max-age={max_age}" if private else f"public, max-age={max_age}, must-revalidate"
    headers = [
        ("Content-Type", "application/json"),
        ("ETag", etag),
        ("Cache-Control", cache_control),
        ("Vary", "Authorization, Accept-Encoding"),
    ]
    sent = request.headers.get("If-None-Match")
    if sent and (sent == etag or etag in (tag.strip() for tag in sent.split(","))):
        return Response(status=304, headerlist=headers[1:])
    return Response(body=body, headerlist=headers)
