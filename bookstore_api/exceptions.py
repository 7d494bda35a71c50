"""What the domain services raise when a request cannot be carried out.

The services know nothing of HTTP: they raise these, and
:mod:`bookstore_api.http.errors` maps each kind to its status code and error body
(``{"error": {"code", "message", "details"}}``) in one exception view.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the domain refuses, with a machine code, a human message and details."""

    code = "error"

    def __init__(self, message: str, details: dict[str, Any] | None = None, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """The object does not exist, or belongs to someone else."""

    code = "not_found"

    def __init__(self, what: str = "resource"):
        super().__init__(f"The {what} was not found.")


class InvalidInput(DomainError):
    """The input breaks a rule; ``fields`` names the offending fields."""

    code = "invalid_input"

    def __init__(self, message: str, fields: dict[str, str] | None = None, *, code: str | None = None):
        super().__init__(message, {"fields": fields or {}}, code=code)


class Forbidden(DomainError):
    """The caller is known but may not do this."""

    code = "forbidden"

    def __init__(self, message: str = "You are not allowed to do this.", *, code: str | None = None):
        super().__init__(message, code=code)


class PayloadTooLarge(DomainError):
    """What was sent is larger than the server accepts (bytes, or pixels of an image)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message, details, code=code)


class UnsupportedMedia(DomainError):
    """The body is not of a media type this operation accepts (by its header or by its content)."""

    code = "unsupported_media_type"


class Conflict(DomainError):
    """The request clashes with the current state: a duplicate, a state change not allowed now."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message, details, code=code)


class OutOfStock(Conflict):
    """Some books are not there in the quantity asked for; ``books`` lists them."""

    def __init__(self, message: str, books: list[dict[str, Any]]):
        super().__init__("out_of_stock", message, {"books": books})


class InsufficientStock(Conflict):
    """A stock movement would take a book's stock below zero."""

    def __init__(self, book_id: int, stock_quantity: int, delta: int):
        super().__init__(
            "insufficient_stock",
            "Stock cannot go below zero.",
            {"book_id": book_id, "stock_quantity": stock_quantity, "delta": delta},
        )


class IllegalTransition(Conflict):
    """The order's status does not allow this action now."""

    def __init__(self, status: str, done: str):
        super().__init__("illegal_state", f"An order that is {status} cannot be {done}.", {"status": status})


class VoucherInvalid(Conflict):
    """The voucher cannot be used for this order; ``reason`` says why (one of :data:`REASONS`)."""

    REASONS = (
        "unknown",
        "inactive",
        "expired",
        "not_started",
        "exhausted",
        "below_minimum",
        "not_applicable",
        "customer_limit",
    )
    MESSAGES = {
        "unknown": "There is no voucher with this code.",
        "inactive": "This voucher is no longer valid.",
        "expired": "This voucher has expired.",
        "not_started": "This voucher is not valid yet.",
        "exhausted": "This voucher has been used up.",
        "below_minimum": "The order is below this voucher's minimum.",
        "not_applicable": "This voucher does not apply to any book in the order.",
        "customer_limit": "You have already used this voucher as often as it allows.",
    }

    def __init__(self, reason: str, **details: object):
        self.reason = reason
        extra = {name: str(value) for name, value in details.items()}
        message = self.MESSAGES[reason]
        if reason == "below_minimum" and "minimum" in extra:
            message = f"This voucher needs an order of at least {extra['minimum']} before shipping."
        super().__init__("voucher_invalid", message, {"reason": reason, **extra})


class PaymentDeclined(DomainError):
    """The card was declined; nothing was placed."""

    code = "payment_declined"

    def __init__(self, reason: str):
        super().__init__("The card was declined; no order was placed.", {"reason": reason})


class RateLimited(DomainError):
    """Too many attempts from this caller; try again after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, {"retry_after": self.retry_after})


class Busy(DomainError):
    """The server is at capacity for this kind of work right now; retry after ``retry_after`` seconds."""

    code = "busy"

    def __init__(self, message: str = "The server is busy; please retry shortly.", retry_after: int = 1):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, {"retry_after": self.retry_after})


class NotConfigured(DomainError):
    """A feature needs a setting this server lacks (a 503 until it is configured)."""

    code = "not_configured"
