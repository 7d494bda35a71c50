"""Who the shopper is: a bearer token from bookstore_api kept in the Redis session.

Logging in asks the API for a token and keeps it (with the user's id, name and
role) in the server-side session; the session id is rotated on log-in and
log-out so a session id seen before log-in is worthless after it. Role checks
for the staff back-office use :class:`SessionSecurityPolicy` (``permission="staff"``
on a view); the API checks the same roles again on every call.
"""

from __future__ import annotations

import logging
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import Allowed, Denied

from bookstore_core.accounts import grants, is_staff_role

from .api import ApiError, ApiUnavailable
from .sessions import AUTH_KEY, has_session

log = logging.getLogger(__name__)

#: session keys that survive log-in (the anonymous cart is merged, then replaced)
KEPT_ON_LOGIN = ("cart_id", "cart_count")
#: what the session keeps of the signed-in user (``email_verified``: the API's word at log-in,
#: refreshed by the account pages; the API decides, this only explains)
USER_KEYS = ("id", "email", "name", "role", "email_verified")
#: a request whose shopper was signed out because the API refused their token
_ENDED = "bookstore_web.session_ended"


def _session_auth(request: Request) -> dict[str, Any] | None:
    auth = request.session.get(AUTH_KEY)
    return auth if isinstance(auth, dict) and auth.get("token") else None


def session_token(request: Request) -> str | None:
    """The shopper's API token, or None when signed out (never creates a session)."""
    if not has_session(request):
        return None
    auth = _session_auth(request)
    return auth["token"] if auth else None


def current_user(request: Request) -> dict[str, Any] | None:
    """``{id, email, name, role, email_verified}`` of the signed-in shopper, or None."""
    if not has_session(request):
        return None
    auth = _session_auth(request)
    return auth["user"] if auth else None


def is_staff(request: Request) -> bool:
    user = request.user
    return bool(user) and is_staff_role(user.get("role"))


def rotate_session(request: Request, keep: tuple[str, ...] = ()) -> None:
    """Give the shopper a new session id (and CSRF token), keeping only ``keep``."""
    kept = {key: request.session[key] for key in keep if key in request.session}
    request.session.invalidate()
    request.session.update(kept)
    request.session.new_csrf_token()


def log_in(request: Request, email: str, password: str) -> dict[str, Any]:
    """Exchange credentials for a token, rotate the session and remember the shopper.

    Raises :class:`ApiError` (401 bad credentials, 429 rate limited, 400 invalid).
    """
    issued = request.api.post("/auth/tokens", {"email": email, "password": password}, token=None)
    anonymous_cart = request.session.get("cart_id")
    rotate_session(request)
    user = issued["user"]
    request.session[AUTH_KEY] = {
        "token": issued["token"],
        "expires_at": issued.get("expires_at"),
        "user": {key: user.get(key) for key in USER_KEYS},
    }
    from .views.cart import adopt_cart_on_login

    adopt_cart_on_login(request, issued["token"], anonymous_cart)
    return user


def log_out(request: Request) -> None:
    """Revoke the API token (best effort) and start a fresh, empty session."""
    token = session_token(request)
    if token:
        try:
            request.api.delete("/auth/tokens/current", token=token)
        except (ApiError, ApiUnavailable) as exc:
            log.info("token revocation at log-out failed: %s", exc)
    rotate_session(request)


def remember_user(request: Request, user: dict[str, Any]) -> None:
    """Update the session's copy of the signed-in user from what the API just said (``GET /me``...)."""
    auth = _session_auth(request)
    if auth is None:
        return
    known = dict(auth["user"])
    known.update({key: user[key] for key in USER_KEYS if key in user})
    if known != auth["user"]:
        request.session[AUTH_KEY] = {**auth, "user": known}  # an assignment: the session is saved
    request.__dict__["user"] = known  # request.user is reified


def session_ended(request: Request) -> bool:
    """Whether this request signed its shopper out because the API refused their token."""
    return bool(request.environ.get(_ENDED))


def end_revoked_session(request: Request) -> None:
    """The API no longer accepts the shopper's token (revoked by a password reset or change, the
    account deleted, or expired): sign them out here too, with a message, once per request.

    Nothing is sent to the API (the token is dead already); the session gets a new id and keeps
    nothing, so the page goes on as for a signed-out visitor.
    """
    if session_ended(request):
        return
    request.environ[_ENDED] = True
    rotate_session(request)
    request.__dict__["user"] = None  # request.user is reified: this request is signed out from now on
    request.session.flash("Your session has ended. Please log in again.", "info")


class SessionSecurityPolicy:
    """Identity from the session; permissions are role grants, as in the API."""

    def identity(self, request: Request) -> dict[str, Any] | None:
        return request.user

    def authenticated_userid(self, request: Request) -> int | None:
        user = request.user
        return user["id"] if user else None

    def permits(self, request: Request, context: object, permission: str) -> Allowed | Denied:
        user = request.user
        if user is None:
            return Denied("not signed in")
        if grants(str(user.get("role")), permission):
            return Allowed(f"role {user.get('role')} grants {permission}")
        return Denied(f"role {user.get('role')} lacks {permission}")

    def remember(self, request: Request, userid: object, **kw: object) -> list:
        return []

    def forget(self, request: Request, **kw: object) -> list:
        return []


def includeme(config: Configurator) -> None:
    config.set_security_policy(SessionSecurityPolicy())
