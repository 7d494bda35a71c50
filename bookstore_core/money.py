"""The format of an amount of money a person types: a price, a price filter.

Up to 8 digits before the point and 2 after, what ``numeric(10, 2)`` stores (a
book's price). ``openapi.yaml`` states the same pattern for every money input (a
unit test holds the two together); the storefront uses it to answer a form at once.
"""

from __future__ import annotations

import re
from decimal import Decimal

PRICE_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,2})?$"
_PRICE = re.compile(PRICE_PATTERN.replace("$", r"\Z"))


def parse_price(text: str) -> Decimal | None:
    """The amount ``text`` names, or None when it is not a price (``12``, ``12.5``, ``12.50``)."""
    return Decimal(text) if _PRICE.match(text) else None
