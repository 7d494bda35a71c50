"""Sales, top sellers and stock, computed in PostgreSQL.

Which orders count: those whose status is ``paid``, ``shipped`` or ``delivered``
(a cancelled order was refunded and never counts), by the UTC day they were
placed (``orders.created_at``). An order's revenue is its ``total`` (what the
customer paid: lines, shipping, less any discount); a book's or genre's revenue
is the sum of its order lines (quantity × the price snapshot on the line).

How it stays fast at a million orders and books (migration 0009):

* the sales report is one range scan of ``ix_orders_sales`` (partial on the
  counted statuses, ``total`` included): index-only, grouped by
  ``date_trunc`` and joined to ``generate_series`` so empty periods are rows of
  zeros;
* top books and genres join that index to ``ix_order_lines_report`` (lines by
  order with book, quantity and price included), again without reading either heap;
* the stock summary reads ``ix_books_live_stock`` (live books by stock, with the
  price), and slow movers walk ``ix_books_live_stock_value`` (live books in stock,
  highest stock value first) and keep the first books with no sale in the window.

``bench/reports.py`` measures each at 1M books and 1M orders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from pyramid.config import Configurator
from sqlalchemy import text
from sqlalchemy.orm import Session

from ..exceptions import InvalidInput

COUNTED_STATUSES = ("paid", "shipped", "delivered")
_COUNTED_SQL = "('paid', 'shipped', 'delivered')"
GROUPS = ("day", "week", "month")
#: the longest period each grouping may cover (days, inclusive)
MAX_DAYS = {"day": 366, "week": 1096, "month": 1096}
#: the longest period the top-sellers reports may cover
MAX_TOP_DAYS = 1096
_CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal | None) -> str:
    return f"{(value or ZERO).quantize(_CENT):.2f}"


def average(revenue: Decimal, orders: int) -> Decimal:
    return (revenue / orders).quantize(_CENT, ROUND_HALF_UP) if orders else ZERO


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        end = self.start - dt.timedelta(days=1)
        return Period(end - dt.timedelta(days=self.days - 1), end)


def parse_period(start: str | None, end: str | None, max_days: int) -> Period:
    """``from`` and ``to`` (ISO dates, inclusive) as a period; 400 naming the field when they make none.

    Without them: the last 30 days up to today (UTC).
    """
    fields: dict[str, str] = {}
    today = dt.datetime.now(dt.UTC).date()
    dates: dict[str, dt.date | None] = {}
    for name, value in (("from", start), ("to", end)):
        try:
            dates[name] = dt.date.fromisoformat(value) if value else None
        except ValueError:
            fields[name] = "Not a date (YYYY-MM-DD)."
        else:
            if dates[name] is not None and not dt.date(1970, 1, 1) <= dates[name] <= dt.date(9998, 12, 1):
                fields[name] = "Out of range."
    if fields:
        raise InvalidInput("The period is not valid.", fields)
    last = dates["to"] or (today if dates["from"] is None else min(today, dates["from"] + dt.timedelta(days=29)))
    first = dates["from"] or last - dt.timedelta(days=29)
    if first > last:
        raise InvalidInput("The period is not valid.", {"from": "Must not be after to."})
    period = Period(first, last)
    if period.days > max_days:
        raise InvalidInput("The period is too long.", {"to": f"A period covers at most {max_days} days here."})
    return period


_SALES = text(
    f"""
    WITH periods AS (
        SELECT generate_series(date_trunc(:unit, CAST(:first AS timestamp)),
                               CAST(:last AS timestamp), CAST(:step AS interval)) AS bucket
    ),
    sold AS (
        SELECT date_trunc(:unit, created_at AT TIME ZONE 'UTC') AS bucket, count(*) AS orders, sum(total) AS revenue
        FROM orders
        WHERE status IN {_COUNTED_SQL}
          AND created_at >= CAST(:first AS timestamp) AT TIME ZONE 'UTC'
          AND created_at < CAST(:after AS timestamp) AT TIME ZONE 'UTC'
        GROUP BY 1
    )
    SELECT CAST(periods.bucket AS date) AS bucket, coalesce(sold.orders, 0) AS orders,
           coalesce(sold.revenue, 0) AS revenue
    FROM periods LEFT JOIN sold USING (bucket)
    ORDER BY periods.bucket
    """
)

_TOTALS = text(
    f"""
    SELECT count(*) AS orders, coalesce(sum(total), 0) AS revenue
    FROM orders
    WHERE status IN {_COUNTED_SQL}
      AND created_at >= CAST(:first AS timestamp) AT TIME ZONE 'UTC'
      AND created_at < CAST(:after AS timestamp) AT TIME ZONE 'UTC'
    """
)

# the order lines of the counted orders placed in the period (both index-only scans)
_LINES_IN_PERIOD = f"""
    SELECT l.book_id, l.quantity, l.quantity * l.unit_price AS amount
    FROM orders o JOIN order_lines l ON l.order_id = o.id
    WHERE o.status IN {_COUNTED_SQL}
      AND o.created_at >= CAST(:first AS timestamp) AT TIME ZONE 'UTC'
      AND o.created_at < CAST(:after AS timestamp) AT TIME ZONE 'UTC'
"""

_TOP_BOOKS = """
    WITH sold AS (
        SELECT book_id, sum(quantity) AS units, sum(amount) AS revenue
        FROM ({lines}) lines GROUP BY book_id
        ORDER BY {order} LIMIT :limit
    )
    SELECT b.id, b.isbn, b.title, sold.units, sold.revenue
    FROM sold JOIN books b ON b.id = sold.book_id
    ORDER BY {order}
"""

_TOP_GENRES = """
    WITH sold AS (
        SELECT book_id, sum(quantity) AS units, sum(amount) AS revenue
        FROM ({lines}) lines GROUP BY book_id
    ),
    by_genre AS (
        SELECT bg.genre_id, sum(sold.units) AS units, sum(sold.revenue) AS revenue
        FROM sold JOIN book_genres bg ON bg.book_id = sold.book_id
        GROUP BY bg.genre_id
    )
    SELECT g.slug, g.name, by_genre.units, by_genre.revenue
    FROM by_genre JOIN genres g ON g.id = by_genre.genre_id
    ORDER BY {order}, g.slug
    LIMIT :limit
"""

_ORDERINGS = {
    "revenue": "revenue DESC, units DESC",
    "units": "units DESC, revenue DESC",
}

_STOCK_SUMMARY = text(
    """
    SELECT coalesce(sum(price * stock_quantity), 0) AS stock_value,
           count(*) FILTER (WHERE stock_quantity = 0) AS out_of_stock,
           count(*) FILTER (WHERE stock_quantity > 0) AS in_stock,
           coalesce(sum(stock_quantity), 0) AS units
    FROM books WHERE archived_at IS NULL
    """
)

# Books in stock with no counted sale since :since, highest stock value first: walks
# ix_books_live_stock_value and checks each book's recent lines through ix_order_lines_book_id.
_UNSOLD = text(
    f"""
    SELECT b.id, b.isbn, b.title, b.stock_quantity, b.price * b.stock_quantity AS stock_value
    FROM books b
    WHERE b.archived_at IS NULL AND b.stock_quantity > 0
      AND NOT EXISTS (
        SELECT 1 FROM order_lines l JOIN orders o ON o.id = l.order_id
        WHERE l.book_id = b.id AND o.status IN {_COUNTED_SQL} AND o.created_at >= :since
      )
    ORDER BY b.price * b.stock_quantity DESC, b.id
    LIMIT :limit
    """
)

# When fewer unsold books exist than asked for: the least sold of those that sold.
_LEAST_SOLD = text(
    f"""
    WITH sold AS (
        SELECT l.book_id, sum(l.quantity) AS units
        FROM orders o JOIN order_lines l ON l.order_id = o.id
        WHERE o.status IN {_COUNTED_SQL} AND o.created_at >= :since
        GROUP BY l.book_id
    )
    SELECT b.id, b.isbn, b.title, b.stock_quantity, b.price * b.stock_quantity AS stock_value, sold.units
    FROM sold JOIN books b ON b.id = sold.book_id
    WHERE b.archived_at IS NULL AND b.stock_quantity > 0
    ORDER BY sold.units, b.price * b.stock_quantity DESC, b.id
    LIMIT :limit
    """
)


class ReportService:
    def __init__(self, dbsession: Session, currency: str):
        self.db = dbsession
        self.currency = currency

    def _totals(self, period: Period) -> dict:
        row = self.db.execute(_TOTALS, _bounds(period)).one()
        revenue = Decimal(row.revenue)
        return {
            "orders": row.orders,
            "revenue": money(revenue),
            "average_order_value": money(average(revenue, row.orders)),
        }

    def sales(self, period: Period, group: str) -> dict:
        step = {"day": "1 day", "week": "1 week", "month": "1 month"}[group]
        rows = self.db.execute(_SALES, {**_bounds(period), "unit": group, "step": step}).all()
        periods = []
        for row in rows:
            start = max(row.bucket, period.start)
            end = min(_bucket_end(row.bucket, group), period.end)
            revenue = Decimal(row.revenue)
            periods.append(
                {
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "orders": row.orders,
                    "revenue": money(revenue),
                    "average_order_value": money(average(revenue, row.orders)),
                }
            )
        previous = period.previous()
        return {
            "currency": self.currency,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "group": group,
            "periods": periods,
            "totals": self._totals(period),
            "previous_from": previous.start.isoformat(),
            "previous_to": previous.end.isoformat(),
            "previous_totals": self._totals(previous),
        }

    def top_books(self, period: Period, by: str, limit: int) -> dict:
        statement = text(_TOP_BOOKS.format(lines=_LINES_IN_PERIOD, order=_ORDERINGS[by]))
        rows = self.db.execute(statement, {**_bounds(period), "limit": limit}).all()
        items = [
            {
                "book_id": row.id,
                "isbn": row.isbn,
                "title": row.title,
                "units": int(row.units),
                "revenue": money(row.revenue),
            }
            for row in rows
        ]
        return {**self._header(period, by), "items": items}

    def top_genres(self, period: Period, by: str, limit: int) -> dict:
        statement = text(_TOP_GENRES.format(lines=_LINES_IN_PERIOD, order=_ORDERINGS[by]))
        rows = self.db.execute(statement, {**_bounds(period), "limit": limit}).all()
        items = [
            {"slug": row.slug, "name": row.name, "units": int(row.units), "revenue": money(row.revenue)} for row in rows
        ]
        return {**self._header(period, by), "items": items}

    def _header(self, period: Period, by: str) -> dict:
        return {"currency": self.currency, "from": period.start.isoformat(), "to": period.end.isoformat(), "by": by}

    def stock(self, days: int, limit: int) -> dict:
        summary = self.db.execute(_STOCK_SUMMARY).one()
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        rows = [(row, 0) for row in self.db.execute(_UNSOLD, {"since": since, "limit": limit})]
        if len(rows) < limit:
            rows += [
                (row, int(row.units))
                for row in self.db.execute(_LEAST_SOLD, {"since": since, "limit": limit - len(rows)})
            ]
        slow = [
            {
                "book_id": row.id,
                "isbn": row.isbn,
                "title": row.title,
                "stock_quantity": row.stock_quantity,
                "stock_value": money(row.stock_value),
                "units_sold": units,
            }
            for row, units in rows
        ]
        return {
            "currency": self.currency,
            "stock_value": money(Decimal(summary.stock_value)),
            "stock_units": int(summary.units),
            "books_in_stock": summary.in_stock,
            "books_out_of_stock": summary.out_of_stock,
            "slow_mover_days": days,
            "slow_movers": slow,
        }


def _bounds(period: Period) -> dict:
    return {"first": period.start, "last": period.end, "after": period.end + dt.timedelta(days=1)}


def _bucket_end(bucket: dt.date, group: str) -> dt.date:
    if group == "day":
        return bucket
    if group == "week":
        return bucket + dt.timedelta(days=6)
    following = dt.date(bucket.year + bucket.month // 12, bucket.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def includeme(config: Configurator) -> None:
    currency = config.get_settings()["bookstore.currency"]
    config.register_service_factory(lambda context, request: ReportService(request.dbsession, currency), ReportService)
