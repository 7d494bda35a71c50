"""Fast JSON rendering (orjson) for every API response."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
from pyramid.config import Configurator
from pyramid.response import Response

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def json_response(body: Any, status: int = 200) -> Response:
    response = Response(body=dumps(body), status=status, content_type="application/json", charset=None)
    return response


class JSONRenderer:
    """``renderer="json"`` backed by orjson; dates ISO 8601, decimals as strings."""

    def __init__(self, info: Any):
        pass

    def __call__(self, value: Any, system: dict[str, Any]) -> bytes:
        request = system.get("request")
        if request is not None:
            response = request.response
            if response.content_type == response.default_content_type:
                response.content_type = "application/json"
                response.charset = None
        return dumps(value)


def includeme(config: Configurator) -> None:
    config.add_renderer("json", JSONRenderer)
