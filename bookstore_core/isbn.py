"""ISBN-13: the check digit, and a typed ISBN (hyphens and spaces allowed) made into its 13 digits."""

from __future__ import annotations

from typing import Any


def isbn13_check_digit(first12: str) -> int:
    digits = [ord(c) - 48 for c in first12]
    total = sum(digits[0::2]) + 3 * sum(digits[1::2])
    return (10 - total % 10) % 10


def normalize_isbn(value: Any) -> str | None:
    """The 13 digits of a valid ISBN-13 (hyphens and spaces allowed), or None."""
    if not isinstance(value, str):
        return None
    digits = value.replace("-", "").replace(" ", "")
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit() or not digits.startswith(("978", "979")):
        return None
    if isbn13_check_digit(digits[:12]) != int(digits[12]):
        return None
    return digits
