"""The shopper-mix load test against a real stack: each kind of shopper gets through the
storefront's forms (CSRF token, Origin header) behind HAProxy, the checkout places a real
order, and the CPU meter reads the stack's processes. One short open-loop step runs too."""

from __future__ import annotations

import asyncio
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from .conftest import LocalStack

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import shopper_mix


def orders_of(database_url: str, emails: list[str]) -> int:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM orders JOIN users ON users.id = orders.user_id WHERE users.email = ANY(:e)"),
                {"e": emails},
            ).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_every_kind_of_shopper_gets_through_and_the_checkout_places_an_order(local_stack: LocalStack):
    base = f"http://{local_stack.listen}"
    database_url = local_stack.env["BOOKSTORE_DATABASE_URL"]
    state = shopper_mix.stack_state(local_stack.folder)
    emails = shopper_mix.create_accounts(database_url, 2)
    catalogue = shopper_mix.load_catalogue(base)
    assert catalogue.book_ids and catalogue.genres and catalogue.words

    async def scenario() -> tuple[list, dict, dict]:
        run = shopper_mix.Run(base, catalogue, emails, think=0, timeout=20)
        meter = shopper_mix.CpuMeter(state)
        before = meter.read()
        for kind in ("browse", "cart", "checkout"):
            await getattr(run.shopper(random.Random(kind)), kind)()  # SessionFailed on any bad answer
        after = meter.read()
        samples = list(run.samples)
        step = await shopper_mix.run_step(
            run, rate=2.0, seconds=4.0, warmup=0.0, drain=10.0, rng=random.Random(5), meters={"data": NoCounters()}
        )
        return samples, shopper_mix.cpu_delta(before, after), step

    # a thread of its own: an earlier test (the browser's sync API) may leave an event loop
    # running in this one, and asyncio.run() refuses to start inside it
    with ThreadPoolExecutor(1) as pool:
        samples, cpu, step = pool.submit(asyncio.run, scenario()).result()
    assert [s.error for s in samples if s.error] == []
    pages = {s.page for s in samples}
    assert {"home", "catalogue", "search", "book", "author", "cart_add", "cart", "cart_update"} <= pages
    assert {"login_form", "login", "checkout_form", "checkout", "order"} <= pages
    assert orders_of(database_url, emails) == 1, "the checkout session placed exactly one order"
    # the meter reads the stack's own processes: they worked for those requests
    assert cpu["api"] > 0 and cpu["web"] > 0
    # the open-loop step offered sessions and counted what came back
    assert step["sessions_started"] >= 1
    assert step["requests"] > 0
    assert step["errors"] == 0, step["errors_by_kind"]


class NoCounters:
    """The step's data counters, left out here (the harness's Redis is shared with other tests)."""

    def read(self) -> dict[str, float]:
        return {}
