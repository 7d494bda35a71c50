"""Shopper-mix load test through the load balancer of ``make stack``, stepping offered load up to the limit.

Open loop: sessions arrive at a fixed (Poisson) rate per step whatever the response times,
and each one walks the storefront like a browser, with think time between pages, its own
cookies, the form's CSRF token and an ``Origin`` header on every POST:

- browse (≈80 %): home → catalogue by genre → search → two or three book pages → author
- cart (≈15 %): home → catalogue → book → add → cart → another book → add → change a quantity
- checkout (≈5 %): home → book → add → log in → checkout form → place the order → order page

The offered rate doubles per step until p99 exceeds 250 ms or more than 1 % of requests fail,
then the search bisects twice. Per step: offered and achieved sessions/s, requests/s,
p50/p95/p99 per page kind, errors by kind, the CPU seconds each process of the stack spent
(API, storefront, HAProxy, PostgreSQL, Redis) and the Redis commands and PostgreSQL
transactions. Then a short fixed-rate run of each page kind alone gives the CPU milliseconds
per request of that kind (docs/capacity.md turns them into instance counts).

By default it starts its own stack (``scripts/stack.py`` with the state in var/loadtest-stack
and addresses beside ``make stack``'s, so both can run) and stops it at the end; ``--stack-dir
var/stack`` uses a running ``make stack``; ``--url`` loads any shop (no CPU figures; checkout
sessions need ``--database-url`` to create their accounts).

    .venv/bin/python bench/shopper_mix.py                 # the full search (≈6 minutes)
    .venv/bin/python bench/shopper_mix.py --quick         # two short steps, a smoke run
    .venv/bin/python bench/shopper_mix.py --rates 2,4,8   # chosen rates, no search

Writes bench/results/shopper-mix-<time>.json and .svg (throughput and p99 against offered
load); ``--docs`` also copies the chart to docs/capacity-shopper-mix.svg.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shopper_stats import (
    MIX,
    Sample,
    StepSearch,
    arrival_times,
    capacity_model,
    line_chart_svg,
    percentile,
    pick_kind,
    summarize,
    weighted_cpu_ms,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
STACK_DEFAULTS = {
    "dir": str(ROOT / "var" / "loadtest-stack"),
    "listen": "127.0.0.1:18080",
    "api": "127.0.0.51:18001,127.0.0.52:18001",
    "web": "127.0.0.61:18002,127.0.0.62:18002",
    "stats": "127.0.0.1:18404",
}
PASSWORD = "shopper-mix-password-1"
TODAY = dt.date.today()
CARD = {"card_number": "4242424242424242", "expiry": f"{TODAY.month:02d}/{(TODAY.year + 4) % 100:02d}", "cvc": "123"}
ADDRESS = {"name": "Load Shopper", "line1": "1 Load St", "city": "Springfield", "postal_code": "10001", "country": "US"}
GROUPS = {"api": ("api1", "api2"), "web": ("web1", "web2"), "haproxy": ("haproxy",)}

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')
BOOK_LINK = re.compile(r'href="/books/(\d+)"')
AUTHOR_LINK = re.compile(r'href="/authors/(\d+)"')
GENRE_LINK = re.compile(r'href="/books\?genre=([a-z0-9-]+)"')


def say(message: str) -> None:
    print(f"[shopper-mix] {message}", flush=True)


def page_kind(method: str, path: str) -> str:
    """The page kind a request counts under (the rows of the CPU table)."""
    parts = urlsplit(path)
    route, query = parts.path, parts.query
    if method == "POST":
        if route == "/cart/items":
            return "cart_add"
        if route.startswith("/cart/items/"):
            return "cart_update"
        return {"/login": "login", "/checkout": "checkout"}.get(route, "post_other")
    if route == "/":
        return "home"
    if route == "/books":
        return "search" if "q=" in query else "catalogue"
    if re.fullmatch(r"/books/\d+", route):
        return "book"
    if route.startswith("/authors/"):
        return "author"
    if re.fullmatch(r"/orders/\d+", route):
        return "order"
    return {"/cart": "cart", "/login": "login_form", "/checkout": "checkout_form"}.get(route, "other")


# ---------------------------------------------------------------- the stack and its processes


def stack_state(folder: Path) -> dict | None:
    path = folder / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def stack_running(folder: Path) -> bool:
    state = stack_state(folder)
    return bool(state) and all(psutil.pid_exists(p["pid"]) for p in state["processes"].values())


def start_stack(args: argparse.Namespace) -> bool:
    """Start the stack unless it runs; True when this run started it (and should stop it)."""
    folder = Path(args.stack_dir)
    if stack_running(folder):
        say(f"using the running stack in {folder}")
        return False
    command = [
        sys.executable,
        str(ROOT / "scripts" / "stack.py"),
        "--dir",
        str(folder),
        "start",
        "--books",
        str(args.books),
    ]
    if folder.resolve() == Path(STACK_DEFAULTS["dir"]).resolve():
        command += [f"--{name}={STACK_DEFAULTS[name]}" for name in ("listen", "api", "web", "stats")]
    say("starting the stack: " + " ".join(command[1:]))
    subprocess.run(command, check=True)
    return True


def stop_stack(folder: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "stack.py"), "--dir", str(folder), "stop"], check=False)


class CpuMeter:
    """CPU seconds (user + system) of each group of the stack's processes, read from /proc via psutil.

    PostgreSQL counts the postmaster, its live backends and the backends it has reaped.
    """

    def __init__(self, state: dict):
        self.pids = {name: proc["pid"] for name, proc in state["processes"].items()}

    def _seconds(self, pid: int, with_children: bool = False) -> float:
        try:
            proc = psutil.Process(pid)
            times = proc.cpu_times()
            total = times.user + times.system
            if with_children:
                total += times.children_user + times.children_system
                for child in proc.children(recursive=True):
                    try:
                        child_times = child.cpu_times()
                        total += child_times.user + child_times.system
                    except psutil.Error:
                        pass
            return total
        except psutil.Error:
            return 0.0

    def read(self) -> dict[str, float]:
        found = {
            group: sum(self._seconds(self.pids[n]) for n in names if n in self.pids) for group, names in GROUPS.items()
        }
        if "postgres" in self.pids:
            found["postgres"] = self._seconds(self.pids["postgres"], with_children=True)
        if "redis" in self.pids:
            found["redis"] = self._seconds(self.pids["redis"])
        own = os.times()
        found["generator"] = own.user + own.system
        return found


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 4) for name in after}


class DataCounters:
    """Redis commands processed and PostgreSQL transactions committed (for the next-bottleneck figures)."""

    def __init__(self, database_url: str | None, redis_url: str | None):
        self.database_url, self.redis_url = database_url, redis_url
        self.engine = None
        if database_url:
            from bookstore_api.infra.db import make_engine

            self.engine = make_engine(
                {"sqlalchemy.url": database_url, "sqlalchemy.pool_size": 1, "sqlalchemy.max_overflow": 0},
                application_name="shopper-mix counters",
            )

    def read(self) -> dict[str, float]:
        found: dict[str, float] = {}
        if self.redis_url:
            import redis

            try:
                client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
                found["redis_commands"] = client.info("stats")["total_commands_processed"]
                client.close()
            except Exception as exc:  # the counters are a bonus, never a failure
                say(f"no Redis counters: {exc}")
        if self.engine is not None:
            from sqlalchemy import text

            try:
                with self.engine.connect() as conn:
                    row = conn.execute(
                        text(
                            "SELECT sum(xact_commit + xact_rollback), "
                            "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') "
                            "FROM pg_stat_database"
                        )
                    ).one()
                found["pg_transactions"], found["pg_connections"] = float(row[0]), float(row[1])
            except Exception as exc:
                say(f"no PostgreSQL counters: {exc}")
        return found


# ---------------------------------------------------------------- the shop's data


@dataclass
class Catalogue:
    book_ids: list[int]
    genres: list[str]
    words: list[str]
    author_ids: list[int] = field(default_factory=list)


def load_catalogue(base: str) -> Catalogue:
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
        ids: list[int] = []
        words: set[str] = set()
        for page in (1, 2, 3):
            body = client.get("/api/v1/books", params={"page": page, "per_page": 100}).raise_for_status().json()
            for book in body["items"]:
                ids.append(int(book["id"]))
                words.update(w.lower() for w in re.findall(r"[A-Za-z]{4,}", book["title"]))
        total = int(body.get("total") or len(ids))
        home = client.get("/").text
        genres = sorted(set(GENRE_LINK.findall(home)))
        authors: set[int] = set()
        for book_id in ids[:15]:
            authors.update(int(a) for a in AUTHOR_LINK.findall(client.get(f"/books/{book_id}").text))
    if total > len(ids):  # the catalogue's ids are dense from the seed; sample the rest by range
        ids = sorted(set(ids) | set(range(min(ids), min(ids) + total)))
    return Catalogue(ids, genres or ["fiction"], sorted(words) or ["book"], sorted(authors))


def create_accounts(database_url: str, count: int) -> list[str]:
    """``count`` verified customer accounts sharing one password (hashed once, as the API hashes)."""
    from sqlalchemy import text

    from bookstore_api.accounts.services import PasswordService
    from bookstore_api.infra.db import make_engine

    password_hash = PasswordService().hash(PASSWORD)
    emails = [f"shopper{i:04d}@loadtest.bookstore.test" for i in range(count)]
    engine = make_engine({"sqlalchemy.url": database_url}, application_name="shopper-mix accounts")
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (email, name, password_hash, role, email_verified_at) "
                    "VALUES (:email, :name, :hash, 'customer', now()) "
                    "ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, is_active = true"
                ),
                [{"email": e, "name": f"Shopper {i}", "hash": password_hash} for i, e in enumerate(emails)],
            )
    finally:
        engine.dispose()
    return emails


# ---------------------------------------------------------------- shoppers


class SessionFailed(Exception):
    """A request of the session failed; the shopper gives up (the error is already recorded)."""


class Run:
    """What every shopper of a run shares: the address, the connection pool, where samples go."""

    def __init__(self, base: str, catalogue: Catalogue, accounts: list[str], think: float, timeout: float):
        self.base = base.rstrip("/")
        parts = urlsplit(self.base)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.catalogue = catalogue
        self.accounts: asyncio.Queue[str] = asyncio.Queue()
        for email in accounts:
            self.accounts.put_nowait(email)
        self.think_scale = think
        self.timeout = timeout
        self.transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=400, keepalive_expiry=5)
        )
        self.samples: list[Sample] = []
        self.clock_zero = time.monotonic()

    def shopper(self, rng: random.Random) -> Shopper:
        return Shopper(self, rng)


class Shopper:
    def __init__(self, run: Run, rng: random.Random):
        self.run, self.rng = run, rng
        # one cookie jar per shopper over the shared keep-alive pool (never closed per shopper)
        self.client = httpx.AsyncClient(
            transport=run.transport,
            base_url=run.base,
            timeout=run.timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "bookstore-shopper-mix/1", "Accept": "text/html"},
        )
        self.html = ""
        self.think_scale = run.think_scale

    async def think(self) -> None:
        if self.think_scale:
            await asyncio.sleep(self.rng.uniform(1.0, 3.0) * self.think_scale)

    async def request(self, method: str, path: str, data: dict | None = None, expect: int = 200) -> httpx.Response:
        kind = page_kind(method, path)
        started = time.monotonic()
        headers = {"Origin": self.run.origin} if method == "POST" else None
        error = None
        response = None
        try:
            response = await self.client.request(method, path, data=data, headers=headers)
            if response.status_code != expect:
                error = f"{kind} {response.status_code}"
        except httpx.TimeoutException:
            error = f"{kind} timeout"
        except httpx.HTTPError as exc:
            error = f"{kind} {exc.__class__.__name__}"
        latency = time.monotonic() - started
        self.run.samples.append(Sample(started - self.run.clock_zero, kind, latency, error))
        if error or response is None:
            raise SessionFailed(error)
        if method == "GET":
            self.html = response.text
        return response

    async def get(self, path: str) -> str:
        return (await self.request("GET", path)).text

    async def post(self, path: str, data: dict, follow: bool = True) -> str:
        """A form POST with the page's CSRF token; follows the 303 like a browser. Returns the Location."""
        found = TOKEN.search(self.html)
        payload = {"csrf_token": found.group(1) if found else "", **data}
        response = await self.request("POST", path, payload, expect=303)
        location = urlsplit(response.headers.get("location", "/"))
        target = location.path + (f"?{location.query}" if location.query else "")
        if follow:
            await self.get(target)
        return target

    # -- what shoppers do

    def book_from_page(self) -> int:
        ids = [int(i) for i in BOOK_LINK.findall(self.html)]
        return self.rng.choice(ids) if ids else self.rng.choice(self.run.catalogue.book_ids)

    async def browse(self) -> None:
        cat = self.run.catalogue
        await self.get("/")
        await self.think()
        query = {"genre": self.rng.choice(cat.genres)}
        extra = self.rng.choice([{}, {}, {"sort": "newest"}, {"page": "2"}])
        await self.get("/books?" + urlencode({**query, **extra}))
        await self.think()
        await self.get("/books?" + urlencode({"q": self.rng.choice(cat.words)}))
        for _ in range(self.rng.randint(2, 3)):
            await self.think()
            await self.get(f"/books/{self.book_from_page()}")
        authors = AUTHOR_LINK.findall(self.html)
        if authors:
            await self.think()
            await self.get(f"/authors/{self.rng.choice(authors)}")

    async def add_to_cart(self) -> int | None:
        """Open a book and add it; another book if it is sold out. The book id, or None."""
        for _ in range(3):
            book_id = self.book_from_page()
            await self.get(f"/books/{book_id}")
            await self.think()
            target = await self.post("/cart/items", {"book_id": str(book_id), "quantity": "1"})
            if target.startswith("/cart"):
                return book_id
        return None

    async def cart(self) -> None:
        cat = self.run.catalogue
        await self.get("/")
        await self.think()
        await self.get("/books?" + urlencode({"genre": self.rng.choice(cat.genres)}))
        await self.think()
        first = await self.add_to_cart()
        await self.think()
        await self.get("/books?" + urlencode({"q": self.rng.choice(cat.words)}))
        await self.think()
        await self.add_to_cart()
        await self.think()
        if first is not None:
            await self.post(f"/cart/items/{first}", {"quantity": str(self.rng.randint(2, 3))})

    async def checkout(self) -> None:
        email = await self.run.accounts.get()
        try:
            await self.get("/")
            await self.think()
            if await self.add_to_cart() is None:
                return
            await self.think()
            await self.get("/login")
            await self.think()
            await self.post("/login", {"email": email, "password": PASSWORD, "next": ""})
            await self.get("/checkout")
            idempotency = IDEMPOTENCY.search(self.html)
            await self.think()
            form = {**ADDRESS, **CARD, "idempotency_key": idempotency.group(1) if idempotency else uuid.uuid4().hex}
            await self.post("/checkout", form)
        finally:
            self.run.accounts.put_nowait(email)


# ---------------------------------------------------------------- one step of offered load


async def run_step(
    run: Run, rate: float, seconds: float, warmup: float, drain: float, rng: random.Random, meters: dict
) -> dict:
    """Offer ``rate`` sessions/s for ``seconds``; measure what started after ``warmup``."""
    run.samples = []
    run.clock_zero = time.monotonic()
    schedule = arrival_times(rate, seconds, rng)
    sessions: list[dict] = []
    lags: list[float] = []

    async def session(kind: str, at: float, seed: int) -> None:
        lags.append(time.monotonic() - run.clock_zero - at)
        shopper = run.shopper(random.Random(seed))
        record = {"kind": kind, "start": time.monotonic() - run.clock_zero, "end": None, "ok": False}
        sessions.append(record)
        try:
            await getattr(shopper, kind)()
            record["ok"] = True
        except SessionFailed:
            pass
        finally:
            record["end"] = time.monotonic() - run.clock_zero

    async def arrivals() -> list[asyncio.Task]:
        tasks = []
        for at in schedule:
            delay = at - (time.monotonic() - run.clock_zero)
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(session(pick_kind(rng), at, rng.getrandbits(32))))
        return tasks

    async def measure() -> tuple[dict, dict]:
        await asyncio.sleep(warmup)
        cpu0, data0 = meters["cpu"].read() if meters.get("cpu") else {}, meters["data"].read()
        await asyncio.sleep(seconds - warmup)
        cpu1, data1 = meters["cpu"].read() if meters.get("cpu") else {}, meters["data"].read()
        return cpu_delta(cpu0, cpu1) if cpu0 else {}, {
            k: data1[k] - data0[k] for k in data1 if k in data0 and k != "pg_connections"
        } | {"pg_connections": data1.get("pg_connections")}

    meter_task = asyncio.create_task(measure())
    tasks = await arrivals()
    cpu, data = await meter_task
    # what the idle stack spends anyway (the load balancer's health checks every 500 ms, timers)
    measured_seconds = seconds - warmup
    idle = meters.get("idle", {})
    cpu = {k: round(max(v - idle.get(k, 0.0) * measured_seconds, 0.0), 4) for k, v in cpu.items()}
    data = {
        k: (v if k == "pg_connections" else max(v - idle.get(k, 0.0) * measured_seconds, 0.0)) for k, v in data.items()
    }
    pending = [t for t in tasks if not t.done()]
    if pending:
        _done, pending = await asyncio.wait(pending, timeout=drain)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    window = (warmup, seconds)
    summary = summarize(run.samples, window)
    measured = seconds - warmup
    finished = [s for s in sessions if s["end"] is not None and warmup <= s["end"] < seconds]
    by_kind = {kind: sum(1 for s in finished if s["kind"] == kind and s["ok"]) for kind in MIX}
    requests = max(summary["requests"], 1)
    return {
        "offered": rate,
        "seconds": seconds,
        "warmup": warmup,
        "sessions_started": len(schedule),
        "achieved": round(sum(by_kind.values()) / measured, 3),
        "sessions_completed": by_kind,
        "sessions_failed": sum(1 for s in finished if not s["ok"]),
        "sessions_unfinished": len(pending),
        **summary,
        "generator_lag_p99_ms": round((percentile(lags, 99) or 0) * 1000, 1),
        "cpu_seconds": cpu,
        "cpu_ms_per_request": {k: round(v * 1000 / requests, 2) for k, v in cpu.items()},
        "data": data,
        "redis_commands_per_request": round(data.get("redis_commands", 0) / requests, 2),
        "pg_transactions_per_request": round(data.get("pg_transactions", 0) / requests, 2),
        "load_average": os.getloadavg(),
    }


# ---------------------------------------------------------------- CPU per request of each page kind


async def fixed_rate(fire, count: int, rate: float) -> tuple[int, float]:
    """Call ``fire(i)`` ``count`` times at ``rate``/s (open loop); (errors, seconds)."""
    started = time.monotonic()
    tasks = []
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(i)))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return sum(1 for r in results if isinstance(r, BaseException)), time.monotonic() - started


async def page_costs(
    run: Run, cpu: CpuMeter, counts: dict[str, int], rng: random.Random, baseline: dict[str, float]
) -> dict:
    """CPU ms per request of each page kind: only that request at a fixed rate, minus the idle baseline."""
    cat = run.catalogue
    idle_before = cpu.read()
    await asyncio.sleep(4)
    idle = {k: v / 4 for k, v in cpu_delta(idle_before, cpu.read()).items()}  # health checks etc., per second
    idle = {k: min(v, baseline.get(k, v)) for k, v in idle.items()}  # a background burst is not idle

    async def fresh(n: int) -> list[Shopper]:
        shoppers = [run.shopper(random.Random(rng.getrandbits(32))) for _ in range(n)]
        await asyncio.gather(*(s.get("/") for s in shoppers))
        return shoppers

    async def with_item(n: int) -> list[Shopper]:
        shoppers = await fresh(n)

        async def add(s: Shopper) -> None:
            s.think_scale = 0
            await s.add_to_cart()

        await asyncio.gather(*(add(s) for s in shoppers))
        return shoppers

    def pick(items: list, i: int):
        return items[i % len(items)]

    results: dict[str, dict] = {}

    async def measure(kind: str, prepare, fire, count: int, rate: float) -> None:
        run.samples = []
        try:
            state = await prepare(count)
        except SessionFailed as exc:
            results[kind] = {"requests": 0, "error": f"preparing failed: {exc}"}
            say(f"{kind:<14} not measured: preparing failed ({exc})")
            return
        await asyncio.sleep(0.5)
        before = cpu.read()
        errors, seconds = await fixed_rate(lambda i: fire(state, i), count, rate)
        spent = cpu_delta(before, cpu.read())
        per = {k: round(max(v - idle.get(k, 0) * seconds, 0) * 1000 / count, 2) for k, v in spent.items()}
        lat = [s.latency * 1000 for s in run.samples if s.page == kind]
        kinds: dict[str, int] = {}
        for sample in run.samples:
            if sample.error and sample.page == kind:
                kinds[sample.error] = kinds.get(sample.error, 0) + 1
        results[kind] = {
            "requests": count,
            "errors": errors,
            "errors_by_kind": kinds,
            "rate": rate,
            "cpu_ms": per,
            "p50_ms": round(percentile(lat, 50) or 0, 1),
        }
        say(
            f"{kind:<14} {count:>4} req  api {per.get('api', 0):6.1f} ms  web {per.get('web', 0):6.1f} ms  "
            f"pg {per.get('postgres', 0):5.1f} ms  redis {per.get('redis', 0):4.1f} ms  "
            f"haproxy {per.get('haproxy', 0):4.1f} ms  errors {errors} {kinds or ''}"
        )

    anonymous = run.shopper(random.Random(1))
    await anonymous.get("/")

    async def single(_n: int) -> Shopper:
        return anonymous

    gets = {
        "home": lambda i: "/",
        "catalogue": lambda i: "/books?" + urlencode({"genre": pick(cat.genres, i), "page": 1 + i % 3}),
        "search": lambda i: "/books?" + urlencode({"q": rng.choice(cat.words)}),
        "book": lambda i: f"/books/{rng.choice(cat.book_ids)}",
        "author": lambda i: f"/authors/{rng.choice(cat.author_ids or [1])}",
    }
    for kind, path_of in gets.items():
        await measure(kind, single, lambda s, i, p=path_of: s.get(p(i)), counts["get"], counts["get_rate"])

    async def one_with_item(_n: int) -> Shopper:
        return (await with_item(1))[0]

    await measure("cart", one_with_item, lambda s, i: s.get("/cart"), counts["get"], counts["get_rate"])

    n_post = counts["post"]

    async def add_fire(shoppers: list[Shopper], i: int) -> None:
        s = shoppers[i]
        await s.post("/cart/items", {"book_id": str(rng.choice(cat.book_ids)), "quantity": "1"}, follow=False)

    await measure("cart_add", fresh, add_fire, n_post, counts["post_rate"])

    async def update_fire(shoppers: list[Shopper], i: int) -> None:
        s = shoppers[i]
        lines = re.findall(r'action="/cart/items/(\d+)"', s.html)
        await s.post(f"/cart/items/{lines[0] if lines else 1}", {"quantity": "2"}, follow=False)

    async def with_cart_page(n: int) -> list[Shopper]:
        shoppers = await with_item(n)
        await asyncio.gather(*(s.get("/cart") for s in shoppers))
        return shoppers

    await measure("cart_update", with_cart_page, update_fire, n_post, counts["post_rate"])

    emails = []
    while not run.accounts.empty():
        emails.append(run.accounts.get_nowait())
    if emails:
        n_login = min(counts["login"], len(emails))

        async def login_page(n: int) -> list[Shopper]:
            shoppers = await fresh(n)
            await asyncio.gather(*(s.get("/login") for s in shoppers))
            return shoppers

        async def login_fire(shoppers: list[Shopper], i: int) -> None:
            await shoppers[i].post("/login", {"email": emails[i], "password": PASSWORD, "next": ""}, follow=False)

        await measure("login", login_page, login_fire, n_login, counts["login_rate"])

        async def ready_to_pay(n: int) -> list[Shopper]:
            shoppers = await with_item(n)

            hashing = asyncio.Semaphore(2)  # the API hashes two passwords at a time per process

            async def prepare(s: Shopper, email: str) -> None:
                await s.get("/login")
                async with hashing:
                    await s.post("/login", {"email": email, "password": PASSWORD, "next": ""})
                await s.get("/checkout")

            await asyncio.gather(*(prepare(s, emails[i]) for i, s in enumerate(shoppers)))
            return shoppers

        async def checkout_fire(shoppers: list[Shopper], i: int) -> None:
            s = shoppers[i]
            key = IDEMPOTENCY.search(s.html)
            form = {**ADDRESS, **CARD, "idempotency_key": key.group(1) if key else uuid.uuid4().hex}
            await s.post("/checkout", form, follow=False)

        await measure("checkout", ready_to_pay, checkout_fire, n_login, counts["login_rate"])
        for email in emails:
            run.accounts.put_nowait(email)
    return {"idle_cpu_per_second": {k: round(v, 4) for k, v in idle.items()}, "pages": results}


# ---------------------------------------------------------------- the whole run


def print_steps(steps: list[dict]) -> None:
    say(
        f"{'offered/s':>9} {'achieved/s':>10} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'err%':>5} {'lag99':>6}  cpu ms/req api web pg"
    )
    for s in sorted(steps, key=lambda s: s["offered"]):
        c = s["cpu_ms_per_request"]
        say(
            f"{s['offered']:>9.2f} {s['achieved']:>10.2f} {s['rps']:>7.1f} {s['p50_ms'] or 0:>6.0f} "
            f"{s['p95_ms'] or 0:>6.0f} {s['p99_ms'] or 0:>6.0f} {s['error_rate'] * 100:>5.1f} "
            f"{s['generator_lag_p99_ms']:>6.0f}  {c.get('api', 0):.1f} {c.get('web', 0):.1f} {c.get('postgres', 0):.1f}"
            f"  errors {s['errors_by_kind'] or '-'}"
        )


async def idle_rates(meters: dict, seconds: float = 5.0) -> dict[str, float]:
    """CPU seconds and counter increments per second of the stack with no shoppers."""
    cpu0 = meters["cpu"].read() if meters.get("cpu") else {}
    data0 = meters["data"].read()
    await asyncio.sleep(seconds)
    cpu1 = meters["cpu"].read() if meters.get("cpu") else {}
    data1 = meters["data"].read()
    rates = {k: v / seconds for k, v in cpu_delta(cpu0, cpu1).items() if k != "generator"} if cpu0 else {}
    rates.update({k: (data1[k] - data0[k]) / seconds for k in data1 if k in data0 and k != "pg_connections"})
    return {k: round(v, 4) for k, v in rates.items()}


async def settle(meters: dict, tries: int = 10) -> dict[str, float]:
    """The idle rates once the stack is quiet (a new stack seeds, migrates, vacuums and warms up first).

    Measures 3 s at a time until the application and database processes use under 3 % of a core
    together, and keeps the lowest rate seen for each figure.
    """
    lowest: dict[str, float] = {}
    for _ in range(tries):
        rates = await idle_rates(meters, 3.0)
        lowest = {k: min(v, lowest.get(k, v)) for k, v in rates.items()}
        if sum(rates.get(k, 0.0) for k in ("api", "web", "postgres")) < 0.03:
            break
    return lowest


async def warm_up(run: Run) -> None:
    """One session of each kind without think time, unmeasured: imports, templates, pools and caches."""
    for kind in ("browse", "cart", "checkout"):
        if kind == "checkout" and run.accounts.empty():
            continue
        shopper = run.shopper(random.Random(kind))
        shopper.think_scale = 0
        try:
            await getattr(shopper, kind)()
        except SessionFailed as exc:
            say(f"warm-up {kind} session failed: {exc}")


def mix_model(steps: list[dict], costs: dict) -> dict:
    """The mix's CPU per request (page kinds weighted as the steps requested them) and the capacity model."""
    counts: dict[str, int] = {}
    for step in steps:
        for page, figures in step["pages"].items():
            counts[page] = counts.get(page, 0) + figures["requests"]
    # a kind whose preparation failed has no figures: the mix is weighted over the measured kinds
    page_cpu = {page: figures["cpu_ms"] for page, figures in costs["pages"].items() if "cpu_ms" in figures}
    cpu_ms = weighted_cpu_ms(page_cpu, counts)
    requests = sum(step["requests"] for step in steps) or 1
    redis_per_request = sum(step["data"].get("redis_commands", 0) for step in steps) / requests
    sessions = sum(sum(step["sessions_completed"].values()) for step in steps) or 1
    return {
        "page_requests": counts,
        "mix_cpu_ms_per_request": cpu_ms,
        "redis_commands_per_request": round(redis_per_request, 2),
        "requests_per_session": round(sum(s["rps"] * (s["seconds"] - s["warmup"]) for s in steps) / sessions, 2),
        "per_1000_shoppers": {
            f"{think:g}s": capacity_model(cpu_ms, think_seconds=think, redis_commands_per_request=redis_per_request)
            for think in (10.0, 5.0)
        },
    }


async def main_async(args: argparse.Namespace, base: str, state: dict | None) -> dict:
    catalogue = load_catalogue(base)
    database_url = args.database_url or (state or {}).get("database_url")
    redis_url = (state or {}).get("redis_url")
    accounts = create_accounts(database_url, args.accounts) if database_url else []
    mix = dict(MIX)
    if not accounts:
        say("no database to create shopper accounts in: checkout sessions are left out")
        mix.pop("checkout")
    say(f"{len(catalogue.book_ids)} books, {len(catalogue.genres)} genres, {len(accounts)} shopper accounts")
    run = Run(base, catalogue, accounts, args.think, args.timeout)
    meters = {"cpu": CpuMeter(state) if state else None, "data": DataCounters(database_url, redis_url)}
    rng = random.Random(args.seed)
    await warm_up(run)
    meters["idle"] = await settle(meters)
    say(f"idle stack per second: {meters['idle']}")
    steps: list[dict] = []
    search = StepSearch(start=args.start, p99_limit_ms=args.p99_limit, error_limit=args.error_limit)
    fixed = [float(r) for r in args.rates.split(",")] if args.rates else None
    limit = time.monotonic() + args.budget
    while True:
        rate = fixed.pop(0) if fixed is not None else search.next_rate()
        if rate is None or (fixed is None and time.monotonic() > limit):
            break
        say(f"step: {rate:g} sessions/s for {args.step_seconds:g}s (load average {os.getloadavg()[0]:.2f})")
        step = await run_step(run, rate, args.step_seconds, args.warmup, args.drain, rng, meters)
        step["passed"] = search.record(rate, step["p99_ms"], step["error_rate"])
        steps.append(step)
        print_steps([step])
        if fixed is not None and not fixed:
            break
        await asyncio.sleep(2)
    costs = None
    if meters["cpu"] and not args.no_page_costs:
        say("CPU per request of each page kind (one kind at a time, fixed rate)")
        counts = {"get": 60, "get_rate": 15.0, "post": 30, "post_rate": 8.0, "login": 20, "login_rate": 4.0}
        if args.quick:
            counts = {"get": 15, "get_rate": 10.0, "post": 8, "post_rate": 5.0, "login": 4, "login_rate": 2.0}
        costs = await page_costs(run, meters["cpu"], counts, rng, meters["idle"])
    best = max((s for s in steps if s["passed"]), key=lambda s: s["offered"], default=None)
    model = None
    if costs and steps:
        model = mix_model(steps, costs)
        for think, figures in model["per_1000_shoppers"].items():
            say(
                f"1,000 shoppers, a page every {think}: {figures['requests_per_second']:g} req/s, "
                f"{figures['app_cores']:g} app cores, instances {figures['instances']}, "
                f"PostgreSQL {figures['postgres_cores']:g} cores, Redis {figures['redis_commands_per_second']} cmd/s"
            )
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "base": base,
        "cpus": os.cpu_count(),
        "options": {
            k: getattr(args, k)
            for k in ("think", "step_seconds", "warmup", "p99_limit", "error_limit", "seed", "books")
        },
        "mix": mix,
        "steps": steps,
        "sustained": None
        if best is None
        else {
            "offered": best["offered"],
            "sessions_per_second": best["achieved"],
            "requests_per_second": best["rps"],
            "p99_ms": best["p99_ms"],
            "error_rate": best["error_rate"],
            "load_average": best["load_average"],
        },
        "first_failing": min((s["offered"] for s in steps if not s["passed"]), default=None),
        "page_costs": costs,
        "model": model,
    }


def markdown(result: dict) -> str:
    """The tables of docs/capacity.md from one run's JSON."""
    out = [
        "| offered sessions/s | achieved sessions/s | req/s | p50 ms | p95 ms | p99 ms | errors | "
        "app CPU ms/req (API + web) | PostgreSQL ms/req | load average |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sorted(result["steps"], key=lambda s: s["offered"]):
        cpu = s["cpu_ms_per_request"]
        errors = ", ".join(f"{k} ×{v}" for k, v in s["errors_by_kind"].items()) or "0"
        out.append(
            f"| {s['offered']:g} | {s['achieved']:g} | {s['rps']:g} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | "
            f"{errors} | {cpu.get('api', 0) + cpu.get('web', 0):.1f} | {cpu.get('postgres', 0):.1f} | "
            f"{s['load_average'][0]:.1f} |"
        )
    costs = (result.get("page_costs") or {}).get("pages", {})
    if costs:
        out += [
            "",
            "| page kind | requests | API ms | storefront ms | HAProxy ms | PostgreSQL ms | Redis ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for page, c in costs.items():
            ms = c.get("cpu_ms", {})
            out.append(
                f"| {page} | {c['requests']} | {ms.get('api', 0):.1f} | {ms.get('web', 0):.1f} | "
                f"{ms.get('haproxy', 0):.1f} | {ms.get('postgres', 0):.1f} | {ms.get('redis', 0):.1f} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack-dir", default=os.environ.get("BOOKSTORE_LOADTEST_STACK_DIR", STACK_DEFAULTS["dir"]))
    parser.add_argument("--url", help="load this shop instead of a local stack (no CPU figures)")
    parser.add_argument("--database-url", help="with --url: where to create the shopper accounts")
    parser.add_argument("--keep", action="store_true", help="leave a stack this run started running")
    parser.add_argument("--books", type=int, default=5000, help="catalogue size of a new stack (default 5000)")
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--start", type=float, default=1.0, help="first offered rate, sessions/s (default 1)")
    parser.add_argument("--rates", help="comma-separated rates to run instead of the search")
    parser.add_argument("--step-seconds", type=float, default=40.0)
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of each step not measured")
    parser.add_argument("--drain", type=float, default=5.0)
    parser.add_argument("--think", type=float, default=0.5, help="think time scale: waits of 1-3 s times this")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--p99-limit", type=float, default=250.0)
    parser.add_argument("--error-limit", type=float, default=0.01)
    parser.add_argument("--budget", type=float, default=420.0, help="no new step after this many seconds")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--no-page-costs", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke run: two short steps, small per-kind runs")
    parser.add_argument("--docs", action="store_true", help="also copy the chart to docs/capacity-shopper-mix.svg")
    parser.add_argument("--report", metavar="JSON", help="print the Markdown tables of a finished run and exit")
    args = parser.parse_args(argv)
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return 0
    if args.quick:
        args.rates = args.rates or "0.5,1"
        args.step_seconds, args.warmup, args.drain, args.accounts = 12.0, 4.0, 3.0, min(args.accounts, 30)

    folder = Path(args.stack_dir)
    started = False
    state = None
    if args.url:
        base = args.url
    else:
        started = start_stack(args)
        state = stack_state(folder)
        base = f"http://{state['config']['listen']}"
    try:
        result = asyncio.run(main_async(args, base, state))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if started and not args.keep:
            stop_stack(folder)

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = RESULTS / f"shopper-mix-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    svg = line_chart_svg(result["steps"], args.p99_limit)
    chart = out.with_suffix(".svg")
    chart.write_text(svg)
    if args.docs:
        shutil.copyfile(chart, ROOT / "docs" / "capacity-shopper-mix.svg")
    print_steps(result["steps"])
    sustained = result["sustained"]
    if sustained:
        say(
            f"sustained: {sustained['sessions_per_second']:g} sessions/s, {sustained['requests_per_second']:g} req/s "
            f"at p99 {sustained['p99_ms']} ms, errors {sustained['error_rate'] * 100:.2f} % "
            f"(offered {sustained['offered']:g}/s; first failing step {result['first_failing']})"
        )
    else:
        say("no step stayed within the limits")
    say(f"wrote {out} and {chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
