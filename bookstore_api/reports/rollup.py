"""``bookstore rollup-reports``: keep the daily and monthly sales rollups the reports read.

What the reports read for a *closed* day (a day up to ``report_rollup_state.rolled_through``
that is not listed in ``report_dirty_days``) comes from the rollup tables of migration
0011; every other day (today, days after the watermark, days whose orders changed after
they were rolled) is computed from the orders and their lines. So the figures are
exact whether or not this command has run; running it keeps them fast.

One run, under a session-level advisory lock (a second runner waits, it does not
roll the same days twice):

1. folds pending genre changes (``report_genre_changes``) into ``genre_sales_daily``;
2. rolls again every dirty day up to the watermark;
3. closes the days after the watermark, up to the day before yesterday's end plus
   ``settle`` (a transaction that placed an order just before midnight has
   committed by then), one calendar month per transaction, advancing the watermark
   with each one — an interrupted run resumes where it stopped;
4. rebuilds ``book_sales_monthly`` for every month it touched.

Each transaction is REPEATABLE READ and starts by folding the genre changes it can
see, so the rows it writes, the change rows it removes and the genres it joins all
come from one snapshot; changes committed meanwhile stay in the logs for next time.
Running it twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

#: pg_advisory_lock key of the rollup job ("rollup" in ASCII)
LOCK_KEY = 0x726F6C6C7570
COUNTED_SQL = "('paid', 'shipped', 'delivered')"
DEFAULT_SETTLE = dt.timedelta(minutes=15)

_FOLD_GENRE_CHANGES = """
WITH changes AS (
    DELETE FROM report_genre_changes RETURNING book_id, genre_id, delta
),
net AS (
    SELECT book_id, genre_id, sum(delta) AS delta FROM changes GROUP BY book_id, genre_id HAVING sum(delta) <> 0
),
adjust AS (
    SELECT b.day, net.genre_id, sum(net.delta * b.units) AS units, sum(net.delta * b.revenue) AS revenue
    FROM net JOIN book_sales_daily b ON b.book_id = net.book_id
    GROUP BY b.day, net.genre_id
)
INSERT INTO genre_sales_daily AS g (day, genre_id, units, revenue)
SELECT day, genre_id, units, revenue FROM adjust
ON CONFLICT (day, genre_id) DO UPDATE SET units = g.units + EXCLUDED.units, revenue = g.revenue + EXCLUDED.revenue
"""

_ROLL_STATEMENTS = (
    "DELETE FROM sales_daily WHERE day BETWEEN :first AND :last",
    "DELETE FROM book_sales_daily WHERE day BETWEEN :first AND :last",
    "DELETE FROM genre_sales_daily WHERE day BETWEEN :first AND :last",
    f"""
    INSERT INTO sales_daily (day, orders, revenue)
    SELECT CAST(created_at AT TIME ZONE 'UTC' AS date), count(*), sum(total)
    FROM orders
    WHERE status IN {COUNTED_SQL}
      AND created_at >= CAST(:first AS timestamp) AT TIME ZONE 'UTC'
      AND created_at < CAST(:after AS timestamp) AT TIME ZONE 'UTC'
    GROUP BY 1
    """,
    f"""
    INSERT INTO book_sales_daily (day, book_id, units, revenue)
    SELECT CAST(o.created_at AT TIME ZONE 'UTC' AS date), l.book_id, sum(l.quantity), sum(l.quantity * l.unit_price)
    FROM orders o JOIN order_lines l ON l.order_id = o.id
    WHERE o.status IN {COUNTED_SQL}
      AND o.created_at >= CAST(:first AS timestamp) AT TIME ZONE 'UTC'
      AND o.created_at < CAST(:after AS timestamp) AT TIME ZONE 'UTC'
    GROUP BY 1, 2
    """,
    """
    INSERT INTO genre_sales_daily (day, genre_id, units, revenue)
    SELECT b.day, bg.genre_id, sum(b.units), sum(b.revenue)
    FROM book_sales_daily b JOIN book_genres bg ON bg.book_id = b.book_id
    WHERE b.day BETWEEN :first AND :last
    GROUP BY 1, 2
    """,
    "DELETE FROM report_dirty_days WHERE day BETWEEN :first AND :last",
)

_REBUILD_MONTH = (
    "DELETE FROM book_sales_monthly WHERE month = :month",
    """
    INSERT INTO book_sales_monthly (month, book_id, units, revenue)
    SELECT CAST(:month AS date), book_id, sum(units), sum(revenue)
    FROM book_sales_daily WHERE day >= :month AND day < :next
    GROUP BY book_id
    """,
)


@dataclass
class RollupResult:
    rolled_through: dt.date | None = None
    days_closed: int = 0
    days_rerolled: int = 0
    genre_changes: int = 0
    months_rebuilt: int = 0
    seconds: float = 0.0
    transactions: int = 0
    busy: bool = False
    months: set[dt.date] = field(default_factory=set, repr=False)

    def summary(self) -> str:
        if self.busy:
            return "another rollup is running; nothing done"
        through = self.rolled_through.isoformat() if self.rolled_through else "nothing (no orders yet)"
        return (
            f"rolled up through {through}: {self.days_closed} days closed, {self.days_rerolled} days rolled again, "
            f"{self.genre_changes} genre changes folded, {self.months_rebuilt} months rebuilt "
            f"in {self.seconds:.1f} s"
        )


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def last_closable_day(now: dt.datetime, settle: dt.timedelta = DEFAULT_SETTLE) -> dt.date:
    """The last UTC day that may be closed at ``now``: it ended at least ``settle`` ago."""
    return (now.astimezone(dt.UTC) - settle).date() - dt.timedelta(days=1)


def _month_chunks(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    chunks = []
    start = first
    while start <= last:
        end = min(next_month(month_start(start)) - dt.timedelta(days=1), last)
        chunks.append((start, end))
        start = end + dt.timedelta(days=1)
    return chunks


def _runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as contiguous (first, last) runs, never crossing a month boundary."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + dt.timedelta(days=1) == day and month_start(runs[-1][0]) == month_start(day):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


class Rollup:
    """Runs the rollup against ``engine`` (see the module docstring)."""

    def __init__(self, engine: Engine, settle: dt.timedelta = DEFAULT_SETTLE):
        self.engine = engine
        self.settle = settle

    def run(self, *, since: dt.date | None = None, now: dt.datetime | None = None, wait: bool = True) -> RollupResult:
        started = time.monotonic()
        result = RollupResult()
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock_conn:
            lock_conn.execute(text("SET statement_timeout = 0"))
            if wait:
                lock_conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            elif not lock_conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar():
                result.busy = True
                return result
            try:
                self._run_locked(result, since, now or dt.datetime.now(dt.UTC))
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        result.seconds = time.monotonic() - started
        return result

    def _transaction(self, result: RollupResult, work) -> None:
        with self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                conn.execute(text("SET LOCAL statement_timeout = 0"))
                result.genre_changes += conn.execute(text("SELECT count(*) FROM report_genre_changes")).scalar()
                conn.execute(text(_FOLD_GENRE_CHANGES))
                conn.execute(text("DELETE FROM genre_sales_daily WHERE units = 0 AND revenue = 0"))
                work(conn)
            result.transactions += 1

    def _run_locked(self, result: RollupResult, since: dt.date | None, now: dt.datetime) -> None:
        with self.engine.connect() as conn:
            watermark = conn.execute(text("SELECT rolled_through FROM report_rollup_state")).scalar()
            closable = last_closable_day(now, self.settle)
            if watermark is None:  # the first run starts at the first sale, whatever --since says
                first_sale = conn.execute(
                    text(
                        f"SELECT CAST(min(created_at) AT TIME ZONE 'UTC' AS date) FROM orders WHERE status IN {COUNTED_SQL}"
                    )
                ).scalar()
                since = first_sale
            dirty = list(
                conn.execute(
                    text("SELECT DISTINCT day FROM report_dirty_days WHERE day <= :through ORDER BY day"),
                    {"through": watermark or dt.date.min},
                ).scalars()
            )
        # 1 and 2: fold genre changes, roll dirty days (or everything from --since) again
        reroll = dirty
        if since is not None and watermark is not None and since <= watermark:
            reroll = []
            rerolled_chunks = _month_chunks(since, min(watermark, closable))
            for first, last in rerolled_chunks:
                self._transaction(result, lambda conn, f=first, la=last: self._roll(conn, result, f, la))
                result.days_rerolled += (last - first).days + 1
            reroll = [day for day in dirty if day > min(watermark, closable)]
        for first, last in _runs(reroll):
            self._transaction(result, lambda conn, f=first, la=last: self._roll(conn, result, f, la))
            result.days_rerolled += (last - first).days + 1
        if not reroll and not result.transactions:
            self._transaction(result, lambda conn: None)  # the genre changes alone
        # 3: close new days
        start = watermark + dt.timedelta(days=1) if watermark is not None else since
        if start is None:  # no orders at all: every closable day is empty
            start = closable + dt.timedelta(days=1)
            if watermark is None or watermark < closable:
                self._transaction(result, lambda conn: self._advance(conn, closable))
                result.rolled_through = closable
        for first, last in _month_chunks(start, closable):

            def close(conn: Connection, first: dt.date = first, last: dt.date = last) -> None:
                self._roll(conn, result, first, last)
                self._advance(conn, last)

            self._transaction(result, close)
            result.days_closed += (last - first).days + 1
            log.info("rolled up %s to %s", first, last)
        with self.engine.connect() as conn:
            result.rolled_through = conn.execute(text("SELECT rolled_through FROM report_rollup_state")).scalar()
        result.months_rebuilt = len(result.months)

    def _roll(self, conn: Connection, result: RollupResult, first: dt.date, last: dt.date) -> None:
        params = {"first": first, "last": last, "after": last + dt.timedelta(days=1)}
        for statement in _ROLL_STATEMENTS:
            conn.execute(text(statement), params)
        month = month_start(first)
        while month <= last:
            for statement in _REBUILD_MONTH:
                conn.execute(text(statement), {"month": month, "next": next_month(month)})
            result.months.add(month)
            month = next_month(month)

    @staticmethod
    def _advance(conn: Connection, through: dt.date) -> None:
        conn.execute(
            text(
                "UPDATE report_rollup_state SET rolled_through = :through, updated_at = now() "
                "WHERE rolled_through IS NULL OR rolled_through < :through"
            ),
            {"through": through},
        )

    def run_forever(self, interval: float) -> None:
        """Roll up, then again every ``interval`` seconds (Ctrl-C stops it)."""
        while True:
            try:
                result = self.run(wait=False)
                if result.days_closed or result.days_rerolled or result.genre_changes:
                    log.info("%s", result.summary())
            except Exception:  # a database restart must not end the worker
                log.exception("rollup failed; trying again in %s s", interval)
            time.sleep(interval)
