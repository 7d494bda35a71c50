"""The one place where ``BOOKSTORE_*`` environment variables become settings.

Nothing else in the code base reads ``os.environ``: the app factory calls
:func:`settings_from_environ` and merges the result over the ini file's settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: environment variable -> (settings key, converter)
ENVIRON_SETTINGS: dict[str, tuple[str, Any]] = {
    "BOOKSTORE_ENV": ("bookstore.env", str),
    "BOOKSTORE_DATABASE_URL": ("sqlalchemy.url", str),
    "BOOKSTORE_DB_POOL_SIZE": ("sqlalchemy.pool_size", int),
    "BOOKSTORE_DB_MAX_OVERFLOW": ("sqlalchemy.max_overflow", int),
    "BOOKSTORE_REDIS_URL": ("redis.url", str),
    "BOOKSTORE_REDIS_PREFIX": ("redis.prefix", str),
    "BOOKSTORE_CURRENCY": ("bookstore.currency", str),
    "BOOKSTORE_TOKEN_TTL_SECONDS": ("bookstore.token_ttl_seconds", int),
    "BOOKSTORE_LOGIN_MAX_FAILURES_PER_EMAIL": ("bookstore.login_max_failures_per_email", int),
    "BOOKSTORE_LOGIN_MAX_FAILURES_PER_ADDRESS": ("bookstore.login_max_failures_per_address", int),
    "BOOKSTORE_LOGIN_FAILURE_WINDOW_SECONDS": ("bookstore.login_failure_window_seconds", int),
    "BOOKSTORE_LOG_LEVEL": ("bookstore.log_level", str),
    "BOOKSTORE_LOG_FORMAT": ("bookstore.log_format", str),
    "BOOKSTORE_OPENAPI_VALIDATE_RESPONSES": ("pyramid_openapi3.enable_response_validation", str),
    "BOOKSTORE_TRUSTED_PROXIES": ("bookstore.trusted_proxies", str),
    "BOOKSTORE_SHIPPING_FLAT_RATE": ("bookstore.shipping_flat_rate", str),
    "BOOKSTORE_FREE_SHIPPING_FROM": ("bookstore.free_shipping_from", str),
    "BOOKSTORE_SMTP_URL": ("bookstore.smtp_url", str),
    "BOOKSTORE_MAIL_FROM": ("bookstore.mail_from", str),
}

DEFAULTS: dict[str, Any] = {
    "bookstore.env": "development",
    "sqlalchemy.pool_size": 10,
    "sqlalchemy.max_overflow": 10,
    "redis.url": "redis://127.0.0.1:6379/0",
    "redis.prefix": "bookstore:",
    "bookstore.currency": "USD",
    "bookstore.token_ttl_seconds": 30 * 24 * 3600,
    "bookstore.login_max_failures_per_email": 5,
    "bookstore.login_max_failures_per_address": 50,
    "bookstore.login_failure_window_seconds": 15 * 60,
    "bookstore.log_level": "INFO",
    "bookstore.log_format": "json",
    "pyramid_openapi3.enable_response_validation": "false",
    "bookstore.shipping_flat_rate": "4.99",
    # proxies whose X-Forwarded-For is believed (the load balancer and the storefront)
    "bookstore.trusted_proxies": "127.0.0.0/8,::1/128",
    "bookstore.free_shipping_from": "50.00",
    "bookstore.mail_from": "Bookstore <orders@bookstore.test>",
}


def settings_from_environ(
    environ: Mapping[str, str] | None = None, table: Mapping[str, tuple[str, Any]] = ENVIRON_SETTINGS
) -> dict[str, Any]:
    """Return the settings named by the ``BOOKSTORE_*`` variables of ``table`` present in ``environ``."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for name, (key, convert) in table.items():
        value = environ.get(name)
        if value not in (None, ""):
            found[key] = convert(value)
    return found


def layered_settings(
    table: Mapping[str, tuple[str, Any]],
    defaults: Mapping[str, Any],
    ini_settings: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Defaults, overlaid by the ini file, overlaid by the environment; typed as ``table`` says."""
    settings: dict[str, Any] = dict(defaults)
    settings.update(ini_settings)
    settings.update(settings_from_environ(environ, table))
    for key, convert in table.values():
        if convert is not str and settings.get(key) is not None:
            settings[key] = convert(settings[key])
    return settings


def build_settings(ini_settings: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The API's settings: defaults, the ini file, then the environment."""
    settings = layered_settings(ENVIRON_SETTINGS, DEFAULTS, ini_settings, environ)
    if not settings.get("sqlalchemy.url"):
        raise ValueError("No database configured: set BOOKSTORE_DATABASE_URL or sqlalchemy.url")
    settings["bookstore.currency"] = str(settings["bookstore.currency"]).upper()
    return settings


def server_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """waitress options for ``bookstore serve`` (threads, connection limit, trusted proxy)."""
    environ = os.environ if environ is None else environ
    options: dict[str, Any] = {
        "threads": int(environ.get("BOOKSTORE_THREADS", "8")),
        "connection_limit": int(environ.get("BOOKSTORE_CONNECTION_LIMIT", "200")),
        "channel_timeout": 60,
        "clear_untrusted_proxy_headers": True,
    }
    proxy = environ.get("BOOKSTORE_TRUSTED_PROXY")
    if proxy:
        options.update(
            trusted_proxy=proxy,
            trusted_proxy_count=int(environ.get("BOOKSTORE_TRUSTED_PROXY_COUNT", "1")),
            trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
        )
    return options


def dev_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Local-run choices: configured service URLs (if any) and the demo accounts."""
    environ = os.environ if environ is None else environ
    return {
        "database_url": environ.get("BOOKSTORE_DATABASE_URL") or None,
        "redis_url": environ.get("BOOKSTORE_REDIS_URL") or None,
        "api_port": int(environ.get("BOOKSTORE_API_PORT", "6543")),
        "web_port": int(environ.get("BOOKSTORE_WEB_PORT", "6544")),
        "embedded_postgres_port": int(environ.get("BOOKSTORE_EMBEDDED_POSTGRES_PORT", "54329")),
        "embedded_redis_port": int(environ.get("BOOKSTORE_EMBEDDED_REDIS_PORT", "63799")),
        "staff_email": environ.get("BOOKSTORE_DEMO_STAFF_EMAIL", "staff@bookstore.test"),
        "staff_password": environ.get("BOOKSTORE_DEMO_STAFF_PASSWORD", "staff-demo-password"),
        "customer_email": environ.get("BOOKSTORE_DEMO_CUSTOMER_EMAIL", "customer@bookstore.test"),
        "customer_password": environ.get("BOOKSTORE_DEMO_CUSTOMER_PASSWORD", "customer-demo-password"),
    }
