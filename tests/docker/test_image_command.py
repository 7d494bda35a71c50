"""The exact command each image runs, run from a venv built as the image builds its own.

The command, its environment, the health check and the stop signal are read
from the Dockerfile; only the listening address changes (a free loopback port
instead of 0.0.0.0:8000). The server must answer /healthz, pass the image's
own HEALTHCHECK, and exit cleanly on the signal `docker stop` sends.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bookstore_dev.servers import free_port

from .dockerfile import APPS, dockerfile_of, healthcheck_command

START_DEADLINE = 60.0
STOP_DEADLINE = 15.0


def http_get(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@dataclass
class Server:
    app: str
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while http_get(self.url + "/healthz") != 200:
            if self.proc.poll() is not None:
                pytest.fail(f"`{' '.join(self.proc.args)}` exited with {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no 200 from {self.url}/healthz within {START_DEADLINE:.0f}s:\n{self.output()}")
            time.sleep(0.1)

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            pytest.fail(f"the server ignored {signal.Signals(signum).name} for {STOP_DEADLINE:.0f}s")


def image_command(app: str, port: int, venv_bin: Path) -> list[str]:
    """The image's CMD, listening on 127.0.0.1:<port>, with the image venv's console script."""
    argv = dockerfile_of(app).final.last("CMD").exec_form()
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    argv[0] = str(venv_bin / argv[0])
    return argv


def image_environment(app: str, services, venv_bin: Path) -> dict[str, str]:
    """The image's ENV (PATH pointing at our venv) plus what a deployment provides."""
    env = dict(os.environ)
    for key, value in dockerfile_of(app).final.env().items():
        env[key] = value.replace("/opt/venv/bin", str(venv_bin)).replace("$PATH", os.environ.get("PATH", ""))
    env.update(
        BOOKSTORE_DATABASE_URL=services.database_url,
        BOOKSTORE_REDIS_URL=services.redis_url,
        BOOKSTORE_REDIS_PREFIX=services.redis_prefix,
        BOOKSTORE_SESSION_SECRET=secrets.token_urlsafe(48),
        BOOKSTORE_API_URL="http://127.0.0.1:9",  # the storefront's /healthz does not call the API
    )
    return env


@pytest.fixture
def start_server(migrated, tmp_path, image_venv) -> Iterator:
    started: list[Server] = []

    def start(app: str) -> Server:
        port = free_port()
        venv_bin = image_venv(app) / "bin"
        log = tmp_path / f"{app}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                image_command(app, port, venv_bin),
                env=image_environment(app, migrated, venv_bin),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = Server(app, proc, port, log)
        started.append(server)
        server.wait_healthy()
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(5)


def run_healthcheck(app: str, port: int) -> int:
    """The image's HEALTHCHECK command, against our port."""
    argv = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in healthcheck_command(dockerfile_of(app).final)]
    assert argv[0] == "python"
    argv[0] = sys.executable
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode


@pytest.mark.slow
@pytest.mark.parametrize("app", APPS)
def test_image_command_serves_passes_its_healthcheck_and_stops_on_the_stop_signal(app, start_server):
    server = start_server(app)
    assert run_healthcheck(app, server.port) == 0
    if app == "api":  # configured from the environment alone: the database and Redis answer
        assert http_get(server.url + "/readyz") == 200
    stop_signal = getattr(signal, dockerfile_of(app).final.last("STOPSIGNAL").args)
    assert server.stop(stop_signal) == 0, server.output()
    assert "Traceback" not in server.output()
    assert run_healthcheck(app, server.port) != 0


@pytest.mark.slow
@pytest.mark.parametrize("app", APPS)
def test_image_command_ends_promptly_on_sigterm(app, start_server):
    """What an orchestrator sends when it ignores STOPSIGNAL (and what `make stack` sends)."""
    server = start_server(app)
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Traceback" not in server.output()
