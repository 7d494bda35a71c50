"""bookstore_api: the shop's JSON API under ``/api/v1``.

``main`` is the WSGI app factory (PasteDeploy entry point ``main``); it reads
like a table of contents of the application.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router
from pyramid.settings import asbool
from pyramid.tweens import INGRESS

from bookstore_core.logs import configure_logging

from .settings import build_settings

OPENAPI_SPEC = Path(__file__).parent / "openapi.yaml"
API_PREFIX = "/api/v1"


def main(global_config: dict[str, Any] | None = None, **ini_settings: Any) -> Router:
    settings = build_settings(ini_settings)
    configure_logging(settings["bookstore.log_level"], settings["bookstore.log_format"])
    with Configurator(settings=settings) as config:
        # infrastructure
        config.include("pyramid_services")
        config.include(".infra.db")
        config.include(".infra.redis")
        # HTTP plumbing
        config.include(".http.renderers")
        config.include(".http.security")
        config.include(".http.errors")
        if asbool(settings.get("pyramid_openapi3.enable_response_validation")):
            # development and tests: pyramid_openapi3 also checks every response against the spec
            # (requests are validated by .http.validation in every environment)
            config.include("pyramid_openapi3")
            config.pyramid_openapi3_spec(str(OPENAPI_SPEC), route=f"{API_PREFIX}/openapi.yaml", route_name="api.spec")
            config.pyramid_openapi3_register_routes(route_prefix=API_PREFIX)
        else:
            # production: the same routes and spec, without loading a spec interpreter per process
            config.include(".http.openapi")
        config.include(".http.validation")
        config.include(".http.health")
        # the domains
        config.include(".accounts")
        config.include(".addresses")
        config.include(".catalog")
        config.include(".covers")
        config.include(".carts")
        config.include(".inventory")
        config.include(".payments")
        config.include(".vouchers")
        config.include(".orders")
        config.include(".reviews")
        config.include(".wishlist")
        config.include(".mail")
        config.include(".webhooks")
        config.include(".reports")
        config.include(".imports")
        config.add_tween("bookstore_core.logs.request_id_tween", under=INGRESS)
        config.add_tween(
            "bookstore_api.http.tweens.relative_location_tween", under="bookstore_core.logs.request_id_tween"
        )
        config.add_tween(
            "bookstore_api.http.tweens.body_guard_tween", under="bookstore_api.http.tweens.relative_location_tween"
        )
        config.add_tween(
            "bookstore_api.catalog.tweens.cached_book_tween", under="bookstore_api.http.tweens.body_guard_tween"
        )
        config.scan(ignore=[".migrations", ".cli"])
    return config.make_wsgi_app()
