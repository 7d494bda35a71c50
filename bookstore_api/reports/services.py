"""Sales, top sellers and stock, computed in PostgreSQL.

Which orders count: those whose status is ``paid``, ``shipped`` or ``delivered``
(a cancelled order was refunded and never counts), by the UTC day they were
placed (``orders.created_at``). An order's revenue is its ``total`` (what the
customer paid: lines, shipping, less any discount); a book's or genre's revenue
is the sum of its order lines (quantity × the price snapshot on the line).

How it stays fast at a million orders and books (migrations 0009 and 0011):

* closed days come from rollups kept by ``bookstore rollup-reports``
  (``reports/rollup.py``): ``sales_daily``, ``book_sales_daily``,
  ``book_sales_monthly`` and ``genre_sales_daily``. A day is read from them when it
  is on or before the watermark (``report_rollup_state.rolled_through``) and not in
  ``report_dirty_days`` (triggers log the days whose orders or lines changed after
  they were rolled); every other day — today, days after the watermark, dirty days —
  is computed from the orders and their lines through ``ix_orders_sales`` and
  ``ix_order_lines_report``. So the figures are exact even if the job never ran;
* genre changes not yet folded into ``genre_sales_daily`` (``report_genre_changes``)
  are corrected for with the changed books' own rollup rows;
* top books of a long period: whole clean months from ``book_sales_monthly``, the
  ragged edges from ``book_sales_daily``, live days from the lines. Instead of
  summing every book of every month, it takes the top ``k`` books of each month
  (index scans) and of the edge days summed together, sums those candidates exactly, and stops when the N-th candidate
  beats the most any other book could have (the sum of each bucket's ``k+1``-th
  value); otherwise it widens ``k``, and in the end sums every row (threshold
  algorithm: exact, and fast when best sellers stand out);
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
from sqlalchemy import TextClause, text
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

# The period's orders and revenue per day: rolled days (runs :r_first[i] to :r_last[i]) from
# sales_daily, the live days (runs of [start, end) timestamps) from the counted orders.
_PER_DAY = f"""
    per_day AS (
        SELECT r.day, r.orders, r.revenue
        FROM unnest(CAST(:r_first AS date[]), CAST(:r_last AS date[])) x(a, b)
        JOIN sales_daily r ON r.day BETWEEN x.a AND x.b
        UNION ALL
        SELECT CAST(o.created_at AT TIME ZONE 'UTC' AS date), count(*), sum(o.total)
        FROM orders o
        WHERE o.status IN {_COUNTED_SQL} AND (LIVE_DAYS)
        GROUP BY 1
    )
"""

_ROLLUP_SALES = f"""
    WITH {_PER_DAY},
    periods AS (
        SELECT generate_series(date_trunc(:unit, CAST(:first AS timestamp)),
                               CAST(:last AS timestamp), CAST(:step AS interval)) AS bucket
    ),
    sold AS (
        SELECT date_trunc(:unit, CAST(day AS timestamp)) AS bucket, sum(orders) AS orders, sum(revenue) AS revenue
        FROM per_day GROUP BY 1
    )
    SELECT CAST(periods.bucket AS date) AS bucket, coalesce(sold.orders, 0) AS orders,
           coalesce(sold.revenue, 0) AS revenue
    FROM periods LEFT JOIN sold USING (bucket)
    ORDER BY periods.bucket
    """

_ROLLUP_TOTALS = f"""
    WITH {_PER_DAY}
    SELECT coalesce(sum(orders), 0) AS orders, coalesce(sum(revenue), 0) AS revenue FROM per_day
    """

# One statement, so the genre changes it corrects for and the genre rows it reads are of one snapshot.
_ROLLUP_TOP_GENRES = f"""
    WITH pending AS (
        SELECT book_id, genre_id, sum(delta) AS delta FROM report_genre_changes
        GROUP BY book_id, genre_id HAVING sum(delta) <> 0
    ),
    sold AS (
        SELECT g.genre_id, g.units, g.revenue
        FROM unnest(CAST(:r_first AS date[]), CAST(:r_last AS date[])) x(a, b)
        JOIN genre_sales_daily g ON g.day BETWEEN x.a AND x.b
        UNION ALL
        SELECT p.genre_id, p.delta * d.units, p.delta * d.revenue
        FROM pending p CROSS JOIN LATERAL (  -- each changed book's own rows, never a scan of them all
            SELECT d.units, d.revenue FROM unnest(CAST(:r_first AS date[]), CAST(:r_last AS date[])) x(a, b)
            JOIN book_sales_daily d ON d.book_id = p.book_id AND d.day BETWEEN x.a AND x.b
        ) d
        UNION ALL
        SELECT bg.genre_id, l.quantity, l.quantity * l.unit_price
        FROM orders o
        JOIN order_lines l ON l.order_id = o.id
        JOIN book_genres bg ON bg.book_id = l.book_id
        WHERE o.status IN {_COUNTED_SQL} AND (LIVE_DAYS)
    ),
    by_genre AS (
        SELECT genre_id, sum(units) AS units, sum(revenue) AS revenue FROM sold
        GROUP BY genre_id HAVING sum(units) > 0
    )
    SELECT g.slug, g.name, by_genre.units, by_genre.revenue
    FROM by_genre JOIN genres g ON g.id = by_genre.genre_id
    ORDER BY {{order}}, g.slug
    LIMIT :limit
"""

_COVERAGE = text(
    """
    SELECT s.rolled_through,
           ARRAY(SELECT DISTINCT day FROM report_dirty_days WHERE day BETWEEN :first AND :last) AS dirty
    FROM report_rollup_state s
    """
)

# The counted lines of the live days (runs of days as [start, end) timestamps), per book.
_LIVE_BOOKS = f"""
    SELECT l.book_id, sum(l.quantity) AS units, sum(l.quantity * l.unit_price) AS revenue
    FROM orders o
    JOIN order_lines l ON l.order_id = o.id
    WHERE o.status IN {_COUNTED_SQL} AND (LIVE_DAYS)
    GROUP BY l.book_id
    """

# The k + 1 best books of each whole month (index scans on the ranking measure), and of the other
# rolled days taken together (the ragged edges, at most two months of daily rows).
_BUCKET_TOPS = """
    SELECT 'm' || m.month AS bucket, t.book_id, t.v
    FROM unnest(CAST(:months AS date[])) m(month)
    CROSS JOIN LATERAL (
        SELECT book_id, {metric} AS v FROM book_sales_monthly WHERE month = m.month ORDER BY {metric} DESC LIMIT :k
    ) t
    UNION ALL
    (
        SELECT 'days', d.book_id, sum(d.{metric}) AS v
        FROM unnest(CAST(:d_first AS date[]), CAST(:d_last AS date[])) r(a, b)
        JOIN book_sales_daily d ON d.day BETWEEN r.a AND r.b
        GROUP BY d.book_id
        ORDER BY v DESC
        LIMIT :k
    )
"""

# Exact rollup sums of the candidate books over the rolled months and days (runs of them).
_CANDIDATE_SUMS = text(
    """
    SELECT c.book_id, sum(x.units) AS units, sum(x.revenue) AS revenue
    FROM unnest(CAST(:ids AS bigint[])) c(book_id)
    CROSS JOIN LATERAL (
        SELECT m.units, m.revenue
        FROM unnest(CAST(:m_first AS date[]), CAST(:m_last AS date[])) r(a, b)
        JOIN book_sales_monthly m ON m.book_id = c.book_id AND m.month BETWEEN r.a AND r.b
        UNION ALL
        SELECT d.units, d.revenue
        FROM unnest(CAST(:d_first AS date[]), CAST(:d_last AS date[])) r(a, b)
        JOIN book_sales_daily d ON d.book_id = c.book_id AND d.day BETWEEN r.a AND r.b
    ) x
    GROUP BY c.book_id
    """
)

# Every rolled row and live line of the period, summed per book: the last resort of the threshold search.
_ALL_SUMS = f"""
    SELECT book_id, sum(units) AS units, sum(revenue) AS revenue FROM (
        SELECT m.book_id, m.units, m.revenue
        FROM unnest(CAST(:m_first AS date[]), CAST(:m_last AS date[])) r(a, b)
        JOIN book_sales_monthly m ON m.month BETWEEN r.a AND r.b
        UNION ALL
        SELECT d.book_id, d.units, d.revenue
        FROM unnest(CAST(:d_first AS date[]), CAST(:d_last AS date[])) r(a, b)
        JOIN book_sales_daily d ON d.day BETWEEN r.a AND r.b
        UNION ALL
        SELECT l.book_id, l.quantity, l.quantity * l.unit_price
        FROM orders o
        JOIN order_lines l ON l.order_id = o.id
        WHERE o.status IN {_COUNTED_SQL} AND (LIVE_DAYS)
    ) x
    GROUP BY book_id
    ORDER BY {{order}}
    LIMIT :limit
"""

_BOOK_DETAILS = text("SELECT id, isbn, title FROM books WHERE id = ANY(CAST(:ids AS bigint[]))")

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
_BOOK_ORDERINGS = {by: f"{order}, book_id" for by, order in _ORDERINGS.items()}

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


@dataclass
class Coverage:
    """How a period splits between the rollups and the live rows (see the module docstring)."""

    months: list[dt.date]  # whole months answered by book_sales_monthly
    days: list[dt.date]  # other rolled days, answered by book_sales_daily
    live: list[tuple[dt.date, dt.date]]  # runs of days computed from the lines, inclusive
    rolled: list[dt.date]  # every day answered by the rollups

    @staticmethod
    def runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
        runs: list[tuple[dt.date, dt.date]] = []
        for day in days:
            if runs and runs[-1][1] + dt.timedelta(days=1) == day:
                runs[-1] = (runs[-1][0], day)
            else:
                runs.append((day, day))
        return runs

    @property
    def live_days(self) -> int:
        return sum((last - first).days + 1 for first, last in self.live)

    def params(self) -> dict:
        month_runs: list[tuple[dt.date, dt.date]] = []
        for month in self.months:
            if month_runs and _next_month(month_runs[-1][1]) == month:
                month_runs[-1] = (month_runs[-1][0], month)
            else:
                month_runs.append((month, month))
        day_runs = self.runs(self.days)
        rolled_runs = self.runs(self.rolled)
        return {
            "r_first": [a for a, _ in rolled_runs],
            "r_last": [b for _, b in rolled_runs],
            "m_first": [a for a, _ in month_runs],
            "m_last": [b for _, b in month_runs],
            "d_first": [a for a, _ in day_runs],
            "d_last": [b for _, b in day_runs],
            **{f"live_start_{n}": a for n, (a, _) in enumerate(self.live)},
            **{f"live_end_{n}": b + dt.timedelta(days=1) for n, (_, b) in enumerate(self.live)},
        }


class ReportService:
    """The reports; ``rollups=False`` computes every day from the orders (the reference the tests compare to)."""

    #: the first number of books taken from each month or day by the top-books search, and its ceiling
    FIRST_K = 40
    MAX_K = 2560

    def __init__(self, dbsession: Session, currency: str, rollups: bool = True):
        self.db = dbsession
        self.currency = currency
        self.rollups = rollups

    def _prepare(self) -> None:
        """Small, many-branched queries: compiling them (JIT) would cost more than running them."""
        if self.rollups:
            self.db.execute(text("SET LOCAL jit = off"))

    def _totals(self, period: Period) -> dict:
        if self.rollups:
            coverage = self.coverage(period)
            row = self.db.execute(_live(_ROLLUP_TOTALS, coverage), coverage.params()).one()
        else:
            row = self.db.execute(_TOTALS, _bounds(period)).one()
        revenue = Decimal(row.revenue)
        return {
            "orders": int(row.orders),
            "revenue": money(revenue),
            "average_order_value": money(average(revenue, int(row.orders))),
        }

    def sales(self, period: Period, group: str) -> dict:
        step = {"day": "1 day", "week": "1 week", "month": "1 month"}[group]
        self._prepare()
        params = {**_bounds(period), "unit": group, "step": step}
        if self.rollups:
            coverage = self.coverage(period)
            rows = self.db.execute(_live(_ROLLUP_SALES, coverage), {**params, **coverage.params()}).all()
        else:
            rows = self.db.execute(_SALES, params).all()
        periods = []
        for row in rows:
            start = max(row.bucket, period.start)
            end = min(_bucket_end(row.bucket, group), period.end)
            revenue = Decimal(row.revenue)
            orders = int(row.orders)
            periods.append(
                {
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "orders": orders,
                    "revenue": money(revenue),
                    "average_order_value": money(average(revenue, orders)),
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

    def coverage(self, period: Period) -> Coverage:
        row = self.db.execute(_COVERAGE, {"first": period.start, "last": period.end}).one()
        through, dirty = row.rolled_through, set(row.dirty)
        rolled, live = [], []
        day = period.start
        while day <= period.end:
            (rolled if through is not None and day <= through and day not in dirty else live).append(day)
            day += dt.timedelta(days=1)
        rolled_set = set(rolled)
        months = []
        month = period.start.replace(day=1)
        while month <= period.end:
            following = _next_month(month)
            days_of_month = {month + dt.timedelta(days=n) for n in range((following - month).days)}
            if days_of_month <= rolled_set:
                months.append(month)
            month = following
        in_months = {day for day in rolled if day.replace(day=1) in set(months)}
        return Coverage(months, [day for day in rolled if day not in in_months], Coverage.runs(live), rolled)

    def _top_book_sums(self, period: Period, by: str, limit: int) -> list[tuple[int, int, Decimal]]:
        """(book_id, units, revenue) of the ``limit`` best books, best first (threshold search, see above)."""
        coverage = self.coverage(period)
        params = coverage.params()
        order = _BOOK_ORDERINGS[by]
        if coverage.live_days * 2 > period.days:  # mostly not rolled up yet: one pass over everything
            rows = self.db.execute(_live(_ALL_SUMS.format(order=order), coverage), {**params, "limit": limit}).all()
            return [(row.book_id, int(row.units), Decimal(row.revenue)) for row in rows]
        live: dict[int, tuple[int, Decimal]] = {}
        if coverage.live:
            for row in self.db.execute(_live(_LIVE_BOOKS, coverage), params):
                live[row.book_id] = (int(row.units), Decimal(row.revenue))

        def rank(item: tuple[int, int, Decimal]) -> tuple:
            book_id, units, revenue = item
            return (-units, -revenue, book_id) if by == "units" else (-revenue, -units, book_id)

        k = max(self.FIRST_K, 2 * limit)
        tops = text(_BUCKET_TOPS.format(metric=by))
        while k <= self.MAX_K:
            buckets: dict[str, list] = {}
            bucket_params = {"months": coverage.months, "d_first": params["d_first"], "d_last": params["d_last"]}
            for row in self.db.execute(tops, {**bucket_params, "k": k + 1}):
                buckets.setdefault(row.bucket, []).append(row)
            # the live days are one more bucket: their best k books are candidates, the rest bounded
            best_live = sorted(live, key=lambda book_id: live[book_id][0 if by == "units" else 1], reverse=True)
            candidates = set(best_live[:k])
            bound: Decimal | int = 0
            if len(best_live) > k:
                bound += live[best_live[k]][0 if by == "units" else 1]
            for rows in buckets.values():
                rows.sort(key=lambda row: row.v, reverse=True)
                candidates.update(row.book_id for row in rows[:k])
                if len(rows) > k:
                    bound += rows[k].v  # no book outside this bucket's top k sold more in it
            sums = {book_id: list(live[book_id]) for book_id in candidates if book_id in live}
            if candidates and (coverage.months or coverage.days):
                for row in self.db.execute(_CANDIDATE_SUMS, {**params, "ids": sorted(candidates)}):
                    entry = sums.setdefault(row.book_id, list(live.get(row.book_id, (0, Decimal(0)))))
                    entry[0] += int(row.units)
                    entry[1] += Decimal(row.revenue)
            ranked = sorted(((book_id, units, revenue) for book_id, (units, revenue) in sums.items()), key=rank)
            if not bound:
                return ranked[:limit]  # every book that sold is a candidate
            if len(ranked) >= limit:
                last = ranked[limit - 1]
                if (last[1] if by == "units" else last[2]) > bound:
                    return ranked[:limit]
            k *= 4
        rows = self.db.execute(_live(_ALL_SUMS.format(order=order), coverage), {**params, "limit": limit}).all()
        return [(row.book_id, int(row.units), Decimal(row.revenue)) for row in rows]

    def top_books(self, period: Period, by: str, limit: int) -> dict:
        if self.rollups:
            self._prepare()
            sums = self._top_book_sums(period, by, limit)
            details = {row.id: row for row in self.db.execute(_BOOK_DETAILS, {"ids": [s[0] for s in sums]})}
            rows = [
                (book_id, details[book_id].isbn, details[book_id].title, units, revenue)
                for book_id, units, revenue in sums
            ]
        else:
            statement = text(_TOP_BOOKS.format(lines=_LINES_IN_PERIOD, order=_BOOK_ORDERINGS[by]))
            rows = [
                (row.id, row.isbn, row.title, row.units, row.revenue)
                for row in self.db.execute(statement, {**_bounds(period), "limit": limit})
            ]
        items = [
            {"book_id": book_id, "isbn": isbn, "title": title, "units": int(units), "revenue": money(revenue)}
            for book_id, isbn, title, units, revenue in rows
        ]
        return {**self._header(period, by), "items": items}

    def top_genres(self, period: Period, by: str, limit: int) -> dict:
        if self.rollups:
            self._prepare()
            coverage = self.coverage(period)
            statement = _live(_ROLLUP_TOP_GENRES.format(order=_ORDERINGS[by]), coverage)
            params = {**coverage.params(), "limit": limit}
        else:
            statement = text(_TOP_GENRES.format(lines=_LINES_IN_PERIOD, order=_ORDERINGS[by]))
            params = {**_bounds(period), "limit": limit}
        rows = self.db.execute(statement, params).all()
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


def _live(statement: str, coverage: Coverage) -> TextClause:
    """``statement`` with its live days spelled out as literal ranges of ``orders.created_at``, so
    the planner sees how few orders they hold (an index range scan each, ``false`` for none)."""
    ranges = " OR ".join(
        f"(o.created_at >= CAST(:live_start_{n} AS timestamp) AT TIME ZONE 'UTC'"
        f" AND o.created_at < CAST(:live_end_{n} AS timestamp) AT TIME ZONE 'UTC')"
        for n in range(len(coverage.live))
    )
    return text(statement.replace("LIVE_DAYS", ranges or "false"))


def _bounds(period: Period) -> dict:
    return {"first": period.start, "last": period.end, "after": period.end + dt.timedelta(days=1)}


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _bucket_end(bucket: dt.date, group: str) -> dt.date:
    if group == "day":
        return bucket
    if group == "week":
        return bucket + dt.timedelta(days=6)
    return _next_month(bucket) - dt.timedelta(days=1)


def includeme(config: Configurator) -> None:
    currency = config.get_settings()["bookstore.currency"]
    config.register_service_factory(lambda context, request: ReportService(request.dbsession, currency), ReportService)
