"""Response headers every storefront page gets, and the request id.

* ``X-Request-ID`` comes from ``bookstore_core.logs.request_id_tween`` (shared by
  both apps); the API client forwards it so one id follows a click through both logs.
* Security headers: a Content-Security-Policy with no inline script or style,
  ``nosniff``, a Referrer-Policy, ``frame-ancestors 'none'`` (and the older
  ``X-Frame-Options``), and HSTS in production.
* Pages whose URL carries a secret (``/reset-password/{token}``, ``/verify-email/{token}``)
  are sent with ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``, their
  error pages too: the token never leaves in a ``Referer``, not even to this shop's own
  static files, and no cache keeps the page.
* Pages that depend on the session are ``private, no-cache``; htmx fragments
  and full pages share URLs, so they ``Vary`` on ``HX-Request``.
* Redirects keep the relative ``Location`` the view set (never one built from the
  client's ``Host`` header), with control characters percent-encoded.
* ``upload_limit_tween``: an upload larger than its limit (50 MiB for the catalogue CSV)
  is a 413 page before its body is read.
* ``forwarded_for_tween``: the shopper's address is what the storefront's own trusted
  proxies (the load balancer) say (``web.trusted_proxies``), never an
  ``X-Forwarded-For`` the shopper wrote; it becomes ``REMOTE_ADDR`` and the only
  ``X-Forwarded-For`` entry, so the API client forwards exactly that address.
"""

from __future__ import annotations

from collections.abc import Callable

from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from bookstore_core.proxies import client_address, parse_networks, relative_location

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

#: routes whose URL carries a secret token (see the module docstring)
SECRET_URL_ROUTES = frozenset({"reset_password", "verify_email"})

Handler = Callable[[Request], Response]


def security_headers_tween(handler: Handler, registry: Registry) -> Handler:
    production = bool(registry.settings.get("web.production"))

    def tween(request: Request) -> Response:
        response = handler(request)
        headers = response.headers
        route = getattr(request, "matched_route", None)
        if route is not None and route.name in SECRET_URL_ROUTES:
            headers["Referrer-Policy"] = "no-referrer"
            headers["Cache-Control"] = "no-store"
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if "Cache-Control" not in headers:
            headers["Cache-Control"] = "private, no-cache"
        if (response.content_type or "").startswith("text/html"):
            vary = headers.get("Vary")
            headers["Vary"] = f"{vary}, HX-Request" if vary else "HX-Request"
        return relative_location(response)

    return tween


def forwarded_for_tween(handler: Handler, registry: Registry) -> Handler:
    trusted = parse_networks(registry.settings.get("web.trusted_proxies", ""))

    def tween(request: Request) -> Response:
        environ = request.environ
        shopper = client_address(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), trusted)
        environ["REMOTE_ADDR"] = shopper
        environ["HTTP_X_FORWARDED_FOR"] = shopper
        return handler(request)

    return tween


#: POST paths that take a file upload, and the largest request each accepts (bytes)
UPLOAD_LIMITS = {"/staff/catalogue/import": 50 * 1024 * 1024 + 64 * 1024}


def upload_limit_tween(handler: Handler, registry: Registry) -> Handler:
    """Refuse an oversized POST (413, a friendly page) before its body is read, CSRF check included."""
    from pyramid.httpexceptions import HTTPRequestEntityTooLarge

    def tween(request: Request) -> Response:
        if request.method == "POST":
            limit = UPLOAD_LIMITS.get(request.path)
            length = request.content_length
            if limit is not None and length is not None and length > limit:
                mib = limit // (1024 * 1024)
                raise HTTPRequestEntityTooLarge(f"That is more than we accept here ({mib} MiB at most).")
        return handler(request)

    return tween


def listing_tween(handler: Handler, registry: Registry) -> Handler:
    """A visitor with no session asking for a listing (home, the catalogue, an author) gets the
    cached page before routing: no session, no template, no API call (see
    ``bookstore_web.views.catalog.cached_visitor_listing``). Anything else, and every miss, goes on."""
    from .views.catalog import cached_visitor_listing

    cookie = registry["session_cookie_name"]

    def tween(request: Request) -> Response:
        if request.method == "GET" and cookie not in request.cookies:
            try:
                response = cached_visitor_listing(request)
            except Exception:  # noqa: BLE001 - e.g. an undecodable query: the view's path answers it properly
                response = None
            if response is not None:
                return response
        return handler(request)

    return tween
