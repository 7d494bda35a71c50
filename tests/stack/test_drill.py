"""The fault drill: shoppers through HAProxy while, one after another, an API process and
a storefront process are killed and restarted, Redis crashes and returns, and PostgreSQL
crashes and returns, each on the same address (``scripts/stack.py start`` restarts what
died). The stack has its own embedded PostgreSQL and Redis: the machine's servers are
never touched.

The shoppers: catalogue page views (home, listings, searches, book and author pages),
API catalogue reads, anonymous add-to-cart through the storefront, and API checkouts,
each with its own Idempotency-Key. Asserted per phase: no failed catalogue read while an
app process dies; at least 99 % of catalogue page views answer 200 while Redis is down;
the actions that need the dependency work again within 2 s of it answering (from the
moment it accepts connections to the first success of that kind). Then every
Idempotency-Key is sent once more and gives back exactly one order, and each book's stock
moved exactly as its ledger says. The per-phase table is printed (``pytest -s``, and the
terminal summary) and is part of every assertion message.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import random
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest

from .conftest import FAILOVER_RESULTS, LocalStack, clean_env, pick_addresses, stack_options, stack_script
from .test_failover import kill_between_responses

RECOVERY_BOUND = 2.0
OUTAGE_SECONDS = 4.0
STEADY_SECONDS = 2.0
PHASE_DEADLINE = 30.0
PAGE_THREADS = 3
PACING = 0.01
PASSWORD = "drill-customer-password"
CUSTOMERS = 3
CHECKOUT_BOOKS = 6
ADDRESS = {"name": "Drill Shopper", "line1": "1 Fault Lane", "city": "Lisbon", "postal_code": "1100", "country": "PT"}
CARD = {"card_number": "4242424242424242", "expiry": "12/34", "cvc": "123"}


# ---------------------------------------------------------------- HTTP


class Http:
    """One keep-alive connection through HAProxy, reopened after any error."""

    def __init__(self, address: str, timeout: float = 10.0):
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.connection.request(method, path, body=body, headers=headers or {})
            response = self.connection.getresponse()
            return response.status, response.read(), response.getheaders()
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def json(self, method: str, path: str, payload: dict | None = None, token: str | None = None, **headers: str):
        head = {"Content-Type": "application/json", **headers}
        if token:
            head["Authorization"] = f"Bearer {token}"
        status, body, _ = self.request(method, path, json.dumps(payload).encode() if payload else None, head)
        return status, (json.loads(body) if body and body[:1] in b"{[" else None)


# ---------------------------------------------------------------- the shoppers


@dataclass
class Checkout:
    key: str
    token: str
    body: dict
    status: int | None = None
    order_id: int | None = None


@dataclass
class Shoppers:
    listen: str
    pages: list[str]
    reads: list[str]
    cart_books: list[int]
    tokens: list[str]
    checkout_books: list[int]
    phase: str = "steady"
    results: list[tuple[str, str, float, bool]] = field(default_factory=list)  # phase, kind, done at, ok
    failures: list[str] = field(default_factory=list)
    checkouts: list[Checkout] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.results.append((self.phase, kind, time.monotonic(), ok))
            if not ok and len(self.failures) < 400:
                self.failures.append(f"[{self.phase}] {kind}: {detail}")

    def loop(self, kind: str, step: Callable[[Http], tuple[bool, str]], pacing: float) -> None:
        client = Http(self.listen)
        try:
            while not self.stop.is_set():
                try:
                    ok, detail = step(client)
                except (OSError, http.client.HTTPException) as exc:
                    ok, detail = False, f"{exc.__class__.__name__}: {exc}"
                self.record(kind, ok, detail)
                self.stop.wait(pacing)
        finally:
            client.close()

    def page_step(self, offset: int) -> Callable[[Http], tuple[bool, str]]:
        paths = itertools.islice(itertools.cycle(self.pages), offset, None)

        def step(client: Http) -> tuple[bool, str]:
            path = next(paths)
            status, body, _ = client.request("GET", path)
            return status == 200, f"{path}: HTTP {status} {body[:80]!r}"

        return step

    def read_step(self) -> Callable[[Http], tuple[bool, str]]:
        paths = itertools.cycle(self.reads)

        def step(client: Http) -> tuple[bool, str]:
            path = next(paths)
            status, _, _ = client.request("GET", path)
            return status == 200, f"{path}: HTTP {status}"

        return step

    def cart_step(self, client: Http) -> tuple[bool, str]:
        """A new visitor opens a book page and adds it to the cart (the storefront makes their session)."""
        book_id = random.choice(self.cart_books)
        status, body, _ = client.request("GET", f"/books/{book_id}")
        if status != 200:
            return False, f"book page before add-to-cart: HTTP {status}"
        token = body.split(b'name="csrf_token" value="', 1)[1].split(b'"', 1)[0].decode()
        form = urlencode({"book_id": book_id, "csrf_token": token}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://{self.listen}"}
        status, body, _ = client.request("POST", "/cart/items", form, headers)
        return status == 303, f"add to cart: HTTP {status} {body[:80]!r}"

    def checkout_step(self, client: Http) -> tuple[bool, str]:
        books = random.sample(self.checkout_books, 2)
        body = {
            "items": [{"book_id": book_id, "quantity": 1} for book_id in books],
            "shipping_address": ADDRESS,
            "payment": CARD,
        }
        attempt = Checkout(str(uuid.uuid4()), random.choice(self.tokens), body)
        with self.lock:
            self.checkouts.append(attempt)
        status, answer = client.json("POST", "/api/v1/orders", body, attempt.token, **{"Idempotency-Key": attempt.key})
        attempt.status = status
        if status in (200, 201) and answer:
            attempt.order_id = int(answer["id"])
        return status in (200, 201), f"checkout: HTTP {status} {str(answer)[:80]}"

    def threads(self) -> list[threading.Thread]:
        workers = [(("page", self.page_step(i * 7), PACING)) for i in range(PAGE_THREADS)]
        workers += [("read", self.read_step(), PACING), ("cart", self.cart_step, 0.03)]
        workers += [("checkout", self.checkout_step, 0.05)]
        return [threading.Thread(target=self.loop, args=worker, daemon=True) for worker in workers]

    def snapshot(self) -> list[tuple[str, str, float, bool]]:
        with self.lock:
            return list(self.results)


# ---------------------------------------------------------------- phases


@dataclass
class Phase:
    name: str
    started: float
    ended: float = 0.0
    back_at: float | None = None  # when the dependency answered again
    recovery_kinds: tuple[str, ...] = ()
    recovery: dict[str, float | None] = field(default_factory=dict)
    note: str = ""


def wait_for(condition: Callable[[], bool], what: str, deadline: float = PHASE_DEADLINE, step: float = 0.02) -> float:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:.0f}s waiting until {what}")
        time.sleep(step)
    return time.monotonic()


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2).ping())
    except redis.RedisError:
        return False


def postgres_answers(url: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=1).close()
        return True
    except psycopg2.OperationalError:
        return False


def watch(answers: Callable[[], bool], stop: threading.Event) -> dict[str, float]:
    """Poll a dependency from a thread: ``{"at": when it first answered}`` once it does."""
    seen: dict[str, float] = {}

    def run() -> None:
        while not stop.is_set() and not answers():
            time.sleep(0.01)
        if not stop.is_set():
            seen["at"] = time.monotonic()

    threading.Thread(target=run, daemon=True).start()
    return seen


def table(phases: list[Phase], results: list[tuple[str, str, float, bool]]) -> list[str]:
    kinds = ("page", "read", "cart", "checkout")
    head = (
        f"{'phase':<18}"
        + "".join(f"{kind + ' ok/sent':>18}" for kind in kinds)
        + "   recovery after the dependency answered"
    )
    lines = [head, "-" * len(head)]
    for phase in phases:
        cells = []
        for kind in kinds:
            mine = [ok for name, k, _, ok in results if name == phase.name and k == kind]
            cells.append(f"{sum(mine)}/{len(mine)}".rjust(18))
        recovery = ", ".join(
            f"{kind} {value:.2f}s" if value is not None else f"{kind} never" for kind, value in phase.recovery.items()
        )
        lines.append(f"{phase.name:<18}" + "".join(cells) + f"   {recovery or '-'}{phase.note}")
    return lines


def rate(results, phase: str, kind: str) -> tuple[int, int]:
    mine = [ok for name, k, _, ok in results if name == phase and k == kind]
    return sum(mine), len(mine)


# ---------------------------------------------------------------- the stack


@pytest.fixture
def drill_stack() -> Iterator[LocalStack]:
    """A stack of its own with embedded PostgreSQL and Redis (servers this test may kill)."""
    root = Path(tempfile.mkdtemp(prefix="bookstore-drill-"))
    addresses = pick_addresses()
    stack = LocalStack(root / "stack", addresses["listen"], clean_env())
    try:
        stack.start(*stack_options(addresses))
        yield stack
    finally:
        report = stack.status()
        stopped = stack.stop()
        shutil.rmtree(root, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        stack.assert_nothing_left_running(report)


def stack_state(stack: LocalStack) -> dict:
    return json.loads((stack.folder / "state.json").read_text())


def kill_data_service(stack: LocalStack, name: str) -> None:
    proc = stack_state(stack)["processes"][name]
    stack_script.Proc(proc["pid"], proc["started"]).send(signal.SIGKILL)  # its whole process group
    assert stack_script.Proc(proc["pid"], proc["started"]).wait_gone(10), f"{name} survived SIGKILL"


def make_customers(stack: LocalStack) -> list[str]:
    from bookstore_api.cli.users import ensure_user
    from bookstore_api.settings import build_settings

    state = stack_state(stack)
    env = {**clean_env(), "BOOKSTORE_DATABASE_URL": state["database_url"], "BOOKSTORE_REDIS_URL": state["redis_url"]}
    settings = build_settings({}, env)
    client = Http(stack.listen)
    tokens = []
    for i in range(CUSTOMERS):
        email = f"drill-{i}-{uuid.uuid4().hex[:6]}@bookstore.test"
        ensure_user(settings, email, PASSWORD, f"Drill Shopper {i}", "customer")
        status, answer = client.json("POST", "/api/v1/auth/tokens", {"email": email, "password": PASSWORD})
        assert status == 201, answer
        tokens.append(answer["token"])
    client.close()
    return tokens


def restock(stack: LocalStack, books: list[int]) -> None:
    """Plenty of copies of the books checkouts buy: an out-of-stock answer would hide a lost order."""
    from bookstore_dev.shop import dev_settings

    dev = dev_settings(clean_env())
    client = Http(stack.listen)
    credentials = {"email": dev["staff_email"], "password": dev["staff_password"]}
    status, answer = client.json("POST", "/api/v1/auth/tokens", credentials)
    assert status == 201, answer
    token = answer["token"]
    for book_id in books:
        movement = {"delta": 5000, "reason": "restock"}
        status, answer = client.json("POST", f"/api/v1/books/{book_id}/stock-movements", movement, token)
        assert status == 201, answer
    client.close()


def database_facts(database_url: str, books: list[int]) -> tuple[dict[int, int], int]:
    """Each book's stock, and the newest ledger row's id."""
    import psycopg2

    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, stock_quantity FROM books WHERE id = ANY(%s)", (books,))
        stock = dict(cursor.fetchall())
        cursor.execute("SELECT coalesce(max(id), 0) FROM stock_movements")
        newest = cursor.fetchone()[0]
    return stock, newest


def order_invariants(database_url: str, keys: list[str], books: list[int], before: dict[int, int], newest: int):
    """``(orders per key, {book: (stock change, ledger sum, sold in the drill's orders)})``."""
    import psycopg2

    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT k.key, count(o.id) FROM idempotency_keys k LEFT JOIN orders o ON o.id = k.order_id "
            "WHERE k.key = ANY(%s) GROUP BY k.key",
            (keys,),
        )
        per_key = dict(cursor.fetchall())
        cursor.execute("SELECT id, stock_quantity FROM books WHERE id = ANY(%s)", (books,))
        after = dict(cursor.fetchall())
        cursor.execute(
            "SELECT book_id, sum(delta) FROM stock_movements WHERE id > %s AND book_id = ANY(%s) GROUP BY book_id",
            (newest, books),
        )
        ledger = dict(cursor.fetchall())
        cursor.execute(
            "SELECT l.book_id, sum(l.quantity) FROM order_lines l JOIN idempotency_keys k ON k.order_id = l.order_id "
            "WHERE k.key = ANY(%s) GROUP BY l.book_id",
            (keys,),
        )
        sold = dict(cursor.fetchall())
    movement = {b: (after[b] - before[b], int(ledger.get(b, 0)), -int(sold.get(b, 0))) for b in books}
    return per_key, movement


# ---------------------------------------------------------------- the drill


def shopper_mix(stack: LocalStack, tokens: list[str]) -> Shoppers:
    client = Http(stack.listen)
    status, listing = client.json("GET", "/api/v1/books?per_page=40&in_stock=true")
    client.close()
    assert status == 200 and listing["items"], "the stack seeds a demo catalog"
    books = listing["items"]
    words = [book["title"].split()[-1] for book in books[:8]]
    pages, reads = [], []
    for i, book in enumerate(books):
        author = (book.get("authors") or [{}])[0].get("id")
        pages += ["/", f"/books/{book['id']}", f"/books?q={words[i % len(words)]}", f"/books?page={i % 4 + 1}"]
        if author:
            pages.append(f"/authors/{author}")
        reads += [f"/api/v1/books/{book['id']}", f"/api/v1/books?q={words[i % len(words)]}&per_page=5"]
    ids = [book["id"] for book in books]
    return Shoppers(stack.listen, pages, reads, ids[:20], tokens, ids[20 : 20 + CHECKOUT_BOOKS])


def recovery_after(results, back_at: float, kinds: tuple[str, ...]) -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    for kind in kinds:
        times = [at for _, k, at, ok in results if k == kind and ok and at >= back_at]
        found[kind] = min(times) - back_at if times else None
    return found


def kill_app_phase(stack: LocalStack, shoppers: Shoppers, phases: list[Phase], server: str) -> None:
    phase = Phase(f"{server} killed", time.monotonic())
    phases.append(phase)
    shoppers.phase = phase.name
    pid = stack.pid(server)
    kill_between_responses(stack, server, pid)
    wait_for(lambda: stack.status()["servers"].get(server, "").startswith("DOWN"), f"HAProxy marks {server} DOWN")
    time.sleep(1.0)  # shoppers on the survivor alone
    stack.start()  # starts the dead process again, returns once HAProxy sees it UP
    phase.note = f"  ({server} restarted, UP again)"
    time.sleep(0.5)
    phase.ended = time.monotonic()


def data_phase(stack, shoppers, phases, name: str, answers: Callable[[], bool], kinds: tuple[str, ...]) -> None:
    phase = Phase(f"{name} down", time.monotonic(), recovery_kinds=kinds)
    phases.append(phase)
    shoppers.phase = phase.name
    kill_data_service(stack, name)
    time.sleep(OUTAGE_SECONDS)
    stop = threading.Event()
    seen = watch(answers, stop)
    shoppers.phase = f"{name} back"
    back = Phase(f"{name} back", time.monotonic())
    phases.append(back)
    try:
        stack.start()  # the dead server comes back on the same address
        wait_for(lambda: "at" in seen, f"{name} answers again")
    finally:
        stop.set()
    phase.back_at = seen["at"]
    phase.ended = time.monotonic()

    def recovered() -> bool:
        found = recovery_after(shoppers.snapshot(), seen["at"], kinds)
        return all(value is not None for value in found.values())

    with contextlib.suppress(AssertionError):  # reported (and failed) below, with the table
        wait_for(recovered, f"every action that needs {name} succeeds again", deadline=10)
    time.sleep(1.0)
    phase.recovery = recovery_after(shoppers.snapshot(), seen["at"], kinds)
    back.ended = time.monotonic()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_fault_drill(drill_stack: LocalStack):
    stack = drill_stack
    assert stack.status()["web_enabled"], "the drill needs the storefront"
    tokens = make_customers(stack)
    shoppers = shopper_mix(stack, tokens)
    restock(stack, shoppers.checkout_books)
    state = stack_state(stack)
    stock_before, newest = database_facts(state["database_url"], shoppers.checkout_books)

    phases = [Phase("steady", time.monotonic())]
    threads = shoppers.threads()
    for thread in threads:
        thread.start()
    try:
        time.sleep(STEADY_SECONDS)
        phases[0].ended = time.monotonic()
        kill_app_phase(stack, shoppers, phases, "api1")
        kill_app_phase(stack, shoppers, phases, "web1")
        data_phase(stack, shoppers, phases, "redis", lambda: redis_answers(state["redis_url"]), ("page", "cart"))
        data_phase(
            stack, shoppers, phases, "postgres", lambda: postgres_answers(state["database_url"]), ("checkout", "cart")
        )
    finally:
        shoppers.stop.set()
        for thread in threads:
            thread.join(15)
    results = shoppers.snapshot()

    # every key once more: exactly one order each, the same one a first success returned
    client = Http(stack.listen)
    retried_badly = []
    for attempt in shoppers.checkouts:
        headers = {"Idempotency-Key": attempt.key}
        status, answer = client.json("POST", "/api/v1/orders", attempt.body, attempt.token, **headers)
        order_id = int(answer["id"]) if status in (200, 201) and answer else None
        if order_id is None or (attempt.order_id is not None and order_id != attempt.order_id):
            retried_badly.append((attempt.key, attempt.status, status, attempt.order_id, order_id))
    client.close()
    keys = [attempt.key for attempt in shoppers.checkouts]
    per_key, movement = order_invariants(state["database_url"], keys, shoppers.checkout_books, stock_before, newest)

    lines = table(phases, results)
    lines.append(
        f"checkouts: {len(keys)} Idempotency-Keys, each retried once: {len(keys) - len(retried_badly)} gave back "
        f"their one order; orders per key in the database: {sorted(set(per_key.values()))}; "
        f"books whose stock moved exactly as the ledger and the orders say: "
        f"{sum(1 for change, ledger, sold in movement.values() if change == ledger == sold)}/{len(movement)}"
    )
    report = "\n".join(lines)
    FAILOVER_RESULTS.append({"lines": ["fault drill (requests ok/sent per phase)", *lines]})
    print("\n" + report)
    failures = "\n".join(shoppers.failures[:15])
    context = f"\n{report}\nfirst failures:\n{failures}"

    for server in ("api1", "web1"):
        for kind in ("page", "read"):
            ok, sent = rate(results, f"{server} killed", kind)
            assert sent > 0 and ok == sent, f"{sent - ok} failed {kind} requests while {server} died{context}"
    ok, sent = rate(results, "redis down", "page")
    assert sent > 0 and ok >= 0.99 * sent, f"only {ok}/{sent} catalogue pages answered while Redis was down{context}"
    for phase in phases:
        for kind, value in phase.recovery.items():
            assert value is not None and value <= RECOVERY_BOUND, f"{phase.name}: {kind} not back in time{context}"
    assert retried_badly == [], f"keys without exactly one order: {retried_badly[:5]}{context}"
    assert len(per_key) == len(keys) and set(per_key.values()) <= {1}, f"orders per key: {per_key}{context}"
    assert all(change == ledger == sold for change, ledger, sold in movement.values()), f"{movement}{context}"
