"""The one place where ``BOOKSTORE_*`` environment variables become storefront settings.

Nothing else in ``bookstore_web`` reads ``os.environ``: the app factory calls
:func:`build_settings`, which lays defaults, then the ini file, then the
environment. In production a session secret is required; elsewhere a stable
development secret is derived so ``bookstore-web serve`` works with no setup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from bookstore_core.settings import as_bool, layered_settings

#: environment variable -> (settings key, converter)
ENVIRON_SETTINGS: dict[str, tuple[str, Any]] = {
    "BOOKSTORE_API_URL": ("web.api_url", str),
    "BOOKSTORE_API_TIMEOUT_SECONDS": ("web.api_timeout_seconds", float),
    "BOOKSTORE_API_RETRIES": ("web.api_retries", int),
    "BOOKSTORE_API_POOL_SIZE": ("web.api_pool_size", int),
    "BOOKSTORE_CATALOG_CACHE_PREFIX": ("web.catalog_cache_prefix", str),
    "BOOKSTORE_SESSION_SECRET": ("web.session_secret", str),
    "BOOKSTORE_SESSION_TIMEOUT_SECONDS": ("web.session_timeout_seconds", int),
    "BOOKSTORE_SECURE_COOKIES": ("web.secure_cookies", str),
    "BOOKSTORE_STATIC_MAX_AGE_SECONDS": ("web.static_max_age_seconds", int),
    "BOOKSTORE_CATALOG_CACHE_SECONDS": ("web.catalog_cache_seconds", float),
    "BOOKSTORE_WEB_TRUSTED_PROXIES": ("web.trusted_proxies", str),
    # the API's local cover storage (BOOKSTORE_COVERS_STORAGE=local), served at /covers/
    "BOOKSTORE_COVERS_DIR": ("web.covers_dir", str),
}

DEFAULTS: dict[str, Any] = {
    "web.api_url": "http://127.0.0.1:6543",
    "web.api_timeout_seconds": 10.0,
    "web.api_retries": 2,
    "web.api_pool_size": 20,
    "web.session_timeout_seconds": 14 * 24 * 3600,
    "web.static_max_age_seconds": 365 * 24 * 3600,
    "web.catalog_cache_seconds": 60.0,
    # proxies in front of the storefront (the load balancer) whose X-Forwarded-For is believed
    "web.trusted_proxies": "127.0.0.0/8,::1/128",
    "web.covers_dir": "var/covers",
}

MIN_SECRET_LENGTH = 32


class ConfigurationError(RuntimeError):
    """The storefront cannot start with these settings."""


def build_settings(ini_settings: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults, overlaid by the ini file, overlaid by the environment, then checked."""
    settings = layered_settings(ENVIRON_SETTINGS, DEFAULTS, ini_settings, environ)
    production = settings["bookstore.env"] == "production"
    settings["web.production"] = production
    settings["web.api_url"] = str(settings["web.api_url"]).rstrip("/")
    if "web.secure_cookies" in settings:
        settings["web.secure_cookies"] = as_bool(settings["web.secure_cookies"])
    else:
        settings["web.secure_cookies"] = production
    secret = settings.get("web.session_secret") or ""
    if production and len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"Set BOOKSTORE_SESSION_SECRET to a random string of at least {MIN_SECRET_LENGTH} characters "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    if not secret:
        settings["web.session_secret"] = development_secret(settings)
    settings["web.session_prefix"] = settings.get("web.session_prefix") or f"{settings['redis.prefix']}web-session:"
    # the API's catalog cache, whose book versions key the page cache: the same Redis prefix unless told
    settings["web.catalog_cache_prefix"] = settings.get("web.catalog_cache_prefix") or settings["redis.prefix"]
    return settings


def development_secret(settings: Mapping[str, Any]) -> str:
    """A stable secret for development and tests, derived from where the app keeps its data.

    Stable across restarts (sessions survive a code reload) and different per
    Redis namespace; never used in production, where a real secret is required.
    """
    seed = f"bookstore-web-dev:{settings['redis.url']}:{settings['redis.prefix']}"
    return hashlib.sha256(seed.encode()).hexdigest()
