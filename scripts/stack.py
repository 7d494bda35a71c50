#!/usr/bin/env python3
"""``make stack``: the AWS topology on this machine, without Docker.

HAProxy plays the application load balancer on http://127.0.0.1:8080, with the
same configuration the compose stack uses (``docker/haproxy.cfg``): active
``GET /healthz`` checks, ``/api/*`` to two API processes and everything else to
two storefront processes, each process on its own loopback address. PostgreSQL
and Redis come from ``BOOKSTORE_DATABASE_URL`` / ``BOOKSTORE_REDIS_URL`` or are
embedded (real servers from PyPI packages, data under the state folder). The
database is migrated, and seeded with a small demo catalog when it has no books.

    python scripts/stack.py start     # returns once everything answers; idempotent:
                                      # starts whatever is not running (e.g. a killed server)
    python scripts/stack.py status    # processes and what HAProxy thinks of each server
    python scripts/stack.py stop      # stops every process it started, by PID

Every process runs detached, in its own session; its PID (and start time, so a
reused PID is never mistaken for ours) is kept in ``<state>/state.json``, logs in
``<state>/logs/``. Addresses are options (or ``BOOKSTORE_STACK_*`` variables), so
a second stack — e.g. the failover test's — can run beside a developer's.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Noise from dependencies at import time, not about the stack.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

ROOT = Path(__file__).resolve().parent.parent
HAPROXY_CONFIG = ROOT / "docker" / "haproxy.cfg"

DEFAULTS = {
    "listen": "127.0.0.1:8080",
    "api": "127.0.0.11:8001,127.0.0.12:8001",
    "web": "127.0.0.21:8002,127.0.0.22:8002",
    "stats": "127.0.0.1:8404",
    "dir": str(ROOT / "var" / "stack"),
    "books": "500",
}
#: the order processes are stopped in (the load balancer first, the data last)
STOP_ORDER = ["haproxy", "web1", "web2", "api1", "api2", "redis", "postgres"]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


class StackError(RuntimeError):
    """The stack cannot be started as asked; the message says why."""


# ---------------------------------------------------------------- addresses


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    if not host.startswith("127."):
        raise argparse.ArgumentTypeError(f"{text}: the stack listens on loopback addresses (127.0.0.0/8) only")
    return host, int(port)


def parse_pair(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if len(items) != 2:
        raise argparse.ArgumentTypeError(f"expected two HOST:PORT addresses separated by a comma, got {text!r}")
    for item in items:
        parse_address(item)
    if items[0] == items[1]:
        raise argparse.ArgumentTypeError(f"the two servers need different addresses: {text!r}")
    return items


def port_open(address: str, timeout: float = 0.2) -> bool:
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(address: str, path: str, timeout: float = 2.0) -> int | None:
    host, port = parse_address(address)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


# ---------------------------------------------------------------- processes


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # exited, waiting to be reaped
        return None
    return int(fields[19])


@dataclass
class Proc:
    pid: int
    started: int  # kernel start time, to tell our process from a later one with the same PID
    log: str = ""

    def alive(self) -> bool:
        return process_start_time(self.pid) == self.started

    def send(self, signum: int) -> None:
        """Signal the process and its process group (each of ours leads its own session)."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(self.pid) == self.pid:
                os.killpg(self.pid, signum)
            else:
                os.kill(self.pid, signum)

    def wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
        self.send(signum)
        if not self.wait_gone(timeout):
            self.send(signal.SIGKILL)
            self.wait_gone(5)


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Proc:
    """Start ``argv`` detached (own session, no stdin), output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        child = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    started = process_start_time(child.pid)
    if started is None:  # exited at once; keep a record that can never match a live process
        started = -1
    return Proc(child.pid, started, str(log))


def log_tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


# ---------------------------------------------------------------- state


@dataclass
class Config:
    listen: str
    api: list[str]
    web: list[str]
    stats: str  # "" when there is no statistics page
    books: int


@dataclass
class State:
    config: Config
    database_url: str = ""
    redis_url: str = ""
    session_secret: str = ""
    web_enabled: bool = False
    database_ready: bool = False  # migrated, seeded and demo accounts made (while the stack runs)
    processes: dict[str, Proc] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> State | None:
        path = folder / "state.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["config"] = Config(**data["config"])
        data["processes"] = {name: Proc(**proc) for name, proc in data["processes"].items()}
        return cls(**data)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.chmod(0o600)  # holds the session secret and the database URL
        tmp.replace(path)

    def running(self) -> dict[str, Proc]:
        return {name: proc for name, proc in self.processes.items() if proc.alive()}


def backends(config: Config, web_enabled: bool) -> list[tuple[str, str, str]]:
    """(name, app, address) of every server behind the load balancer."""
    found = [(f"api{i}", "api", address) for i, address in enumerate(config.api, 1)]
    if web_enabled:
        found += [(f"web{i}", "web", address) for i, address in enumerate(config.web, 1)]
    return found


# ---------------------------------------------------------------- HAProxy


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise StackError("HAProxy is not installed: run ./scripts/system-deps.sh (make bootstrap does)")
    return found


def haproxy_env(config: Config, web_enabled: bool, socket_path: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BOOKSTORE_LB_BIND": config.listen,
        "BOOKSTORE_LB_API1": config.api[0],
        "BOOKSTORE_LB_API2": config.api[1],
        "BOOKSTORE_LB_STATS_SOCKET": str(socket_path),
    }
    if web_enabled:
        env.update(BOOKSTORE_LB_WEB1=config.web[0], BOOKSTORE_LB_WEB2=config.web[1])
    if config.stats:
        env["BOOKSTORE_LB_STATS_BIND"] = config.stats
    return env


def haproxy_stats(socket_path: str | Path, timeout: float = 2.0) -> list[dict[str, str]]:
    """HAProxy's ``show stat`` as one dict per proxy/server row (empty if it does not answer)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(b"show stat\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return []
    text = b"".join(chunks).decode()
    if not text.startswith("# "):
        return []
    return list(csv.DictReader(text[2:].splitlines()))


def server_states(socket_path: str | Path) -> dict[str, str]:
    """``{"api1": "UP", "web2": "DOWN", ...}`` for the servers behind the load balancer."""
    return {
        row["svname"]: row["status"]
        for row in haproxy_stats(socket_path)
        if row.get("svname") not in ("FRONTEND", "BACKEND", None) and row.get("pxname") in ("api", "web")
    }


# ---------------------------------------------------------------- data services


def start_data_services(state: State, folder: Path) -> None:
    """Use the configured PostgreSQL/Redis, or start embedded ones (reused while they run).

    An embedded server that died is started again on the address it had, with the same data
    folder, so the running servers find it where they left it (as an RDS or ElastiCache
    endpoint stays the same across a failover) and the stack heals without restarting them.
    """
    from bookstore_dev.servers import EmbeddedPostgres, EmbeddedRedis, create_database

    database_url = os.environ.get("BOOKSTORE_DATABASE_URL")
    if database_url:
        state.database_url = database_url
    elif not ("postgres" in state.processes and state.processes["postgres"].alive()):
        port = _previous_port(state, "postgres", state.database_url)
        pg = EmbeddedPostgres(folder / "postgres", port)
        say(f"starting PostgreSQL on 127.0.0.1:{pg.port} (data in {pg.datadir})")
        pg.start()
        state.processes["postgres"] = Proc(pg.proc.pid, process_start_time(pg.proc.pid) or -1, str(pg.datadir) + ".log")
        state.database_url = create_database(pg.url, "bookstore")
        state.save(folder)

    redis_url = os.environ.get("BOOKSTORE_REDIS_URL")
    if redis_url:
        state.redis_url = redis_url
    elif not ("redis" in state.processes and state.processes["redis"].alive()):
        rd = EmbeddedRedis(folder / "redis", _previous_port(state, "redis", state.redis_url))
        say(f"starting Redis on 127.0.0.1:{rd.port}")
        rd.start()
        state.processes["redis"] = Proc(
            rd.proc.pid, process_start_time(rd.proc.pid) or -1, str(rd.workdir / "redis.log")
        )
        state.redis_url = rd.url
        state.save(folder)


def _previous_port(state: State, name: str, url: str) -> int | None:
    """The port an embedded server of this stack had before it died (None: pick a free one)."""
    if name not in state.processes or not url:
        return None
    port = urlsplit(url).port
    if port and port_open(f"127.0.0.1:{port}"):
        raise StackError(f"{name} died and its address 127.0.0.1:{port} is now taken by another program")
    return port


def prepare_database(state: State) -> None:
    """Migrate; seed the demo catalog when there are no books; ensure the demo accounts."""
    from bookstore_api.cli.migrate import upgrade
    from bookstore_api.cli.users import ensure_user
    from bookstore_api.infra.db import make_engine
    from bookstore_api.settings import build_settings
    from bookstore_dev.seed import catalog_size, seed_catalog
    from bookstore_dev.shop import dev_settings

    env = dict(os.environ, BOOKSTORE_DATABASE_URL=state.database_url, BOOKSTORE_REDIS_URL=state.redis_url)
    settings = build_settings({}, env)
    upgrade(state.database_url)
    engine = make_engine(settings, application_name="bookstore stack")
    try:
        if catalog_size(engine) == 0:
            result = seed_catalog(
                engine, books=state.config.books, seed=1, currency=settings["bookstore.currency"], progress=False
            )
            say(f"seeded a demo catalog of {result.books:,} books")
    finally:
        engine.dispose()
    dev = dev_settings(env)
    ensure_user(settings, dev["staff_email"], dev["staff_password"], "Demo Staff", "staff")
    ensure_user(settings, dev["customer_email"], dev["customer_password"], "Demo Customer", "customer")


# ---------------------------------------------------------------- the storefront


def storefront_available() -> tuple[bool, str]:
    """Whether ``bookstore-web serve`` can run here (the storefront package is installed and complete)."""
    try:
        import bookstore_web
    except Exception as exc:  # noqa: BLE001 - any import failure means: no storefront
        return False, f"bookstore_web does not import ({exc.__class__.__name__}: {exc})"
    if not callable(getattr(bookstore_web, "main", None)):
        return False, "bookstore_web has no app factory (main) yet"
    return True, ""


def app_env(state: State, app: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BOOKSTORE_DATABASE_URL=state.database_url,
        BOOKSTORE_REDIS_URL=state.redis_url,
        # X-Forwarded-* are trusted from HAProxy only (it connects from 127.0.0.1).
        BOOKSTORE_TRUSTED_PROXY="127.0.0.1",
    )
    env.setdefault("BOOKSTORE_ENV", "development")
    # Four servers share the database: keep each one's pool small.
    env.setdefault("BOOKSTORE_DB_POOL_SIZE", "4")
    env.setdefault("BOOKSTORE_DB_MAX_OVERFLOW", "6")
    if app == "web":
        # The storefront reaches the API through the load balancer, as shoppers do.
        env["BOOKSTORE_API_URL"] = f"http://{state.config.listen}"
        env["BOOKSTORE_SESSION_SECRET"] = os.environ.get("BOOKSTORE_SESSION_SECRET") or state.session_secret
    return env


def serve_command(app: str) -> list[str]:
    """``bookstore serve`` (the API) or ``bookstore-web serve``, as the images run them."""
    from bookstore_dev.shop import SERVE_MODULES

    return [sys.executable, "-m", SERVE_MODULES[app], "serve"]


# ---------------------------------------------------------------- commands


def resolve_config(args: argparse.Namespace, previous: State | None) -> Config:
    def pick(option: str) -> str:
        given = getattr(args, option)
        if given is not None:
            return given
        env = os.environ.get(f"BOOKSTORE_STACK_{option.upper()}")
        if env is not None:
            return env
        if previous is not None:
            stored = getattr(previous.config, option)
            return ",".join(stored) if isinstance(stored, list) else str(stored)
        return DEFAULTS[option]

    try:
        config = Config(
            listen=pick("listen"),
            api=parse_pair(pick("api")),
            web=parse_pair(pick("web")),
            stats=pick("stats"),
            books=int(pick("books")),
        )
        parse_address(config.listen)
        if config.stats:
            parse_address(config.stats)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise StackError(str(exc)) from exc
    return config


def cmd_start(args: argparse.Namespace) -> int:
    folder = Path(args.dir).resolve()
    previous = State.load(folder)
    config = resolve_config(args, previous)
    if previous is not None and previous.running():
        if asdict(previous.config) != asdict(config):
            raise StackError(
                f"a stack with other settings runs from {folder}: stop it first (python scripts/stack.py stop)"
            )
        state = previous
    else:
        state = State(config=config, session_secret=secrets.token_urlsafe(48))
        if previous is not None:  # reuse what a stopped stack kept on disk
            state.session_secret = previous.session_secret or state.session_secret
    started_here: list[str] = []
    started = time.monotonic()
    try:
        _start(state, folder, started_here)
    except BaseException:
        for name in reversed(STOP_ORDER):
            if name in started_here:
                state.processes[name].stop()
        state.save(folder)
        raise
    say(f"ready in {time.monotonic() - started:.1f}s")
    say(f"shop       http://{config.listen}/   (API: http://{config.listen}/api/v1/books)")
    if config.stats:
        say(f"HAProxy    http://{config.stats}/stats")
    say(f"state and logs in {folder}; stop with: make stack-stop")
    return 0


def _start(state: State, folder: Path, started_here: list[str]) -> None:
    config = state.config
    haproxy = haproxy_binary()
    web_enabled, why_not = storefront_available()
    if not web_enabled:
        say(f"storefront skipped: {why_not}; all paths go to the API")
    if "haproxy" in state.running() and web_enabled != state.web_enabled:
        raise StackError("the storefront appeared or went away since the stack started: restart the stack")
    state.web_enabled = web_enabled
    (folder / "logs").mkdir(parents=True, exist_ok=True)

    before = set(state.running())
    start_data_services(state, folder)
    started_here.extend(sorted(set(state.running()) - before))
    if not (state.database_ready and "haproxy" in state.running()):
        prepare_database(state)
        state.database_ready = True
        state.save(folder)

    for name, app, address in backends(config, web_enabled):
        if name in state.processes and state.processes[name].alive():
            continue
        if port_open(address):
            raise StackError(f"{address} is already taken by another program; choose other addresses for {name}")
        host, port = parse_address(address)
        argv = [*serve_command(app), "--host", host, "--port", str(port)]
        state.processes[name] = spawn(argv, folder / "logs" / f"{name}.log", app_env(state, app))
        started_here.append(name)
        state.save(folder)
        say(f"started {name} ({app}) on http://{address} (pid {state.processes[name].pid})")

    socket_path = folder / "haproxy.sock"
    if not ("haproxy" in state.processes and state.processes["haproxy"].alive()):
        for address in filter(None, [config.listen, config.stats]):
            if port_open(address):
                raise StackError(f"{address} is already taken by another program; choose another --listen/--stats")
        env = haproxy_env(config, web_enabled, socket_path)
        check = subprocess.run(
            [haproxy, "-c", "-q", "-f", str(HAPROXY_CONFIG)], env=env, capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise StackError(f"HAProxy rejects its configuration:\n{check.stdout}{check.stderr}")
        socket_path.unlink(missing_ok=True)
        state.processes["haproxy"] = spawn(
            [haproxy, "-db", "-f", str(HAPROXY_CONFIG)], folder / "logs" / "haproxy.log", env
        )
        started_here.append("haproxy")
        state.save(folder)
        say(f"started HAProxy on http://{config.listen} (pid {state.processes['haproxy'].pid})")

    wait_until_healthy(state, socket_path)


def wait_until_healthy(state: State, socket_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    servers = backends(state.config, state.web_enabled)

    def check_alive(names: list[str]) -> None:
        for name in names:
            proc = state.processes[name]
            if not proc.alive():
                raise StackError(f"{name} exited while starting; the end of {proc.log}:\n{log_tail(proc.log)}")

    pending = {name: address for name, _, address in servers}
    while pending:
        check_alive(list(pending))
        for name, address in list(pending.items()):
            if http_status(address, "/healthz") == 200:
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise StackError(f"not answering /healthz within {START_TIMEOUT:.0f}s: {', '.join(pending)}")
        if pending:
            time.sleep(0.1)

    names = [name for name, _, _ in servers]
    while True:
        check_alive([*names, "haproxy"])
        states = server_states(socket_path)
        if states and all(states.get(name) == "UP" for name in names):
            break
        if time.monotonic() > deadline:
            raise StackError(f"HAProxy does not see every server UP within {START_TIMEOUT:.0f}s: {states}")
        time.sleep(0.1)
    if http_status(state.config.listen, "/healthz") != 200:
        raise StackError(f"http://{state.config.listen}/healthz does not answer 200 through HAProxy")


def cmd_stop(args: argparse.Namespace) -> int:
    folder = Path(args.dir).resolve()
    state = State.load(folder)
    if state is None:
        say(f"no stack state in {folder}; nothing to stop")
        return 0
    for name in STOP_ORDER:
        proc = state.processes.get(name)
        if proc is None or not proc.alive():
            continue
        # PostgreSQL's fast shutdown is SIGINT; waitress, Redis and HAProxy stop on SIGTERM.
        proc.stop(signal.SIGINT if name == "postgres" else signal.SIGTERM)
        say(f"stopped {name} (pid {proc.pid})")
    left = [name for name, proc in state.processes.items() if proc.alive()]
    if left:
        say(f"still running: {', '.join(left)}")
        return 1
    (folder / "state.json").unlink(missing_ok=True)
    (folder / "haproxy.sock").unlink(missing_ok=True)
    say("stopped")
    return 0


def status_report(folder: Path) -> dict[str, Any]:
    state = State.load(folder)
    if state is None:
        return {"running": False, "processes": {}, "servers": {}}
    return {
        "running": bool(state.running()),
        "config": asdict(state.config),
        "web_enabled": state.web_enabled,
        "socket": str(folder / "haproxy.sock"),
        "processes": {name: {**asdict(proc), "alive": proc.alive()} for name, proc in state.processes.items()},
        "servers": server_states(folder / "haproxy.sock"),
    }


def cmd_status(args: argparse.Namespace) -> int:
    report = status_report(Path(args.dir).resolve())
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if not report["processes"]:
        say("not running")
        return 0
    for name, proc in report["processes"].items():
        lb = report["servers"].get(name, "")
        say(f"{name:9} pid {proc['pid']:>7}  {'running' if proc['alive'] else 'stopped':8} {lb}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir",
        default=os.environ.get("BOOKSTORE_STACK_DIR", DEFAULTS["dir"]),
        help="state folder: PIDs, logs, embedded data (default: var/stack; BOOKSTORE_STACK_DIR)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start whatever is not running and wait until all is healthy")
    start.add_argument("--listen", help=f"HAProxy's address (default {DEFAULTS['listen']}; BOOKSTORE_STACK_LISTEN)")
    start.add_argument("--api", help=f"the two API servers (default {DEFAULTS['api']}; BOOKSTORE_STACK_API)")
    start.add_argument("--web", help=f"the two storefront servers (default {DEFAULTS['web']}; BOOKSTORE_STACK_WEB)")
    start.add_argument(
        "--stats", help=f"HAProxy's statistics page, '' for none (default {DEFAULTS['stats']}; BOOKSTORE_STACK_STATS)"
    )
    start.add_argument("--books", help=f"demo catalog size when the database is empty (default {DEFAULTS['books']})")
    start.set_defaults(func=cmd_start)
    sub.add_parser("stop", help="stop every process of the stack").set_defaults(func=cmd_stop)
    status = sub.add_parser("status", help="show the processes and their state in HAProxy")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except StackError as exc:
        say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
