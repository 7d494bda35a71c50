"""Payments through a small provider interface.

The built-in test provider behaves like the well-known test cards: 4242 4242 4242
4242 approves, 4000 0000 0000 0002 declines; any number failing the Luhn check
never reaches a provider (it is a 400). Card numbers are never stored or logged:
only the brand and the last four digits leave this module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from pyramid.config import Configurator

from bookstore_core import cards

log = logging.getLogger(__name__)


class PaymentDeclined(Exception):
    def __init__(self, reason: str = "card_declined"):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Card:
    number: str
    expiry_month: int
    expiry_year: int
    cvc: str

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def brand(self) -> str:
        return cards.brand(self.number)

    def __repr__(self) -> str:  # never reveal the number, not even in a traceback
        return f"Card(brand={self.brand!r}, last4={self.last4!r})"


@dataclass(frozen=True)
class Charge:
    reference: str
    amount: Decimal
    currency: str
    brand: str
    last4: str


def parse_card(payment: dict, today: dt.date | None = None) -> tuple[Card | None, dict[str, str]]:
    """Validate ``{card_number, expiry, cvc}``; return the card or the field errors.

    The spec has already checked the fields' shapes; these are the checks it cannot state.
    """
    errors: dict[str, str] = {}
    number = cards.normalize_number(str(payment.get("card_number", "")))
    if not cards.number_valid(number):
        errors["payment.card_number"] = "This card number is not valid."
    expiry = cards.parse_expiry(str(payment.get("expiry", "")))
    if expiry is None:
        errors["payment.expiry"] = "Give the expiry as MM/YY."
    elif cards.expired(*expiry, today=today):
        errors["payment.expiry"] = "This card has expired."
    cvc = str(payment.get("cvc", ""))
    if not cards.cvc_valid(cvc):
        errors["payment.cvc"] = "The security code has 3 or 4 digits."
    if errors or expiry is None:
        return None, errors
    return Card(number, expiry[0], expiry[1], cvc), {}


class PaymentProvider(Protocol):
    def charge(self, amount: Decimal, currency: str, card: Card, idempotency_key: str) -> Charge: ...

    def refund(self, charge_reference: str, amount: Decimal, idempotency_key: str) -> str: ...


class TestPaymentProvider:
    """Approves or declines by card number, deterministically, without any network."""

    DECLINED = {"4000000000000002": "card_declined", "4000000000009995": "insufficient_funds"}

    def charge(self, amount: Decimal, currency: str, card: Card, idempotency_key: str) -> Charge:
        reason = self.DECLINED.get(card.number)
        if reason is not None:
            raise PaymentDeclined(reason)
        reference = "test_ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        log.info("payment charged", extra={"charge": reference, "amount": str(amount), "currency": currency})
        return Charge(reference, amount, currency, card.brand, card.last4)

    def refund(self, charge_reference: str, amount: Decimal, idempotency_key: str) -> str:
        reference = "test_re_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        log.info("payment refunded", extra={"charge": charge_reference, "refund": reference, "amount": str(amount)})
        return reference


def new_attempt_key(prefix: str) -> str:
    return f"{prefix}:{uuid.uuid4().hex}"


def includeme(config: Configurator) -> None:
    name = config.get_settings().get("bookstore.payment_provider", "test")
    if name != "test":
        raise ValueError(f"unknown payment provider {name!r}")
    provider = TestPaymentProvider()
    config.register_service(provider, PaymentProvider)
    config.registry["payment_provider"] = provider
