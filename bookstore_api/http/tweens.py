"""Request-level guards that run before any view.

(The request id comes first, from :func:`bookstore_core.logs.request_id_tween`.)

* ``relative_location_tween``: a ``Location`` header goes out as the view set it (a
  path), never made absolute from the client's ``Host`` header.
* ``body_guard_tween``: bodies over 1 MiB are 413, bodies that are not JSON are 415,
  malformed JSON is 400 — before routing, so no view ever sees them. The few
  operations whose body is not JSON (``RAW_BODIES``: a cover image) get their own
  size limit, refused as early (by ``Content-Length``, then by a bounded read);
  their views check the media type.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import orjson
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from bookstore_core.proxies import relative_location

from .errors import error_response

Handler = Callable[[Request], Response]

MAX_BODY_BYTES = 1024 * 1024
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: (method, path) of operations whose body is not JSON -> (most bytes accepted, what to say above it)
RAW_BODIES: list[tuple[str, re.Pattern[str], int, str]] = [
    ("PUT", re.compile(r"/api/v1/books/[^/]+/cover"), 5 * 1024 * 1024, "The image is larger than 5 MB."),
]


def _raw_body_limit(request: Request) -> tuple[int, str] | None:
    for method, path, limit, message in RAW_BODIES:
        if request.method == method and path.fullmatch(request.path_info):
            return limit, message
    return None


def _raw_body_guard(handler: Handler, request: Request, limit: int, message: str) -> Response:
    length = request.content_length
    if length is not None and length > limit:
        return error_response(request, 413, "body_too_large", message, {"max_bytes": limit})
    body = request.body_file.read(limit + 1) if length or request.headers.get("Transfer-Encoding") else b""
    if len(body) > limit:
        return error_response(request, 413, "body_too_large", message, {"max_bytes": limit})
    request.body = body
    return handler(request)


def relative_location_tween(handler: Handler, registry: Registry) -> Handler:
    def tween(request: Request) -> Response:
        return relative_location(handler(request))

    return tween


def body_guard_tween(handler: Handler, registry: Registry) -> Handler:
    def tween(request: Request) -> Response:
        raw = _raw_body_limit(request) if request.method in _BODY_METHODS else None
        if raw is not None:
            return _raw_body_guard(handler, request, *raw)
        if request.method in _BODY_METHODS:
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
