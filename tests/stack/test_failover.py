"""Failover of the local stack: a steady shopper load through HAProxy while one
API and one storefront process are killed with SIGKILL and then restarted.

The client must see no failed request, HAProxy must mark the killed servers
DOWN and, after the restart, UP again, and the restarted servers must take
traffic again. Bounded: a fixed number of client threads, a cap on requests,
and a deadline on every phase. The numbers (requests, how long HAProxy took
to notice) are printed at the end of the run.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import pytest

from .conftest import FAILOVER_RESULTS, LocalStack, stack_script

CLIENT_THREADS = 4
PACING_SECONDS = 0.01  # per thread, between requests: a steady load, not a flood
MAX_REQUESTS = 20_000
POLL_SECONDS = 0.05
PHASE_DEADLINE = 20.0
TRAFFIC_AFTER_RESTART = 20  # requests each restarted server must serve


@dataclass
class Load:
    """Shopper requests from a few threads, each on its own keep-alive connection."""

    address: str
    paths: list[str]
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def worker(self, offset: int) -> None:
        host, port = self.address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        paths = itertools.islice(itertools.cycle(self.paths), offset, None)
        try:
            while not self.stop.is_set():
                with self.lock:
                    if self.sent >= MAX_REQUESTS:
                        return
                    self.sent += 1
                path = next(paths)
                try:
                    connection.request("GET", path)
                    response = connection.getresponse()
                    body = response.read()
                    if response.status != 200:
                        self.fail(f"{path}: HTTP {response.status} {body[:200]!r}")
                except (OSError, http.client.HTTPException) as exc:
                    self.fail(f"{path}: {exc.__class__.__name__}: {exc}")
                    connection.close()
                    connection = http.client.HTTPConnection(host, int(port), timeout=10)
                self.stop.wait(PACING_SECONDS)
        finally:
            connection.close()

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)

    def count(self) -> int:
        with self.lock:
            return self.sent


class Monitor:
    """Polls HAProxy's stats socket: when each server changes state, and how many requests it served."""

    def __init__(self, socket_path) -> None:
        self.socket_path = socket_path
        self.transitions: list[tuple[float, str, str]] = []  # (monotonic time, server, new status)
        self.latest: dict[str, dict[str, str]] = {}
        self.direct: dict[str, str] = {}  # server -> address, polled directly once set
        self.answering: dict[str, float] = {}  # server -> when it first answered /healthz itself
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        previous: dict[str, str] = {}
        while not self.stop.is_set():
            rows = stack_script.haproxy_stats(self.socket_path)
            now = time.monotonic()
            with self.lock:
                for row in rows:
                    if row["pxname"] in ("api", "web") and row["svname"] not in ("FRONTEND", "BACKEND"):
                        name, status = row["svname"], row["status"].split()[0]
                        self.latest[name] = row
                        if previous.get(name) != status:
                            self.transitions.append((now, name, status))
                            previous[name] = status
            for name, address in list(self.direct.items()):
                if name not in self.answering and stack_script.http_status(address, "/healthz", timeout=0.5) == 200:
                    self.answering[name] = time.monotonic()
            if rows:
                self.ready.set()
            self.stop.wait(POLL_SECONDS)

    def status(self, server: str) -> str:
        with self.lock:
            return self.latest.get(server, {}).get("status", "").split(" ")[0]

    def served(self, server: str) -> int:
        with self.lock:
            return int(self.latest.get(server, {}).get("stot") or 0)

    def first(self, server: str, status: str, after: float) -> float | None:
        with self.lock:
            for when, name, new in self.transitions:
                if name == server and new == status and when >= after:
                    return when
        return None


def wait_for(condition, what: str, deadline: float = PHASE_DEADLINE) -> None:
    """Poll ``condition`` until it holds; fail the test after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline:.0f}s waiting until {what}")
        time.sleep(POLL_SECONDS)


def kill_between_responses(stack: LocalStack, server: str, pid: int) -> float:
    """SIGKILL ``server`` at a moment HAProxy has no response of it in flight.

    A response the server has begun to send is lost with the process behind any
    load balancer (the ALB too): it cannot be sent again once the client has its
    first bytes. Everything else (requests queued, or sent and not yet answered,
    and every later request) must be rescued by HAProxy's retries. So the kill
    lands when the server has no open stream in HAProxy's stats: requests
    dispatched after that snapshot are then in flight without a response byte
    sent, which is the case under test.
    """
    end = time.monotonic() + PHASE_DEADLINE
    while time.monotonic() < end:
        for row in stack_script.haproxy_stats(stack.socket):
            if row["svname"] == server and row["scur"] == "0":
                os.kill(pid, signal.SIGKILL)
                return time.monotonic()
        time.sleep(0.002)
    pytest.fail(f"{server} never was between two responses for {PHASE_DEADLINE:.0f}s")


def get_json(address: str, path: str) -> dict:
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200, path
        return json.loads(response.read())
    finally:
        connection.close()


def shopper_paths(stack: LocalStack, web_enabled: bool) -> list[str]:
    books = get_json(stack.listen, "/api/v1/books?per_page=20")["items"]
    assert books, "the stack seeds a demo catalog"
    words = [book["title"].split()[-1] for book in books[:5]]
    paths = []
    for i, book in enumerate(books):
        paths += [
            f"/api/v1/books?page={i % 5 + 1}&per_page=10",
            f"/api/v1/books/{book['id']}",
            f"/api/v1/books?q={words[i % len(words)]}&per_page=5",
        ]
        if web_enabled:
            paths += ["/", f"/books/{book['id']}", f"/books?q={words[i % len(words)]}"]
    return paths


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_killing_an_api_and_a_web_process_under_load_fails_no_request(local_stack: LocalStack):
    status = local_stack.status()
    web_enabled = status["web_enabled"]
    victims = ["api1", "web1"] if web_enabled else ["api1"]
    survivors = ["api2", "web2"] if web_enabled else ["api2"]

    load = Load(local_stack.listen, shopper_paths(local_stack, web_enabled))
    monitor = Monitor(local_stack.socket)
    threads = [threading.Thread(target=monitor.run, daemon=True)]
    threads += [threading.Thread(target=load.worker, args=(i * 7,), daemon=True) for i in range(CLIENT_THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        wait_for(monitor.ready.is_set, "HAProxy's stats answer")
        wait_for(
            lambda: load.count() >= 100 and all(monitor.served(s) > 0 for s in victims + survivors),
            "every server has served shopper requests",
        )

        old_pids = {name: local_stack.pid(name) for name in victims}
        killed_at = {victim: kill_between_responses(local_stack, victim, old_pids[victim]) for victim in victims}
        sent_at_kill = load.count()
        wait_for(lambda: all(monitor.status(v) == "DOWN" for v in victims), "HAProxy marks the killed servers DOWN")
        wait_for(lambda: load.count() >= sent_at_kill + 200, "200 more requests are served while they are down")
        served_while_down = {v: monitor.served(v) for v in victims}

        restart_at = time.monotonic()
        addresses = {"api1": status["config"]["api"][0], "web1": status["config"]["web"][0]}
        monitor.direct = {victim: addresses[victim] for victim in victims}
        local_stack.start()  # starts what is not running, returns once HAProxy sees every server UP
        restarted_at = time.monotonic()
        wait_for(lambda: all(monitor.status(v) == "UP" for v in victims), "HAProxy marks the restarted servers UP")
        wait_for(
            lambda: all(monitor.served(v) >= served_while_down[v] + TRAFFIC_AFTER_RESTART for v in victims),
            f"each restarted server serves {TRAFFIC_AFTER_RESTART} requests",
        )
    finally:
        load.stop.set()
        monitor.stop.set()
        for thread in threads:
            thread.join(15)
    elapsed = time.monotonic() - started

    new_pids = {name: local_stack.pid(name) for name in victims}
    assert all(new_pids[name] != old_pids[name] for name in victims)
    lines = [
        f"servers: {', '.join(sorted(monitor.latest))}; killed with SIGKILL: {', '.join(victims)}",
        f"requests sent: {load.sent}, failed: {len(load.failures)} "
        f"({CLIENT_THREADS} client threads, {elapsed:.1f}s of load; restart command {restarted_at - restart_at:.2f}s)",
    ]
    for victim in victims:
        down = monitor.first(victim, "DOWN", killed_at[victim])
        up = monitor.first(victim, "UP", restart_at)
        answering = monitor.answering[victim]
        lines.append(
            f"{victim}: marked DOWN {down - killed_at[victim]:.2f}s after the kill; restarted process answered /healthz "
            f"{answering - restart_at:.2f}s after the restart began, marked UP {up - answering:.2f}s after that; "
            f"served {monitor.served(victim) - served_while_down[victim]} requests after coming back"
        )
    lines.append(
        "requests per server (HAProxy stot): " + ", ".join(f"{s}={monitor.served(s)}" for s in sorted(monitor.latest))
    )
    FAILOVER_RESULTS.append({"lines": lines})
    print("\n".join(lines))

    assert load.failures == [], f"{len(load.failures)} of {load.sent} requests failed: {load.failures[:10]}"
    assert load.sent >= sent_at_kill + 200
