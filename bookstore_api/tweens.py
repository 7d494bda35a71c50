"""Request-level guards that run before any view.

* ``request_id_tween``: every response carries ``X-Request-ID`` (the client's when
  it sent a sane one) and one access-log line.
* ``body_guard_tween``: bodies over 1 MiB are 413, bodies that are not JSON are 415,
  malformed JSON is 400 — before routing, so no view ever sees them.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

import orjson
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from .errors import error_response
from .logs import request_id_var

access_log = logging.getLogger("bookstore.access")

MAX_BODY_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

Handler = Callable[[Request], Response]


def request_id_tween(handler: Handler, registry: Registry) -> Handler:
    def tween(request: Request) -> Response:
        sent = request.headers.get("X-Request-ID", "")
        request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = handler(request)
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            return response
        finally:
            if access_log.isEnabledFor(logging.INFO) and request.path_info not in ("/healthz",):
                access_log.info(
                    "%s %s %s",
                    request.method,
                    request.path_info,
                    status,
                    extra={"status": status, "duration_ms": round((time.perf_counter() - started) * 1000, 2)},
                )
            request_id_var.reset(token)

    return tween


def body_guard_tween(handler: Handler, registry: Registry) -> Handler:
    def tween(request: Request) -> Response:
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
