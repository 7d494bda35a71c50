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
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from pyramid.config import Configurator

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
        n = self.number
        if n.startswith("4"):
            return "visa"
        if n[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(n[:4]) <= 2720:
            return "mastercard"
        if n[:2] in {"34", "37"}:
            return "amex"
        return "card"

    def __repr__(self) -> str:  # never reveal the number, not even in a traceback
        return f"Card(brand={self.brand!r}, last4={self.last4!r})"


@dataclass(frozen=True)
class Charge:
    reference: str
    amount: Decimal
    currency: str
    brand: str
    last4: str


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def parse_card(payment: dict, today: dt.date | None = None) -> tuple[Card | None, dict[str, str]]:
    """Validate ``{card_number, expiry, cvc}``; return the card or the field errors."""
    errors: dict[str, str] = {}
    number = re.sub(r"[ -]", "", str(payment.get("card_number", "")))
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        errors["payment.card_number"] = "This card number is not valid."
    match = re.fullmatch(r"(\d{1,2})\s*/\s*(\d{2}|\d{4})", str(payment.get("expiry", "")).strip())
    month = year = 0
    if match:
        month, year = int(match.group(1)), int(match.group(2))
        year += 2000 if year < 100 else 0
    today = today or dt.date.today()
    if not match or not 1 <= month <= 12:
        errors["payment.expiry"] = "Give the expiry as MM/YY."
    elif (year, month) < (today.year, today.month):
        errors["payment.expiry"] = "This card has expired."
    cvc = str(payment.get("cvc", ""))
    if not re.fullmatch(r"\d{3,4}", cvc):
        errors["payment.cvc"] = "The security code has 3 or 4 digits."
    if errors:
        return None, errors
    return Card(number, month, year, cvc), {}


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
