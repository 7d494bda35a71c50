"""Fixtures of the infrastructure tests: one moto server on a free loopback port
for the whole session (stopped by its PID), and an account preflight that
refuses to provision anywhere but moto's account.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.infra.awsrun import (
    LAUNCHER,
    MOTO_ACCOUNT,
    REGION,
    REPO_ROOT,
    TIMINGS,
    TIMINGS_FILE,
    Moto,
    base_env,
    free_port,
    tool,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "infra: provisions against a local moto server (slow; select with -m infra)")


@pytest.fixture(scope="session")
def moto() -> Moto:
    """One moto server for the whole session, stopped by its PID at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=base_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto server did not start")
                time.sleep(0.2)
        yield Moto(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def aws(moto: Moto) -> Moto:
    """moto, after proving through Ansible that the credentials reach its account.

    The playbooks would provision wherever the credentials point; refuse to run
    them unless the caller is moto's fixed account, so a stray real credential can
    never create anything.
    """
    assert moto.url.startswith("http://127.0.0.1:")
    result = subprocess.run(
        [
            tool("ansible"),
            "localhost",
            "-c",
            "local",
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            "amazon.aws.aws_caller_info",
            "-a",
            f"endpoint_url={moto.url} region={REGION}",
        ],
        cwd=REPO_ROOT,
        env=moto.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    account = re.search(r'"account": "(\d+)"', result.stdout)
    if not account or account.group(1) != MOTO_ACCOUNT:
        pytest.exit(f"refusing to provision: caller account is not moto's {MOTO_ACCOUNT}", returncode=3)
    return moto


def _timings_file(config: pytest.Config) -> Path | None:
    shared = getattr(config, "_bookstore_infra_timings", None)
    return Path(shared) if shared else None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """In the controlling process, a file the workers (pytest-xdist) append their playbook timings to."""
    if hasattr(session.config, "workerinput") or os.environ.get(TIMINGS_FILE):
        return
    handle, path = tempfile.mkstemp(prefix="bookstore-infra-timings-", suffix=".jsonl")
    os.close(handle)
    os.environ[TIMINGS_FILE] = path
    session.config._bookstore_infra_timings = path


def pytest_terminal_summary(terminalreporter) -> None:
    shared = _timings_file(terminalreporter.config)
    timings = list(TIMINGS)
    if shared is not None:
        if shared.exists():
            lines = shared.read_text().splitlines()
            timings = [tuple(json.loads(line)) for line in lines if line.strip()]
            shared.unlink()
        os.environ.pop(TIMINGS_FILE, None)
    if timings:
        terminalreporter.section("playbook runs against moto")
        for environment, what, seconds, recap in sorted(timings, key=lambda t: ("dev staging production").find(t[0])):
            counters = " ".join(f"{k}={recap[k]}" for k in ("ok", "changed", "failed") if k in recap)
            terminalreporter.write_line(f"{environment:<11} {what:<22} {seconds:6.1f}s  {counters}")
