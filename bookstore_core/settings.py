"""Settings layering shared by both apps: defaults, then the ini file, then the environment.

Each app declares a table of ``BOOKSTORE_*`` variables (name -> settings key and
type) and its defaults; :func:`layered_settings` turns them into one typed dict.
Only the app factories and command lines call it: nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: variables both apps understand: environment name and logging
COMMON_ENVIRON_SETTINGS: dict[str, tuple[str, Any]] = {
    "BOOKSTORE_ENV": ("bookstore.env", str),
    "BOOKSTORE_REDIS_URL": ("redis.url", str),
    "BOOKSTORE_REDIS_PREFIX": ("redis.prefix", str),
    "BOOKSTORE_LOG_LEVEL": ("bookstore.log_level", str),
    "BOOKSTORE_LOG_FORMAT": ("bookstore.log_format", str),
}

COMMON_DEFAULTS: dict[str, Any] = {
    "bookstore.env": "development",
    "redis.url": "redis://127.0.0.1:6379/0",
    "redis.prefix": "bookstore:",
    "bookstore.log_level": "INFO",
    "bookstore.log_format": "json",
}


def as_bool(value: Any) -> bool:
    """``true``/``1``/``yes``/``on`` (any case) are true; everything else is false."""
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def settings_from_environ(environ: Mapping[str, str] | None, table: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """The settings named by the variables of ``table`` that are set (and not empty) in ``environ``."""
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
    """Defaults, overlaid by the ini file, overlaid by the environment; typed as ``table`` says.

    ``table`` and ``defaults`` are merged over :data:`COMMON_ENVIRON_SETTINGS` and
    :data:`COMMON_DEFAULTS`, so every app understands the common variables.
    """
    table = {**COMMON_ENVIRON_SETTINGS, **table}
    settings: dict[str, Any] = {**COMMON_DEFAULTS, **defaults}
    settings.update(ini_settings)
    settings.update(settings_from_environ(environ, table))
    for key, convert in table.values():
        if convert is not str and settings.get(key) is not None:
            settings[key] = convert(settings[key])
    return settings


MAX_REQUEST_BODY_BYTES = 8 * 1024 * 1024


def server_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """waitress options (threads, connection limit, trusted proxy) from the environment."""
    environ = os.environ if environ is None else environ
    options: dict[str, Any] = {
        "threads": int(environ.get("BOOKSTORE_THREADS", "8")),
        "connection_limit": int(environ.get("BOOKSTORE_CONNECTION_LIMIT", "200")),
        "channel_timeout": 60,
        "clear_untrusted_proxy_headers": True,
        # waitress answers 413 itself, and stops reading, above this (with or without a
        # Content-Length): the largest body either app takes is a 5 MB cover image
        "max_request_body_size": MAX_REQUEST_BODY_BYTES,
    }
    proxy = environ.get("BOOKSTORE_TRUSTED_PROXY")
    if proxy:
        options.update(
            trusted_proxy=proxy,
            trusted_proxy_count=int(environ.get("BOOKSTORE_TRUSTED_PROXY_COUNT", "1")),
            trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
        )
    return options
