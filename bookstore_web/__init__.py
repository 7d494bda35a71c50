"""bookstore_web: the storefront and the staff back-office.

Server-rendered Jinja2 pages with htmx for the dynamic parts; every page also
works with JavaScript off. It owns no tables: all data comes from bookstore_api
through :mod:`bookstore_web.api` (it imports :mod:`bookstore_core`, never the API's code). ``main`` is the WSGI app factory (PasteDeploy
entry point ``web``); it reads like a table of contents of the application.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.tweens import EXCVIEW, INGRESS

from bookstore_core.logs import configure_logging

from .settings import build_settings
from .views.errors import LastResort


def main(global_config: dict[str, Any] | None = None, **ini_settings: Any) -> LastResort:
    settings = build_settings(ini_settings)
    configure_logging(settings["bookstore.log_level"], settings["bookstore.log_format"])
    with Configurator(settings=settings) as config:
        config.include(".request")
        config.include(".templating")
        config.include(".assets")
        config.include(".sessions")
        config.include(".api")
        config.include(".pagecache")
        config.include(".auth")
        config.include(".views.errors")
        config.include(".views.health")
        config.include(".views.catalog")
        config.include(".views.accounts")
        config.include(".views.password_reset")
        config.include(".views.profile")
        config.include(".views.addresses")
        config.include(".views.wishlist")
        config.include(".views.account_data")
        config.include(".views.cart")
        config.include(".views.orders")
        config.include(".views.staff")
        config.include(".views.staff_vouchers")
        config.include(".views.staff_catalogue")
        config.add_tween("bookstore_core.logs.request_id_tween", under=INGRESS)
        config.add_tween("bookstore_web.tweens.forwarded_for_tween", under="bookstore_core.logs.request_id_tween")
        config.add_tween("bookstore_web.tweens.security_headers_tween", over=EXCVIEW)
        config.add_tween("bookstore_web.tweens.upload_limit_tween", under=EXCVIEW)
        config.add_tween("bookstore_web.tweens.listing_tween", under="bookstore_web.tweens.security_headers_tween")
        config.scan(".views")
    return LastResort(config.make_wsgi_app())
