"""JSON-lines logging with the request id of the request being served (both apps).

``request_id_tween`` gives every request an id (the client's ``X-Request-ID`` when
it sent a sane one), returns it in the response, puts it on every log line written
while the request is served and writes one access-log line. The storefront's API
client forwards it, so one id follows a click through both apps' logs.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable

import orjson
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

access_log = logging.getLogger("bookstore.access")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO", fmt: str = "json", quiet: tuple[str, ...] = ("alembic", "httpx")) -> None:
    """Route the root logger to stderr as JSON lines (or plain text with fmt='text')."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("waitress.queue").setLevel("ERROR")
    for name in quiet:
        logging.getLogger(name).setLevel("WARNING")


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = frozenset({"/healthz"})

Handler = Callable[[Request], Response]


def request_id_tween(handler: Handler, registry: Registry) -> Handler:
    """Every response carries ``X-Request-ID``; every request leaves one access-log line."""

    def tween(request: Request) -> Response:
        sent = request.headers.get("X-Request-ID", "")
        request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = handler(request)
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            return response
        finally:
            if access_log.isEnabledFor(logging.INFO) and request.path_info not in _QUIET_PATHS:
                access_log.info(
                    "%s %s %s",
                    request.method,
                    request.path_info,
                    status,
                    extra={"status": status, "duration_ms": round((time.perf_counter() - started) * 1000, 2)},
                )
            request_id_var.reset(token)

    return tween
