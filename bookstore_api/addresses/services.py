"""Saved addresses: at most ``MAX_ADDRESSES`` per account, at most one default (the database says so too).

Every write locks the account's row first, so the cap and the single default hold
under concurrent requests (a partial unique index backs the default). Another
customer's address is a 404, as if it did not exist. Orders copy the address
they ship to, so editing or deleting one never changes a past order.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..exceptions import Conflict, NotFound
from .models import SavedAddress

MAX_ADDRESSES = 20
FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country")


def _text(value: str | None) -> str | None:
    """One line with runs of white space made single; empty optional text is None."""
    if value is None:
        return None
    return " ".join(value.split()) or None


def clean_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The address fields of a body the spec has checked, normalised as checkout normalises them."""
    values: dict[str, Any] = {}
    for field in FIELDS:
        if field in body:
            value = body[field]
            values[field] = value.upper() if field == "country" and value else _text(value)
    return values


class AddressService:
    def __init__(self, dbsession: Session):
        self.db = dbsession

    def _lock_account(self, user_id: int) -> None:
        self.db.execute(select(User.id).where(User.id == user_id).with_for_update())

    def list(self, user_id: int, page: int, per_page: int) -> tuple[list[SavedAddress], int]:
        condition = SavedAddress.user_id == user_id
        total = self.db.scalar(select(func.count()).select_from(SavedAddress).where(condition)) or 0
        rows = self.db.scalars(
            select(SavedAddress)
            .where(condition)
            .order_by(SavedAddress.is_default.desc(), SavedAddress.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        return list(rows), total

    def get(self, user_id: int, address_id: int) -> SavedAddress:
        address = self.db.get(SavedAddress, address_id)
        if address is None or address.user_id != user_id:
            raise NotFound("address")
        return address

    def _clear_default(self, user_id: int, except_id: int | None = None) -> None:
        condition = [SavedAddress.user_id == user_id, SavedAddress.is_default.is_(True)]
        if except_id is not None:
            condition.append(SavedAddress.id != except_id)
        self.db.execute(update(SavedAddress).where(*condition).values(is_default=False))

    def create(self, user_id: int, body: dict[str, Any]) -> SavedAddress:
        self._lock_account(user_id)
        count = self.db.scalar(select(func.count()).select_from(SavedAddress).where(SavedAddress.user_id == user_id))
        if count >= MAX_ADDRESSES:
            raise Conflict(
                "too_many_addresses",
                f"An account keeps at most {MAX_ADDRESSES} addresses; delete one first.",
                {"max": MAX_ADDRESSES},
            )
        # the first address is the default unless the customer says otherwise
        is_default = bool(body.get("is_default", count == 0))
        if is_default:
            self._clear_default(user_id)
        address = SavedAddress(user_id=user_id, is_default=is_default, **clean_fields(body))
        self.db.add(address)
        self.db.flush()
        self.db.refresh(address)
        return address

    def update(self, user_id: int, address_id: int, body: dict[str, Any]) -> SavedAddress:
        self._lock_account(user_id)
        address = self.get(user_id, address_id)
        for field, value in clean_fields(body).items():
            setattr(address, field, value)
        if "is_default" in body:
            if body["is_default"]:
                self._clear_default(user_id, except_id=address.id)
                self.db.flush()
            address.is_default = bool(body["is_default"])
        self.db.flush()
        self.db.refresh(address)
        return address

    def delete(self, user_id: int, address_id: int) -> None:
        self._lock_account(user_id)
        self.db.delete(self.get(user_id, address_id))
        self.db.flush()


def address_out(address: SavedAddress) -> dict[str, Any]:
    return {
        "id": address.id,
        "name": address.name,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
        "is_default": address.is_default,
        "created_at": address.created_at.isoformat(),
        "updated_at": address.updated_at.isoformat(),
    }


def includeme(config: Configurator) -> None:
    config.register_service_factory(lambda context, request: AddressService(request.dbsession), AddressService)
