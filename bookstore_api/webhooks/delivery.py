"""The webhook worker: sends queued deliveries, signed, retried with back-off for 24 hours.

``bookstore deliver-webhooks`` (a loop, or ``--once``) runs :class:`Deliverer`.
Each round:

1. **Claim** (one short transaction): due pending deliveries are selected with
   ``FOR UPDATE SKIP LOCKED`` (so any number of workers share the queue without
   sending anything twice) and leased by moving their next attempt past the
   longest a round can take; a worker that dies mid-round only delays them. A
   delivery waits while an earlier one with the same ordering key (``order:<id>``)
   for the same endpoint is still pending, so one order's events reach an endpoint
   in order. Endpoints take turns within a round, and each gets at most
   ``per_endpoint`` deliveries of it, so a slow receiver cannot starve the others.
2. **Send** (no transaction open): each body is signed and POSTed with short
   timeouts and a hard deadline, concurrently. The URL is checked again
   (:mod:`.addresses`) and the connection goes to an address that was checked.
   Redirects are never followed (a 3xx is a failed attempt).
3. **Record** (one transaction): every attempt is written; a 2xx marks the
   delivery delivered and clears the endpoint's ``failing``; anything else is
   retried with exponential back-off and jitter, until the delivery is 24 hours
   old: then it is marked failed and its endpoint failing.

Once an hour the loop deletes deliveries finished more than 30 days ago (with
their attempts) and the events no delivery refers to any more.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from .addresses import AddressPolicy, RefusedURL, Target
from .signing import SecretBox, signature_header

log = logging.getLogger(__name__)

#: how long deliveries are retried before they are given up on
RETRY_WINDOW = dt.timedelta(hours=24)
#: the first retry waits about this long; each later one about twice as long, up to the cap
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
#: response bytes read (and kept, shortened, as the error of a failed attempt)
RESPONSE_LIMIT = 2048
USER_AGENT = "Bookstore-Webhooks/1"
#: finished deliveries (and their attempts) are kept this long in the delivery log
RETENTION_DAYS = 30
PURGE_EVERY_SECONDS = 3600

CLAIM = text(
    """
    WITH heads AS (
        -- due, and not held back by an earlier pending delivery of the same key to the same endpoint
        SELECT d.id, d.next_attempt_at,
               row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS turn
        FROM webhook_deliveries d
        WHERE d.status = 'pending' AND d.next_attempt_at <= now()
          AND (d.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM webhook_deliveries earlier
                WHERE earlier.endpoint_id = d.endpoint_id AND earlier.ordering_key = d.ordering_key
                  AND earlier.status = 'pending' AND earlier.ordering_key IS NOT NULL AND earlier.id < d.id))
    ), due AS (
        -- endpoints take turns, and none gets more than :per_endpoint of a round (a slow one cannot hold up the rest)
        SELECT d.id FROM webhook_deliveries d JOIN heads ON heads.id = d.id
        WHERE heads.turn <= :per_endpoint AND d.status = 'pending' AND d.next_attempt_at <= now()
        ORDER BY heads.turn, heads.next_attempt_at, d.id
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => :lease)
    FROM due, webhook_events e, webhook_endpoints w
    WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.endpoint_id
    RETURNING d.id, d.public_id, d.attempts, d.created_at, e.id AS event_id, e.type, e.data, e.created_at AS event_at,
              w.id AS endpoint_id, w.url, w.secret_ciphertext
    """
)


def backoff_seconds(attempts: int, rng: random.Random | None = None) -> float:
    """The wait after ``attempts`` failed attempts: doubling from 30 s up to an hour, with jitter.

    "Equal jitter": a random wait between half and all of the exponential step, so
    retries of many deliveries spread out while each wait still grows.
    """
    step = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return (rng or random).uniform(step / 2, step)


def event_body(event_id: object, event_type: str, created_at: dt.datetime, data: dict) -> bytes:
    """The JSON body of an event: the same bytes on every attempt."""
    return orjson.dumps({"id": str(event_id), "type": event_type, "created_at": created_at.isoformat(), "data": data})


@dataclass
class Outcome:
    """What one attempt came to."""

    status_code: int | None
    duration_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to an address chosen beforehand (the Host header still names the host)."""

    def __init__(self, target: Target, address: str, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address chosen beforehand, verifying the certificate for the host name (SNI too)."""

    def __init__(self, target: Target, address: str, timeout: float, context: ssl.SSLContext):
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class Sender:
    """Sends one signed POST to a checked target; never follows redirects."""

    def __init__(self, policy: AddressPolicy, timeout: float = 5.0, deadline: float = 15.0):
        self.policy = policy
        self.timeout = timeout
        self.deadline = deadline
        self.tls = ssl.create_default_context()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target = self.policy.check(url)
        except RefusedURL as exc:
            return Outcome(None, took(), f"refused: {exc}")
        error = "no address"
        for address in target.addresses:
            connection = (
                _PinnedHTTPSConnection(target, str(address), self.timeout, self.tls)
                if target.https
                else _PinnedHTTPConnection(target, str(address), self.timeout)
            )
            # a hard deadline for the whole exchange: a receiver that trickles bytes is cut off
            expired = threading.Event()
            watchdog = threading.Timer(self.deadline, _abort, (connection, expired))
            watchdog.daemon = True
            watchdog.start()
            try:
                connection.request("POST", target.path, body=body, headers=headers)
                response = connection.getresponse()
                snippet = response.read(RESPONSE_LIMIT)
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                if expired.is_set():
                    return Outcome(None, took(), f"no answer within {self.deadline:g} s")
                error = f"{type(exc).__name__}: {exc}"[:500]
                if connection.sock is None:
                    continue  # never connected, so nothing was sent: try the host's next (checked) address
                return Outcome(None, took(), error)
            finally:
                watchdog.cancel()
                connection.close()
            if expired.is_set():  # cut off mid-answer: whatever was parsed is not an answer
                return Outcome(None, took(), f"no answer within {self.deadline:g} s")
            if 200 <= status < 300:
                return Outcome(status, took(), None)
            reason = "redirect not followed" if 300 <= status < 400 else "not a 2xx answer"
            text_snippet = snippet.decode("utf-8", "replace").strip()[:300]
            return Outcome(status, took(), f"HTTP {status} ({reason})" + (f": {text_snippet}" if text_snippet else ""))
        return Outcome(None, took(), error)


def _abort(connection: http.client.HTTPConnection, expired: threading.Event) -> None:
    expired.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@dataclass
class Claimed:
    id: int
    public_id: str
    attempts: int
    created_at: dt.datetime
    event_type: str
    endpoint_id: int
    url: str
    body: bytes
    secret: str | None
    secret_error: str | None = None


class Deliverer:
    """Claims due deliveries, sends them and records the outcome (see the module's docstring)."""

    def __init__(
        self,
        engine: Engine | Connection,
        box: SecretBox,
        sender: Sender,
        *,
        batch: int = 100,
        concurrency: int = 8,
        per_endpoint: int | None = None,
        lease_seconds: float | None = None,
        clock: Callable[[], int] = lambda: int(time.time()),
        rng: random.Random | None = None,
    ):
        self.engine = engine
        self.box = box
        self.sender = sender
        self.batch = batch
        self.concurrency = max(1, concurrency)
        #: deliveries to one endpoint per round: by default four waves of the worker's threads
        self.per_endpoint = per_endpoint or 4 * self.concurrency
        # a claimed delivery is leased for longer than a round can take, so no other worker
        # sends it meanwhile; if this worker dies, it is sent again when the lease runs out
        round_seconds = sender.deadline * -(-batch // self.concurrency)
        self.lease_seconds = lease_seconds or max(300.0, 2 * round_seconds)
        self.clock = clock
        self.rng = rng or random.Random()
        self._pool = (
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook") if self.concurrency > 1 else None
        )

    def _session(self) -> Session:
        # a connection already in a transaction (tests) gets savepoints; an engine, transactions
        return Session(self.engine, join_transaction_mode="create_savepoint")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    # -- one round ---------------------------------------------------------------

    def deliver_due(self) -> tuple[int, int]:
        """Send what is due now (up to ``batch``); (delivered, failed attempts)."""
        claimed = self._claim()
        if not claimed:
            return 0, 0
        if self._pool is not None and len(claimed) > 1:
            outcomes = list(self._pool.map(self._send, claimed))
        else:
            outcomes = [self._send(item) for item in claimed]
        self._record(claimed, outcomes)
        delivered = sum(1 for outcome in outcomes if outcome.succeeded)
        return delivered, len(outcomes) - delivered

    def _claim(self) -> list[Claimed]:
        with self._session() as session, session.begin():
            rows = (
                session.execute(
                    CLAIM, {"limit": self.batch, "lease": self.lease_seconds, "per_endpoint": self.per_endpoint}
                )
                .mappings()
                .all()
            )
        claimed = []
        for row in sorted(rows, key=lambda r: r["id"]):
            secret = error = None
            try:
                secret = self.box.decrypt(row["secret_ciphertext"])
            except ValueError as exc:
                error = f"cannot sign: {exc}"
            claimed.append(
                Claimed(
                    id=row["id"],
                    public_id=str(row["public_id"]),
                    attempts=row["attempts"],
                    created_at=row["created_at"],
                    event_type=row["type"],
                    endpoint_id=row["endpoint_id"],
                    url=row["url"],
                    body=event_body(row["event_id"], row["type"], row["event_at"], row["data"]),
                    secret=secret,
                    secret_error=error,
                )
            )
        return claimed

    def headers(self, item: Claimed) -> dict[str, str]:
        assert item.secret is not None
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Bookstore-Event": item.event_type,
            "Bookstore-Delivery": item.public_id,
            "Bookstore-Signature": signature_header(item.secret, self.clock(), item.body),
        }

    def _send(self, item: Claimed) -> Outcome:
        if item.secret is None:
            return Outcome(None, 0, item.secret_error)
        try:
            return self.sender.post(item.url, item.body, self.headers(item))
        except Exception as exc:  # one odd endpoint must not stop the round
            log.exception("webhook delivery %s crashed", item.public_id)
            return Outcome(None, 0, f"{type(exc).__name__}: {exc}"[:500])

    def _record(self, claimed: list[Claimed], outcomes: list[Outcome]) -> None:
        with self._session() as session, session.begin():
            now = session.execute(text("SELECT now()")).scalar_one()
            # lock the rows that still exist (an endpoint may have been deleted meanwhile)
            present = set(
                session.execute(
                    text("SELECT id FROM webhook_deliveries WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                    {"ids": [item.id for item in claimed]},
                ).scalars()
            )
            attempts, delivered, retries, given_up, recovered, failing = [], [], [], [], set(), set()
            for item, outcome in zip(claimed, outcomes, strict=True):
                if item.id not in present:
                    continue
                attempts.append(
                    {
                        "delivery_id": item.id,
                        "attempted_at": now,
                        "status_code": outcome.status_code,
                        "duration_ms": outcome.duration_ms,
                        "error": outcome.error,
                        "succeeded": outcome.succeeded,
                    }
                )
                common = {
                    "id": item.id,
                    "status_code": outcome.status_code,
                    "duration_ms": outcome.duration_ms,
                    "error": outcome.error,
                }
                if outcome.succeeded:
                    delivered.append(common)
                    recovered.add(item.endpoint_id)
                elif now - item.created_at >= RETRY_WINDOW:
                    given_up.append(common)
                    failing.add(item.endpoint_id)
                    log.warning("webhook delivery %s given up after 24 hours", item.public_id)
                else:
                    wait = backoff_seconds(item.attempts + 1, self.rng)
                    retries.append({**common, "next": now + dt.timedelta(seconds=wait)})
            if attempts:
                session.execute(
                    text(
                        "INSERT INTO webhook_attempts "
                        "(delivery_id, attempted_at, status_code, duration_ms, error, succeeded) "
                        "VALUES (:delivery_id, :attempted_at, :status_code, :duration_ms, :error, :succeeded)"
                    ),
                    attempts,
                )
            last = (
                "attempts = attempts + 1, last_status_code = :status_code, "
                "last_duration_ms = :duration_ms, last_error = :error"
            )
            if delivered:
                session.execute(
                    text(
                        f"UPDATE webhook_deliveries SET {last}, status = 'delivered', delivered_at = now() WHERE id = :id"
                    ),
                    delivered,
                )
            if retries:
                session.execute(
                    text(f"UPDATE webhook_deliveries SET {last}, next_attempt_at = :next WHERE id = :id"), retries
                )
            if given_up:
                session.execute(
                    text(f"UPDATE webhook_deliveries SET {last}, status = 'failed', failed_at = now() WHERE id = :id"),
                    given_up,
                )
            # a success clears the failing state; a delivery given up on sets it (unless one succeeded this round)
            if recovered:
                session.execute(
                    text(
                        "UPDATE webhook_endpoints SET failing_since = NULL "
                        "WHERE id = ANY(:ids) AND failing_since IS NOT NULL"
                    ),
                    {"ids": sorted(recovered)},
                )
            if failing - recovered:
                session.execute(
                    text(
                        "UPDATE webhook_endpoints SET failing_since = now() "
                        "WHERE id = ANY(:ids) AND failing_since IS NULL"
                    ),
                    {"ids": sorted(failing - recovered)},
                )

    # -- housekeeping ------------------------------------------------------------

    def purge(self, keep_days: int = RETENTION_DAYS) -> int:
        """Delete deliveries finished (delivered or given up) more than ``keep_days`` ago, their attempts,
        and events nothing refers to any more; the number of deliveries deleted."""
        with self._session() as session, session.begin():
            deleted = session.execute(
                text(
                    "DELETE FROM webhook_deliveries WHERE status <> 'pending' "
                    "AND coalesce(delivered_at, failed_at) < now() - make_interval(days => :days)"
                ),
                {"days": keep_days},
            ).rowcount
            session.execute(
                text(
                    "DELETE FROM webhook_events e WHERE e.created_at < now() - make_interval(days => :days) "
                    "AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)"
                ),
                {"days": keep_days},
            )
        return deleted

    # -- the loop ----------------------------------------------------------------

    def run_forever(self, interval: float = 2.0, should_stop: Callable[[], bool] = lambda: False) -> None:
        purged_at = 0.0
        while not should_stop():
            if time.monotonic() - purged_at > PURGE_EVERY_SECONDS:
                try:
                    self.purge()
                except Exception:  # housekeeping may wait for the next hour
                    log.exception("webhook log purge failed")
                purged_at = time.monotonic()
            try:
                delivered, failed = self.deliver_due()
            except Exception:  # the database may be away a moment: keep going
                log.exception("webhook round failed; retrying")
                delivered = failed = 0
                time.sleep(interval)
            if not delivered and not failed:
                time.sleep(interval)
