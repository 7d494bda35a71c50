"""Serve a WSGI app with waitress, configured from the environment (what the images run)."""

from __future__ import annotations

import ctypes
import signal
from collections.abc import Callable
from typing import Any

from .settings import server_settings


def limit_malloc_arenas() -> None:
    """Keep glibc from holding freed memory per thread.

    Every log-in hashes with argon2id (19 MiB); with the default malloc tuning each
    waitress thread keeps such blocks in its own arena and the process grows by
    ~19 MiB per thread. Large blocks from mmap are returned at once instead.
    (Same as MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_ARENA_MAX=2 in the environment.)
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    m_mmap_threshold, m_arena_max = -3, -8
    libc.mallopt(m_mmap_threshold, 1024 * 1024)
    libc.mallopt(m_arena_max, 2)


def _stop_on_sigterm(signum, frame) -> None:  # and SIGINT
    raise KeyboardInterrupt  # waitress closes its sockets and returns; the process exits 0


def serve(app: Any, host: str, port: int, threads: int | None = None) -> None:
    """Serve ``app`` until SIGTERM or SIGINT (both stop cleanly: what ``docker stop`` and Ctrl-C send)."""
    import waitress

    limit_malloc_arenas()
    options = server_settings()
    if threads:
        options["threads"] = threads
    # Both, explicitly: a process started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, _stop_on_sigterm)
    server = waitress.create_server(app, host=host, port=port, ident="bookstore", **options)
    server.print_listen("Serving on http://{}:{}")
    server.run()


def load_app(factory: Callable[..., Any], ini: str | None, name: str) -> Any:
    """The app from ``ini``'s ``[app:<name>]`` section, or from ``factory`` and the environment alone."""
    if ini:
        from pyramid.paster import get_app

        return get_app(ini, name)
    return factory({})


def add_serve_command(sub: Any, factory: Callable[..., Any], app_name: str, default_port: int) -> None:
    """The ``serve`` subcommand both apps' command lines have (the images' ``CMD``)."""

    def run(args: Any) -> int:
        serve(load_app(factory, args.ini, app_name), args.host, args.port, threads=args.threads)
        return 0

    command = sub.add_parser("serve", help="serve the app with waitress until SIGTERM or SIGINT")
    command.add_argument("--host", default="127.0.0.1")
    command.add_argument("--port", type=int, default=default_port)
    command.add_argument("--threads", type=int, help="worker threads (default: BOOKSTORE_THREADS or 8)")
    command.set_defaults(func=run)
