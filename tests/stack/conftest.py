"""Fixtures for the local stack (scripts/stack.py): a stack of its own on
loopback addresses and free ports, so it never meets a developer's `make stack`,
with its database on the harness's PostgreSQL server and its keys under a
unique Redis prefix. Results of the failover test are printed at the end of the
run."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers.services import create_database, delete_prefix, drop_database

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = REPO_ROOT / "scripts" / "stack.py"
STACK_TIMEOUT = 120
#: settings a developer may have exported that must not leak into the test's stack
STACK_ENV_KEYS = ("BOOKSTORE_DATABASE_URL", "BOOKSTORE_REDIS_URL", "BOOKSTORE_REDIS_PREFIX", "BOOKSTORE_SESSION_SECRET")

FAILOVER_RESULTS: list[dict] = []


def load_stack_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bookstore_stack_script", STACK_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


stack_script = load_stack_module()


def free_port_on(host: str) -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class LocalStack:
    folder: Path
    listen: str
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(STACK_SCRIPT), "--dir", str(self.folder), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STACK_TIMEOUT,
            check=False,
        )

    def start(self, *options: str) -> subprocess.CompletedProcess:
        result = self.run("start", *options)
        assert result.returncode == 0, f"stack start failed:\n{result.stdout}\n{result.stderr}\n{self.logs()}"
        return result

    def stop(self) -> subprocess.CompletedProcess:
        return self.run("stop")

    def status(self) -> dict:
        return stack_script.status_report(self.folder)

    def pid(self, name: str) -> int:
        return json.loads((self.folder / "state.json").read_text())["processes"][name]["pid"]

    @property
    def socket(self) -> Path:
        return self.folder / "haproxy.sock"

    def logs(self) -> str:
        parts = []
        for log in sorted((self.folder / "logs").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-20:]
            parts.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def assert_nothing_left_running(self, report: dict) -> None:
        left = [
            name
            for name, proc in report["processes"].items()
            if stack_script.Proc(proc["pid"], proc["started"]).alive()
        ]
        assert left == [], f"still running after stop: {left}"


def stack_options(addresses: dict[str, str]) -> list[str]:
    return [
        "--listen",
        addresses["listen"],
        "--api",
        f"{addresses['api1']},{addresses['api2']}",
        "--web",
        f"{addresses['web1']},{addresses['web2']}",
        "--stats",
        "",
        "--books",
        "200",
    ]


def pick_addresses() -> dict[str, str]:
    """Loopback addresses no developer stack uses (theirs: 127.0.0.1x/2x), on free ports."""
    hosts = {
        "listen": "127.0.0.1",
        "api1": "127.0.0.111",
        "api2": "127.0.0.112",
        "web1": "127.0.0.121",
        "web2": "127.0.0.122",
    }
    return {name: f"{host}:{free_port_on(host)}" for name, host in hosts.items()}


def clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in STACK_ENV_KEYS}


@pytest.fixture(scope="module")
def local_stack(services, tmp_path_factory) -> Iterator[LocalStack]:
    """A stack on the harness's PostgreSQL (a database of its own) and Redis (a prefix of its own)."""
    name = f"bookstore_stack_{uuid.uuid4().hex[:8]}"
    database_url = create_database(services.server_url, name)
    prefix = f"bookstore-stack:{uuid.uuid4().hex[:8]}:"
    addresses = pick_addresses()
    env = clean_env() | {
        "BOOKSTORE_DATABASE_URL": database_url,
        "BOOKSTORE_REDIS_URL": services.redis_url,
        "BOOKSTORE_REDIS_PREFIX": prefix,
    }
    stack = LocalStack(tmp_path_factory.mktemp("stack"), addresses["listen"], env)
    try:
        stack.start(*stack_options(addresses))
        yield stack
    finally:
        report = stack.status()
        result = stack.stop()
        drop_database(services.server_url, name)
        delete_prefix(services.redis_url, prefix)
        assert result.returncode == 0, result.stdout + result.stderr
        stack.assert_nothing_left_running(report)


def pytest_terminal_summary(terminalreporter):
    for result in FAILOVER_RESULTS:
        terminalreporter.section("failover of the local stack")
        for line in result["lines"]:
            terminalreporter.write_line(line)
