"""Payment-card checks both apps make: number (Luhn), expiry and security code.

Pure functions over strings: the API turns their answers into a 400 naming the
field, the storefront into a message beside the form field. Card numbers never
leave these functions except as the brand and the last four digits.
"""

from __future__ import annotations

import datetime as dt
import re

_SEPARATORS = re.compile(r"[\s-]")
_EXPIRY = re.compile(r"(\d{1,2})\s*/\s*(\d{2}|\d{4})")
_CVC = re.compile(r"\d{3,4}")


def normalize_number(raw: str) -> str:
    """The digits of a card number as typed (spaces and dashes removed)."""
    return _SEPARATORS.sub("", raw)


def luhn_valid(number: str) -> bool:
    """The Luhn checksum of a string of digits."""
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def number_valid(number: str) -> bool:
    """12 to 19 digits with a valid checksum (``number`` already normalized)."""
    return number.isdigit() and 12 <= len(number) <= 19 and luhn_valid(number)


def parse_expiry(raw: str) -> tuple[int, int] | None:
    """``MM/YY`` or ``MM/YYYY`` as ``(month, year)``; None when it is not a date."""
    match = _EXPIRY.fullmatch(raw.strip())
    if match is None:
        return None
    month, year = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return None
    return month, year + 2000 if year < 100 else year


def expired(month: int, year: int, today: dt.date | None = None) -> bool:
    """A card is good through the last day of its expiry month."""
    today = today or dt.date.today()
    return (year, month) < (today.year, today.month)


def cvc_valid(cvc: str) -> bool:
    return _CVC.fullmatch(cvc) is not None


def brand(number: str) -> str:
    """``visa``, ``mastercard``, ``amex`` or ``card``, from the number's prefix."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "card"
