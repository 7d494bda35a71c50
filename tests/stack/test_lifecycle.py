"""`make stack` with nothing configured: embedded PostgreSQL and Redis, the demo
catalog, everything reachable through HAProxy; a second `start` changes nothing;
`stop` leaves no process behind."""

from __future__ import annotations

import http.client
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import LocalStack, clean_env, pick_addresses, stack_options


def get(address: str, path: str) -> tuple[int, bytes]:
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def stack_folder() -> Iterator[Path]:
    """A folder outside pytest's own temporary root: PostgreSQL runs as another user
    when we are root and must traverse every parent, and a pytest run starting
    beside this one makes its root private again."""
    folder = Path(tempfile.mkdtemp(prefix="bookstore-stack-test-"))
    yield folder / "stack"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_stack_with_embedded_servers_starts_idempotently_and_stops_cleanly(stack_folder):
    addresses = pick_addresses()
    stack = LocalStack(stack_folder, addresses["listen"], clean_env())
    options = stack_options(addresses)
    try:
        first = stack.start(*options)
        report = stack.status()
        assert {"postgres", "redis", "api1", "api2", "haproxy"} <= set(report["processes"])
        assert set(report["servers"].values()) == {"UP"}
        if report["web_enabled"]:
            assert {"web1", "web2"} <= set(report["servers"])
            assert get(stack.listen, "/")[0] == 200
        else:
            assert "storefront skipped" in first.stdout
        assert get(stack.listen, "/healthz")[0] == 200
        status, body = get(stack.listen, "/api/v1/books?per_page=1")
        assert status == 200
        assert json.loads(body)["total"] == 200  # the demo catalog the stack seeds

        pids = {name: proc["pid"] for name, proc in report["processes"].items()}
        stack.start()  # everything runs: nothing is started again
        assert {name: proc["pid"] for name, proc in stack.status()["processes"].items()} == pids
    finally:
        report = stack.status()
        stopped = stack.stop()
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    stack.assert_nothing_left_running(report)
    assert not (stack.folder / "state.json").exists()
    assert stack.stop().returncode == 0  # stopping a stopped stack is fine
