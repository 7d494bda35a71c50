"""Voucher input beyond the spec (dates to UTC, money to cents, the code's case), and the public shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..exceptions import InvalidInput
from .models import Voucher
from .services import normalize_code

CENT = Decimal("0.01")


def _money(value: str | None) -> Decimal | None:
    return Decimal(value.strip()).quantize(CENT) if value is not None else None


def _moment(value: str | None) -> dt.datetime | None:
    """An RFC 3339 date-time in UTC (one without an offset is read as UTC); ValueError when it is none."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


#: field -> how a value the spec accepted becomes what the model stores
_CLEAN: dict[str, Callable[[Any], Any]] = {
    "code": normalize_code,
    "kind": lambda value: value,
    "value": _money,
    "min_subtotal": _money,
    "starts_at": _moment,
    "ends_at": _moment,
    "max_uses": lambda value: value,
    "max_uses_per_customer": lambda value: value,
    "genres": lambda slugs: list(dict.fromkeys(slugs)),
    "active": bool,
}


def parse_voucher_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Clean values from a create or update body the spec has checked; a 400 naming a field that will not parse."""
    clean: dict[str, Any] = {}
    fields: dict[str, str] = {}
    for name, value in body.items():
        if name not in _CLEAN:
            continue
        try:
            clean[name] = _CLEAN[name](value)
        except (ValueError, OverflowError, ArithmeticError):
            fields[name] = "Not a valid value."
    if fields:
        raise InvalidInput("Some fields are not valid.", fields)
    return clean


def _money_out(value: Decimal | None) -> str | None:
    return f"{value:.2f}" if value is not None else None


def _moment_out(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def voucher_out(voucher: Voucher) -> dict[str, Any]:
    return {
        "id": voucher.id,
        "code": voucher.code,
        "kind": voucher.kind,
        "value": _money_out(voucher.value),
        "min_subtotal": _money_out(voucher.min_subtotal),
        "starts_at": _moment_out(voucher.starts_at),
        "ends_at": _moment_out(voucher.ends_at),
        "max_uses": voucher.max_uses,
        "max_uses_per_customer": voucher.max_uses_per_customer,
        "genres": [genre.slug for genre in voucher.genres],
        "active": voucher.active,
        "uses": int(voucher.standing_uses or 0),
        "created_at": voucher.created_at.isoformat(),
        "updated_at": voucher.updated_at.isoformat(),
    }
