"""Serve an app with waitress, configured from the environment (what the images run)."""

from __future__ import annotations

import ctypes
import signal
from typing import Any

from .settings import server_settings


def make_app(app: str, ini: str | None = None) -> Any:
    if ini:
        from pyramid.paster import get_app

        return get_app(ini, "main" if app == "api" else app)
    if app == "api":
        from . import main

        return main({})
    from bookstore_web import main as web_main

    return web_main({})


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


def serve(app: str, host: str, port: int, threads: int | None = None, ini: str | None = None) -> None:
    """Serve until SIGTERM or SIGINT (both stop cleanly: what ``docker stop`` and Ctrl-C send)."""
    import waitress

    limit_malloc_arenas()
    options = server_settings()
    if threads:
        options["threads"] = threads
    # Both, explicitly: a process started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, _stop_on_sigterm)
    server = waitress.create_server(make_app(app, ini), host=host, port=port, ident="bookstore", **options)
    server.print_listen("Serving on http://{}:{}")
    server.run()
