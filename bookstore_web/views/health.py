"""Health endpoints of the storefront for the load balancer: liveness and readiness."""

from __future__ import annotations

import json

from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from ..api import ApiError, ApiUnavailable


def _json(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, content_type="application/json", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


@view_config(route_name="healthz", request_method=("GET", "HEAD"))
def healthz(request: Request) -> Response:
    """200 while the process serves; touches no dependency. Names the deployment
    (``BOOKSTORE_ENV``), so a test run can tell production from staging before it writes."""
    environment = request.registry.settings.get("bookstore.env", "development")
    return _json(json.dumps({"status": "ok", "environment": environment}, separators=(",", ":")))


@view_config(route_name="readyz", request_method=("GET", "HEAD"))
def readyz(request: Request) -> Response:
    """200 when the API is healthy and the session store answers, else 503."""
    checks = {"api": _api_ok(request), "redis": _redis_ok(request)}
    ready = all(checks.values())
    parts = ",".join(f'"{name}":"{"ok" if ok else "down"}"' for name, ok in checks.items())
    return _json(f'{{"status":"{"ok" if ready else "unavailable"}","checks":{{{parts}}}}}', 200 if ready else 503)


def _api_ok(request: Request) -> bool:
    try:
        request.registry["api_client"].request("GET", "/healthz", request_id=request.request_id)
        return True
    except (ApiError, ApiUnavailable):
        return False


def _redis_ok(request: Request) -> bool:
    import redis

    try:
        return bool(request.registry["session_redis"].ping())
    except redis.RedisError:
        return False


def includeme(config) -> None:
    config.add_route("healthz", "/healthz")
    config.add_route("readyz", "/readyz")
