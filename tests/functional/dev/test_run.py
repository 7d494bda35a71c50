"""``make run`` (``bookstore run``): the whole shop from nothing, answering, and stopped as one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bookstore_dev.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.needs_db]


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def test_run_starts_the_shop_on_embedded_servers_and_stops_everything(tmp_path):
    ports = {name: free_port() for name in ("API", "WEB", "EMBEDDED_POSTGRES", "EMBEDDED_REDIS")}
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOOKSTORE_")}
    env.update({f"BOOKSTORE_{name}_PORT": str(port) for name, port in ports.items()})
    command = [str(Path(sys.executable).parent / "bookstore"), "run", "--var", str(tmp_path / "var"), "--books", "200"]
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        shop = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while "ready in" not in log.read_text(errors="replace"):
            assert shop.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        assert _get(f"http://127.0.0.1:{ports['API']}/api/v1/books?q=hobbit") == 200
        assert _get(f"http://127.0.0.1:{ports['API']}/readyz") == 200
        assert _get(f"http://127.0.0.1:{ports['WEB']}/books") == 200
        # the demo covers drawn at seed time, served by the storefront from var/covers
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['API']}/api/v1/books?sort=bestselling&per_page=1") as r:
            cover_url = json.load(r)["items"][0]["cover_url"]
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['WEB']}{cover_url}", timeout=10) as image:
            assert image.headers["Content-Type"] == "image/webp" and image.read(4) == b"RIFF"
        # QA's suites in the read-only mode, as the pipeline runs them after a production deploy,
        # against this shop (its API and storefront on their own ports)
        qa = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--readonly"]
            + ["tests/functional/api", "tests/functional/web"],
            cwd=Path(__file__).resolve().parents[3],
            env={
                **env,
                "BOOKSTORE_TEST_URL": f"http://127.0.0.1:{ports['API']}",
                "BOOKSTORE_TEST_WEB_URL": f"http://127.0.0.1:{ports['WEB']}",
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        passed = re.search(r"\b(\d+) passed", qa.stdout)
        assert qa.returncode == 0 and passed and int(passed.group(1)) >= 15, qa.stdout[-3000:] + qa.stderr[-3000:]
    finally:
        shop.send_signal(signal.SIGTERM)
        assert shop.wait(60) == 0, log.read_text(errors="replace")
    output = log.read_text(errors="replace")
    assert "seeded a demo catalog of 200 books" in output and "stopped" in output
    assert "drew 24 demo covers" in output
    for name in ("API", "WEB", "EMBEDDED_POSTGRES", "EMBEDDED_REDIS"):
        with pytest.raises(OSError):  # nothing it started is left listening
            urllib.request.urlopen(f"http://127.0.0.1:{ports[name]}/", timeout=2)
