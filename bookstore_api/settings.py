"""The one place where ``BOOKSTORE_*`` environment variables become the API's settings.

Nothing else in the API reads ``os.environ``: the app factory and the command line
call :func:`build_settings`, which lays the defaults, then the ini file, then the
environment (:func:`bookstore_core.settings.layered_settings`; the variables both
apps share, such as ``BOOKSTORE_ENV`` and ``BOOKSTORE_REDIS_URL``, are declared there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bookstore_core.settings import as_bool, layered_settings

#: environment variable -> (settings key, converter)
ENVIRON_SETTINGS: dict[str, tuple[str, Any]] = {
    "BOOKSTORE_DATABASE_URL": ("sqlalchemy.url", str),
    "BOOKSTORE_DB_POOL_SIZE": ("sqlalchemy.pool_size", int),
    "BOOKSTORE_DB_MAX_OVERFLOW": ("sqlalchemy.max_overflow", int),
    "BOOKSTORE_CURRENCY": ("bookstore.currency", str),
    "BOOKSTORE_TOKEN_TTL_SECONDS": ("bookstore.token_ttl_seconds", int),
    "BOOKSTORE_LOGIN_MAX_FAILURES_PER_EMAIL": ("bookstore.login_max_failures_per_email", int),
    "BOOKSTORE_LOGIN_MAX_FAILURES_PER_ADDRESS": ("bookstore.login_max_failures_per_address", int),
    "BOOKSTORE_LOGIN_FAILURE_WINDOW_SECONDS": ("bookstore.login_failure_window_seconds", int),
    "BOOKSTORE_LOGIN_BACKOFF_BASE_SECONDS": ("bookstore.login_backoff_base_seconds", int),
    "BOOKSTORE_LOGIN_BACKOFF_MAX_SECONDS": ("bookstore.login_backoff_max_seconds", int),
    "BOOKSTORE_SIGNUP_MAX_PER_ADDRESS": ("bookstore.signup_max_per_address", int),
    "BOOKSTORE_VOUCHER_UNKNOWN_MAX_PER_ADDRESS": ("bookstore.voucher_unknown_max_per_address", int),
    "BOOKSTORE_SIGNUP_WINDOW_SECONDS": ("bookstore.signup_window_seconds", int),
    "BOOKSTORE_CHECKOUT_MAX_DECLINES_PER_USER": ("bookstore.checkout_max_declines_per_user", int),
    "BOOKSTORE_CHECKOUT_MAX_DECLINES_PER_ADDRESS": ("bookstore.checkout_max_declines_per_address", int),
    "BOOKSTORE_CHECKOUT_DECLINE_WINDOW_SECONDS": ("bookstore.checkout_decline_window_seconds", int),
    "BOOKSTORE_PASSWORD_HASH_QUEUE_WAIT_SECONDS": ("argon2.queue_wait_seconds", float),
    "BOOKSTORE_OPENAPI_VALIDATE_RESPONSES": ("pyramid_openapi3.enable_response_validation", str),
    "BOOKSTORE_TRUSTED_PROXIES": ("bookstore.trusted_proxies", str),
    "BOOKSTORE_SHIPPING_FLAT_RATE": ("bookstore.shipping_flat_rate", str),
    "BOOKSTORE_FREE_SHIPPING_FROM": ("bookstore.free_shipping_from", str),
    "BOOKSTORE_SMTP_URL": ("bookstore.smtp_url", str),
    "BOOKSTORE_MAIL_FROM": ("bookstore.mail_from", str),
    "BOOKSTORE_STOREFRONT_URL": ("bookstore.storefront_url", str),
    "BOOKSTORE_SHOP_NAME": ("bookstore.shop_name", str),
    "BOOKSTORE_PASSWORD_RESET_MAX_PER_ADDRESS": ("bookstore.password_reset_max_per_address", int),
    "BOOKSTORE_PASSWORD_RESET_MAX_PER_PAIR": ("bookstore.password_reset_max_per_pair", int),
    "BOOKSTORE_PASSWORD_RESET_MAILS_PER_EMAIL": ("bookstore.password_reset_mails_per_email", int),
    "BOOKSTORE_PASSWORD_RESET_WINDOW_SECONDS": ("bookstore.password_reset_window_seconds", int),
    "BOOKSTORE_VERIFICATION_MAILS_PER_USER": ("bookstore.verification_mails_per_user", int),
    "BOOKSTORE_VERIFICATION_WINDOW_SECONDS": ("bookstore.verification_window_seconds", int),
    "BOOKSTORE_WEBHOOK_SECRET_KEY": ("webhooks.secret_key", str),
    "BOOKSTORE_WEBHOOKS_ALLOW_LOOPBACK": ("webhooks.allow_loopback", str),
    "BOOKSTORE_WEBHOOK_TIMEOUT_SECONDS": ("webhooks.timeout_seconds", float),
    "BOOKSTORE_COVERS_STORAGE": ("bookstore.covers_storage", str),
    "BOOKSTORE_COVERS_DIR": ("bookstore.covers_dir", str),
    "BOOKSTORE_COVERS_PUBLIC_URL": ("bookstore.covers_public_url", str),
    "BOOKSTORE_COVERS_BUCKET": ("bookstore.covers_bucket", str),
    "BOOKSTORE_COVERS_PREFIX": ("bookstore.covers_prefix", str),
    "BOOKSTORE_COVERS_REGION": ("bookstore.covers_region", str),
    "BOOKSTORE_COVERS_ENDPOINT_URL": ("bookstore.covers_endpoint_url", str),
}

DEFAULTS: dict[str, Any] = {
    "sqlalchemy.pool_size": 10,
    "sqlalchemy.max_overflow": 10,
    "bookstore.currency": "USD",
    "bookstore.token_ttl_seconds": 30 * 24 * 3600,
    "bookstore.login_max_failures_per_email": 5,
    "bookstore.login_max_failures_per_address": 50,
    "bookstore.login_failure_window_seconds": 15 * 60,
    # failures of one account from one address: free ones, then waits doubling from the base
    "bookstore.login_backoff_base_seconds": 30,
    "bookstore.login_backoff_max_seconds": 3600,
    "bookstore.signup_max_per_address": 20,
    # unknown voucher codes per client address in a window (then 429: guessing codes is throttled)
    "bookstore.voucher_unknown_max_per_address": 30,
    "bookstore.voucher_unknown_window_seconds": 900,
    "bookstore.signup_window_seconds": 3600,
    "bookstore.checkout_max_declines_per_user": 5,
    "bookstore.checkout_max_declines_per_address": 10,
    "bookstore.checkout_decline_window_seconds": 3600,
    "pyramid_openapi3.enable_response_validation": "false",
    "bookstore.shipping_flat_rate": "4.99",
    # proxies whose X-Forwarded-For is believed (the load balancer and the storefront)
    "bookstore.trusted_proxies": "127.0.0.0/8,::1/128",
    "bookstore.free_shipping_from": "50.00",
    "bookstore.mail_from": "Bookstore <orders@bookstore.test>",
    # where links in mails point: the storefront's public base URL (make run serves it here)
    "bookstore.storefront_url": "http://127.0.0.1:6544",
    "bookstore.shop_name": "Bookstore",
    # password reset requests: per client address (429), per (target e-mail, client address) (429),
    # and mails per target e-mail (beyond it the request still answers 202 but sends nothing)
    "bookstore.password_reset_max_per_address": 20,
    "bookstore.password_reset_max_per_pair": 5,
    "bookstore.password_reset_mails_per_email": 3,
    "bookstore.password_reset_window_seconds": 3600,
    # verification mails (resends and address changes) per account
    "bookstore.verification_mails_per_user": 5,
    "bookstore.verification_window_seconds": 3600,
    # development and tests only: let webhooks go to 127.0.0.0/8 and ::1 (refused in production)
    "webhooks.allow_loopback": "false",
    "webhooks.timeout_seconds": 5.0,
    # covers: "local" (files under covers_dir, served by the storefront at /covers/) or "s3"
    "bookstore.covers_storage": "local",
    "bookstore.covers_dir": "var/covers",
    "bookstore.covers_prefix": "covers/",
}


def build_settings(ini_settings: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The API's settings: defaults, the ini file, then the environment."""
    settings = layered_settings(ENVIRON_SETTINGS, DEFAULTS, ini_settings, environ)
    if not settings.get("sqlalchemy.url"):
        raise ValueError("No database configured: set BOOKSTORE_DATABASE_URL or sqlalchemy.url")
    settings["bookstore.currency"] = str(settings["bookstore.currency"]).upper()
    if settings.get("bookstore.env") == "production" and as_bool(settings.get("webhooks.allow_loopback")):
        raise ValueError(
            "webhooks.allow_loopback (BOOKSTORE_WEBHOOKS_ALLOW_LOOPBACK) is for development and tests only"
        )
    return settings
