"""Accounts endpoints: registration, tokens (log in / log out) and ``/me``."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNoContent
from pyramid.request import Request
from pyramid.view import view_config

from ..http.errors import APIError
from ..http.security import client_address
from .schemas import parse_registration, user_out
from .services import LoginThrottle, SignupLimit, TokenService, UserService


@view_config(route_name="api.users", request_method="POST", renderer="json", openapi=True)
def register(request: Request) -> dict:
    email, password, name = parse_registration(request.validated.body)
    request.find_service(SignupLimit).take(client_address(request))
    user = request.find_service(UserService).create(email, password, name)
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
    identity = request.identity
    return {"id": identity.user_id, "email": identity.email, "name": identity.name, "role": identity.role}
