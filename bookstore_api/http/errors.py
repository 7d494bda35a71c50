"""Error bodies for every failure path, exactly as ``API.md`` specifies.

``{"error": {"code": ..., "message": ..., "details": {...}}}`` with the matching
status: invalid input, authentication, authorization, unknown routes and
methods, conflicts, rate limits, unavailable dependencies and, as a last resort,
an internal error that never leaks a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPException, HTTPForbidden, HTTPNotFound
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy.exc import DBAPIError, OperationalError

from ..exceptions import (
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotConfigured,
    NotFound,
    PayloadTooLarge,
    PaymentDeclined,
    RateLimited,
    UnsupportedMedia,
)
from .renderers import json_response

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error to report to the client with a status, a machine code and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def invalid(message: str, fields: dict[str, str] | None = None) -> APIError:
    """A 400 naming the offending fields."""
    return APIError(400, "invalid_input", message, {"fields": fields or {}})


def not_found(what: str = "resource") -> APIError:
    return APIError(404, "not_found", f"The {what} was not found.")


def conflict(code: str, message: str, details: dict[str, Any] | None = None) -> APIError:
    return APIError(409, code, message, details)


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    response = json_response(body, status=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


#: The status of each kind of domain error (the most specific class listed wins).
DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 400,
    PaymentDeclined: 402,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMedia: 415,
    RateLimited: 429,
    Busy: 503,
    NotConfigured: 503,
}


def domain_status(exc: DomainError) -> int:
    for kind in type(exc).__mro__:
        if kind in DOMAIN_STATUS:
            return DOMAIN_STATUS[kind]
    return 500


def domain_error_view(exc: DomainError, request: Request) -> Response:
    """Every refusal the services raise, as its status and error body (``Retry-After`` when it says when)."""
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return error_response(request, domain_status(exc), exc.code, exc.message, exc.details, headers)


def api_error_view(exc: APIError, request: Request) -> Response:
    return error_response(request, exc.status, exc.code, exc.message, exc.details, exc.headers)


def not_found_view(exc: HTTPNotFound, request: Request) -> Response:
    route = request.matched_route
    if route is not None and getattr(exc, "detail", None) != "api_not_found":
        # The URL matched a route but no view accepts this method.
        allowed = sorted(_allowed_methods(request, route.name))
        if allowed and request.method not in allowed:
            return error_response(
                request,
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here.",
                {"allowed": allowed},
                {"Allow": ", ".join(allowed)},
            )
    return error_response(request, 404, "not_found", "Nothing is at this address.")


def _allowed_methods(request: Request, route_name: str) -> set[str]:
    cache = request.registry.setdefault("bookstore.allowed_methods", {})
    if route_name in cache:
        return cache[route_name]
    methods: set[str] = set()
    introspector = request.registry.introspector
    for item in introspector.get_category("views") or []:
        view = item["introspectable"]
        if view["route_name"] != route_name:
            continue
        method = view["request_methods"]
        if method is None:
            continue
        methods.update([method] if isinstance(method, str) else method)
    if "GET" in methods:
        methods.add("HEAD")
    cache[route_name] = methods
    return methods


def forbidden_view(exc: HTTPForbidden, request: Request) -> Response:
    if request.authenticated_userid is None:
        return error_response(
            request,
            401,
            "not_authenticated",
            "A valid bearer token is required.",
            headers={"WWW-Authenticate": 'Bearer realm="bookstore"'},
        )
    return error_response(request, 403, "forbidden", "You are not allowed to do this.")


def http_exception_view(exc: HTTPException, request: Request) -> Response:
    code = exc.title.lower().replace(" ", "_") if exc.title else "error"
    return error_response(request, exc.code or 500, code, exc.explanation or exc.title or "Error")


def database_error_view(exc: DBAPIError, request: Request) -> Response:
    if isinstance(exc, OperationalError) or getattr(exc, "connection_invalidated", False):
        log.error("database unavailable: %s", exc.__class__.__name__)
        return error_response(
            request,
            503,
            "service_unavailable",
            "The database is unavailable; please retry shortly.",
            headers={"Retry-After": "5"},
        )
    return internal_error_view(exc, request)


def internal_error_view(exc: Exception, request: Request) -> Response:
    log.exception("unhandled error")
    return error_response(request, 500, "internal_error", "Something went wrong on our side.")


def includeme(config: Configurator) -> None:
    config.add_exception_view(domain_error_view, context=DomainError)
    config.add_exception_view(api_error_view, context=APIError)
    config.add_notfound_view(not_found_view)
    config.add_forbidden_view(forbidden_view)
    config.add_exception_view(http_exception_view, context=HTTPException)
    config.add_exception_view(database_error_view, context=DBAPIError)
    config.add_exception_view(internal_error_view, context=Exception)
