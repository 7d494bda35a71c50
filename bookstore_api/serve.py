"""Serve an app with waitress, configured from the environment (what the images run)."""

from __future__ import annotations

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


def _stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt  # waitress closes its sockets and returns; the process exits 0


def serve(app: str, host: str, port: int, threads: int | None = None, ini: str | None = None) -> None:
    """Serve until SIGTERM or SIGINT (both stop cleanly: what ``docker stop`` and Ctrl-C send)."""
    import waitress

    options = server_settings()
    if threads:
        options["threads"] = threads
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    server = waitress.create_server(make_app(app, ini), host=host, port=port, ident="bookstore", **options)
    server.print_listen("Serving on http://{}:{}")
    server.run()
