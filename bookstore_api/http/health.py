"""Health endpoints for the load balancer: liveness and readiness."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config
from sqlalchemy import text

from .renderers import json_response


@view_config(route_name="healthz", request_method=("GET", "HEAD"))
def healthz(request: Request):
    """200 while the process serves; touches no dependency. Names the deployment
    (``BOOKSTORE_ENV``), so a test run can tell production from staging before it writes."""
    return json_response({"status": "ok", "environment": request.registry.settings.get("bookstore.env", "development")})


@view_config(route_name="readyz", request_method=("GET", "HEAD"))
def readyz(request: Request):
    """200 when PostgreSQL and Redis both answer, else 503 naming what is down."""
    checks = {"database": _database_ok(request), "redis": request.registry["redis"].ping()}
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": {k: "ok" if v else "down" for k, v in checks.items()}}
    return json_response(body, status=200 if ready else 503)


def _database_ok(request: Request) -> bool:
    try:
        with request.registry["dbengine"].connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False


def includeme(config) -> None:
    config.add_route("healthz", "/healthz")
    config.add_route("readyz", "/readyz")
