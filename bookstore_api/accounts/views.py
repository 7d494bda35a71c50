"""Accounts endpoints: registration, tokens (log in / log out), ``/me`` (profile, password, address,
personal data), password resets and e-mail verification."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNoContent
from pyramid.request import Request
from pyramid.view import view_config

from ..exceptions import NotFound
from ..http.errors import APIError
from ..http.helpers import json_body, path_param
from ..http.security import client_address
from . import personal_data
from .models import User
from .recovery import EmailVerifications, PasswordResets, ResetLimits, VerificationLimit
from .schemas import parse_registration, user_out
from .services import LoginThrottle, SignupLimit, TokenService, UserService

#: the one answer to a password reset request, whether or not the address has an account
RESET_ACCEPTED = {
    "message": "If an account uses this address, a link to reset its password is on its way. It works for 1 hour."
}
VERIFICATION_ACCEPTED = {"message": "If the address still needs confirming, a link to confirm it is on its way."}
EMAIL_CHANGE_ACCEPTED = {
    "message": "A link to confirm the new address is on its way; the change applies once confirmed."
}


def _current_user(request: Request) -> User:
    user = request.find_service(UserService).get(request.identity.user_id)
    if user is None or not user.is_active:  # closed in the meantime
        raise NotFound("account")
    return user


def _confirm_password(request: Request, user: User, password: str) -> None:
    request.find_service(UserService).confirm_password(
        user, password, request.find_service(LoginThrottle), client_address(request)
    )


@view_config(route_name="api.users", request_method="POST", renderer="json", openapi=True)
def register(request: Request) -> dict:
    email, password, name = parse_registration(request.validated.body)
    request.find_service(SignupLimit).take(client_address(request))
    user = request.find_service(UserService).create(email, password, name)
    request.find_service(EmailVerifications).send(user)
    request.response.status = 201
    request.response.headers["Location"] = request.route_path("api.me")
    return user_out(user)


@view_config(route_name="api.tokens", request_method="POST", renderer="json", openapi=True)
def log_in(request: Request) -> dict:
    body = request.validated.body
    email, password = str(body["email"]).strip().lower(), body["password"]
    address = client_address(request)
    throttle = request.find_service(LoginThrottle)
    throttle.check(email, address)
    user = request.find_service(UserService).check_credentials(email, password)
    if user is None:
        throttle.failure(email, address)
        raise APIError(401, "invalid_credentials", "The email or password is not right.")
    throttle.success(email, address)
    token, expires_at = request.find_service(TokenService).issue(user)
    request.response.status = 201
    return {"token": token, "expires_at": expires_at.isoformat(), "user": user_out(user)}


@view_config(route_name="api.tokens.current", request_method="DELETE", permission="authenticated", openapi=True)
def log_out(request: Request) -> HTTPNoContent:
    request.find_service(TokenService).revoke(request.identity.token_hash)
    return HTTPNoContent()


@view_config(route_name="api.me", request_method="GET", renderer="json", permission="authenticated", openapi=True)
def me(request: Request) -> dict:
    return user_out(_current_user(request))


@view_config(route_name="api.me", request_method="PATCH", renderer="json", permission="authenticated", openapi=True)
def update_me(request: Request) -> dict:
    user = _current_user(request)
    user.name = " ".join(json_body(request)["name"].split())
    request.dbsession.flush()
    request.find_service(TokenService).forget_cached(user.id)
    return user_out(user)


@view_config(route_name="api.me", request_method="DELETE", permission="authenticated", openapi=True)
def close_account(request: Request) -> HTTPNoContent:
    user = _current_user(request)
    _confirm_password(request, user, json_body(request)["password"])
    personal_data.erase(request.dbsession, user, request.find_service(TokenService), request.registry["catalog_cache"])
    return HTTPNoContent()


@view_config(
    route_name="api.me.export", request_method="GET", renderer="json", permission="authenticated", openapi=True
)
def export_me(request: Request) -> dict:
    request.response.headers["Cache-Control"] = "no-store"
    return personal_data.export(request.dbsession, _current_user(request))


@view_config(route_name="api.me.password", request_method="POST", permission="authenticated", openapi=True)
def change_password(request: Request) -> HTTPNoContent:
    body = json_body(request)
    user = _current_user(request)
    _confirm_password(request, user, body["current_password"])
    users = request.find_service(UserService)
    users.set_password(user, body["new_password"])
    request.find_service(TokenService).revoke_all(user.id, keep=request.identity.token_hash)
    mail = request.registry["mail"]
    mail.queue(
        request.dbsession,
        "password_changed",
        user.email,
        {"user_id": user.id},
        name=user.name,
        reset=False,
        reset_page_url=mail.link("/forgot-password"),
    )
    return HTTPNoContent()


@view_config(
    route_name="api.me.email", request_method="POST", renderer="json", permission="authenticated", openapi=True
)
def change_email(request: Request) -> dict:
    body = json_body(request)
    user = _current_user(request)
    _confirm_password(request, user, body["password"])
    request.find_service(EmailVerifications).request_change(
        user, body["new_email"], request.find_service(VerificationLimit)
    )
    request.response.status = 202
    return EMAIL_CHANGE_ACCEPTED


@view_config(route_name="api.password_resets", request_method="POST", renderer="json", openapi=True)
def request_password_reset(request: Request) -> dict:
    request.find_service(PasswordResets).request(
        json_body(request)["email"], request.find_service(ResetLimits), client_address(request)
    )
    request.response.status = 202
    return RESET_ACCEPTED


@view_config(route_name="api.password_reset", request_method="POST", openapi=True)
def reset_password(request: Request) -> HTTPNoContent:
    request.find_service(PasswordResets).reset(path_param(request, "token"), json_body(request)["password"])
    return HTTPNoContent()


@view_config(
    route_name="api.email_verifications",
    request_method="POST",
    renderer="json",
    permission="authenticated",
    openapi=True,
)
def resend_verification(request: Request) -> dict:
    request.find_service(EmailVerifications).resend(_current_user(request), request.find_service(VerificationLimit))
    request.response.status = 202
    return VERIFICATION_ACCEPTED


@view_config(route_name="api.email_verification", request_method="POST", openapi=True)
def confirm_email(request: Request) -> HTTPNoContent:
    request.find_service(EmailVerifications).confirm(path_param(request, "token"))
    return HTTPNoContent()
