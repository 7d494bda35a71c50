"""Friendly error pages: 400 (expired form), 403, 404, 429, 500 and 503 (API or Redis down).

No traceback ever reaches a shopper: unexpected errors are logged with the
request id and answered with the 500 page. When the API is unreachable or says
a dependency is down, shoppers get a 503 page with ``Retry-After``. An expired
API token signs the shopper out and sends them to the log-in page.
"""

from __future__ import annotations

import logging
import sys
from typing import Any
from urllib.parse import urlencode, urlsplit

import redis
from pyramid.exceptions import BadCSRFToken
from pyramid.httpexceptions import HTTPException, HTTPForbidden, HTTPNotFound
from pyramid.renderers import render_to_response
from pyramid.request import Request
from pyramid.response import Response

from ..api import ApiError, ApiUnavailable
from ..sessions import SessionUnavailable
from . import htmx_target, is_htmx, safe_next, see_other

log = logging.getLogger(__name__)

TITLES = {
    400: "That did not work",
    403: "You cannot open this page",
    404: "Page not found",
    405: "That did not work",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "The shop is briefly unavailable",
}


def error_page(request: Request, status: int, message: str | None = None, **extra: Any) -> Response:
    context = {"status": status, "title": TITLES.get(status, "Something went wrong"), "message": message, **extra}
    try:
        response = render_to_response("errors/error.html", context, request=request)
    except Exception:
        log.exception("error page failed to render")
        response = Response(
            f"<!doctype html><html lang=en><title>{context['title']}</title><h1>{context['title']}</h1></html>",
            content_type="text/html",
        )
    response.status = status
    response.headers["Cache-Control"] = "no-store"
    if is_htmx(request):
        # show the error page's main content in place of the page's, whatever was targeted
        response.headers.update({"HX-Retarget": "#main", "HX-Reswap": "outerHTML", "HX-Reselect": "#main"})
    return response


def not_found_view(exc: HTTPNotFound, request: Request) -> Response:
    return error_page(request, 404)


def forbidden_view(exc: HTTPForbidden, request: Request) -> Response:
    if _signed_out(request):
        return _to_login(request)
    return error_page(request, 403)


def bad_csrf_view(exc: BadCSRFToken, request: Request) -> Response:
    return error_page(
        request,
        400,
        "This form has expired or was sent from somewhere else. Please go back, reload the page and try again.",
    )


def http_exception_view(exc: HTTPException, request: Request) -> Response:
    if exc.code and exc.code >= 400:
        return error_page(request, exc.code, exc.detail if isinstance(exc.detail, str) else None)
    return exc


def api_error_view(exc: ApiError, request: Request) -> Response:
    if exc.status == 401:
        # the shopper's token was refused: request.api has ended their session already (once)
        from ..auth import end_revoked_session

        if not _signed_out(request):
            end_revoked_session(request)
        return _to_login(request)
    if exc.status in (403, 404, 429):
        return error_page(request, exc.status)
    if 400 <= exc.status < 500:
        return error_page(request, 400, exc.message)
    log.error("API error %s", exc)
    return error_page(request, 500)


def unavailable_view(exc: Exception, request: Request) -> Response:
    log.error("dependency unavailable: %s", exc)
    response = error_page(request, 503)
    response.headers["Retry-After"] = "30"
    return response


def session_unavailable_view(exc: SessionUnavailable, request: Request) -> Response:
    """Redis (the session store) is down: this action is unavailable, the catalogue is not."""
    log.warning("session store unavailable for %s %s: %s", request.method, request.path, exc)
    target = htmx_target(request) or ""
    if target.startswith("cart-feedback-"):  # an add-to-cart button: say it next to the button
        response = render_to_response("errors/_session_unavailable.html", {}, request=request)
    else:
        back = safe_next(request.referer and urlsplit(request.referer)._replace(scheme="", netloc="").geturl(), "")
        response = render_to_response("errors/session_unavailable.html", {"back": back}, request=request)
        if is_htmx(request):
            response.headers.update({"HX-Retarget": "#main", "HX-Reswap": "outerHTML", "HX-Reselect": "#main"})
    response.status = 503
    response.headers.update({"Cache-Control": "no-store", "Retry-After": "5"})
    return response


def internal_error_view(exc: Exception, request: Request) -> Response:
    log.exception("unhandled error")
    return error_page(request, 500)


def _signed_out(request: Request) -> bool:
    try:
        return request.user is None
    except redis.RedisError:
        return True


def _to_login(request: Request) -> Response:
    target = request.path_qs if request.method == "GET" else request.referer or "/"
    return see_other(request, request.route_path("login") + "?" + urlencode({"next": target}))


def includeme(config) -> None:
    config.add_notfound_view(not_found_view)
    config.add_forbidden_view(forbidden_view)
    config.add_exception_view(bad_csrf_view, context=BadCSRFToken)
    config.add_exception_view(http_exception_view, context=HTTPException)
    config.add_exception_view(api_error_view, context=ApiError)
    config.add_exception_view(unavailable_view, context=ApiUnavailable)
    config.add_exception_view(unavailable_view, context=redis.RedisError)
    config.add_exception_view(session_unavailable_view, context=SessionUnavailable)
    config.add_exception_view(internal_error_view, context=Exception)


class LastResort:
    """WSGI wrapper: whatever escapes Pyramid (a session store failing while the response
    is finished, say) becomes the 500 or 503 page, never a traceback or a dropped connection."""

    def __init__(self, app: Any):
        self.app = app
        self.registry = app.registry
        self.pages = {status: _prerender(app.registry, status) for status in (500, 503)}

    def __call__(self, environ: dict, start_response: Any) -> Any:
        try:
            return self.app(environ, start_response)
        except Exception as exc:
            status = 503 if isinstance(exc, redis.RedisError | ApiUnavailable) else 500
            log.error("request failed outside the views: %s", exc, exc_info=status == 500)
            from ..tweens import SECURITY_HEADERS

            body = self.pages[status]
            headers = [
                ("Content-Type", "text/html; charset=UTF-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                *SECURITY_HEADERS.items(),
            ]
            if status == 503:
                headers.append(("Retry-After", "30"))
            start_response(
                f"{status} {'Service Unavailable' if status == 503 else 'Internal Server Error'}",
                headers,
                sys.exc_info(),
            )
            return [body]


def _prerender(registry: Any, status: int) -> bytes:
    from pyramid.renderers import render
    from pyramid.scripting import prepare

    env = prepare(registry=registry)
    try:
        context = {"status": status, "title": TITLES[status], "message": None}
        return render("errors/error.html", context, request=env["request"]).encode()
    finally:
        env["closer"]()
