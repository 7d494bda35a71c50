"""Request-level guards that run before any view.

(The request id comes first, from :func:`bookstore_core.logs.request_id_tween`.)

* ``relative_location_tween``: a ``Location`` header goes out as the view set it (a
  path), never made absolute from the client's ``Host`` header.
* ``body_guard_tween``: bodies over 1 MiB are 413, bodies that are not JSON are 415,
  malformed JSON is 400 — before routing, so no view ever sees them. The few
  operations that take another kind of body (``RAW_BODIES``: the catalogue import's
  CSV, a cover image) get their own size limit, refused as early (by
  ``Content-Length``, then by a bounded read), and their own media types (checked
  here, or by the view when it must look at the bytes themselves).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from bookstore_core.proxies import relative_location

from .errors import error_response

MAX_BODY_BYTES = 1024 * 1024
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class RawBody:
    """An operation whose body is not JSON: its path, media types and size limit."""

    method: str
    path: re.Pattern[str]
    #: the media types this guard accepts; empty when the view checks the type (by the bytes)
    media_types: tuple[str, ...]
    max_bytes: int
    too_large: str


RAW_BODIES: tuple[RawBody, ...] = (
    RawBody(
        "POST",
        re.compile(r"/api/v1/imports/books"),
        ("text/csv",),
        50 * 1024 * 1024,
        "The request body is larger than 50 MiB.",
    ),
    RawBody("PUT", re.compile(r"/api/v1/books/[^/]+/cover"), (), 5 * 1024 * 1024, "The image is larger than 5 MB."),
)


def _raw_body_for(request: Request) -> RawBody | None:
    for raw in RAW_BODIES:
        if request.method == raw.method and raw.path.fullmatch(request.path_info):
            return raw
    return None


def relative_location_tween(handler: Handler, registry: Registry) -> Handler:
    def tween(request: Request) -> Response:
        return relative_location(handler(request))

    return tween


def body_guard_tween(handler: Handler, registry: Registry) -> Handler:
    def tween(request: Request) -> Response:
        if request.method in _BODY_METHODS:
            raw = _raw_body_for(request)
            if raw is not None:
                return _raw_body(request, raw) or handler(request)
            length = request.content_length
            if length is not None and length > MAX_BODY_BYTES:
                return error_response(request, 413, "body_too_large", "The request body is larger than 1 MiB.")
            if length or request.headers.get("Transfer-Encoding"):
                body = request.body_file.read(MAX_BODY_BYTES + 1)
                if len(body) > MAX_BODY_BYTES:
                    return error_response(request, 413, "body_too_large", "The request body is larger than 1 MiB.")
                request.body = body
                if body:
                    if request.content_type != "application/json":
                        return error_response(
                            request,
                            415,
                            "unsupported_media_type",
                            "Send the request body as application/json.",
                        )
                    try:
                        request.environ["bookstore.json"] = orjson.loads(body)
                    except orjson.JSONDecodeError:
                        return error_response(request, 400, "invalid_json", "The request body is not valid JSON.")
        return handler(request)

    return tween


def _raw_body(request: Request, raw: RawBody) -> Response | None:
    """Read a non-JSON body within its limit; an error response, or None when the view may have it."""
    length = request.content_length
    too_large = raw.too_large
    if length is not None and length > raw.max_bytes:
        return error_response(request, 413, "body_too_large", too_large, {"max_bytes": raw.max_bytes})
    if length or request.headers.get("Transfer-Encoding"):
        if raw.media_types and request.content_type not in raw.media_types:
            return error_response(
                request, 415, "unsupported_media_type", f"Send the request body as {' or '.join(raw.media_types)}."
            )
        body = request.body_file.read(raw.max_bytes + 1)
        if len(body) > raw.max_bytes:
            return error_response(request, 413, "body_too_large", too_large, {"max_bytes": raw.max_bytes})
        request.body = body
    return None
