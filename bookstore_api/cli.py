"""The ``bookstore`` command: migrate, seed, create users, serve, and run the whole shop.

Settings come from the environment (``BOOKSTORE_*``) or an ini file given with
``--ini``; both go through the same settings code as the app.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .settings import build_settings


def load_settings(ini: str | None) -> dict[str, Any]:
    ini_settings: dict[str, Any] = {}
    if ini:
        import plaster

        ini_settings = dict(plaster.get_settings(ini, "app:main"))
    return build_settings(ini_settings)


def cmd_migrate(args: argparse.Namespace) -> int:
    from .migrate import upgrade

    settings = load_settings(args.ini)
    upgrade(settings["sqlalchemy.url"])
    print("database is at the latest schema")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from .db import make_engine
    from .seed import seed_catalog

    settings = load_settings(args.ini)
    engine = make_engine(settings, application_name="bookstore seed")
    result = seed_catalog(
        engine, books=args.books, seed=args.seed, currency=settings["bookstore.currency"], progress=not args.quiet
    )
    print(
        f"seeded {result.books:,} books ({result.authors:,} new authors) in {result.seconds:.1f}s "
        f"= {result.rate:,.0f} books/s"
    )
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from .accounts.models import ROLES
    from .users import ensure_user

    if args.role not in ROLES:
        print(f"role must be one of {', '.join(ROLES)}", file=sys.stderr)
        return 2
    if len(args.password) < 10:
        print("password must have at least 10 characters", file=sys.stderr)
        return 2
    settings = load_settings(args.ini)
    created = ensure_user(settings, args.email, args.password, args.name or args.email.split("@")[0], args.role)
    print(f"{'created' if created else 'updated'} {args.role} {args.email.lower()}")
    return 0


def cmd_send_mail(args: argparse.Namespace) -> int:
    from .db import make_engine
    from .logs import configure_logging
    from .mail.services import Mailer, make_transport

    settings = load_settings(args.ini)
    configure_logging(settings["bookstore.log_level"], settings["bookstore.log_format"])
    engine = make_engine(settings, application_name="bookstore mailer")
    mailer = Mailer(engine, make_transport(settings.get("bookstore.smtp_url"), settings["bookstore.mail_from"]))
    if args.loop:
        try:
            mailer.run_forever(args.interval)
        except KeyboardInterrupt:
            return 0
    sent, failed = mailer.send_pending()
    print(f"sent {sent}, failed {failed}")
    return 0 if not failed else 1


def cmd_purge_carts(args: argparse.Namespace) -> int:
    import transaction

    from .carts.services import CartService
    from .db import make_engine, make_session_factory

    settings = load_settings(args.ini)
    engine = make_engine(settings, application_name="bookstore cli")
    with transaction.manager:
        removed = CartService(make_session_factory(engine)(), settings["bookstore.currency"]).purge_expired()
    print(f"removed {removed} expired carts")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    serve(args.app, args.host, args.port, threads=args.threads, ini=args.ini)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .devstack import run_shop

    return run_shop(var_dir=args.var, demo_books=args.books)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bookstore", description=__doc__.splitlines()[0])
    parser.add_argument("--ini", help="PasteDeploy ini file to read settings from (default: environment only)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed", help="add a generated demo catalog")
    seed.add_argument("--books", type=int, required=True)
    seed.add_argument("--seed", type=int, default=1)
    seed.add_argument("--quiet", action="store_true")
    seed.set_defaults(func=cmd_seed)

    user = sub.add_parser("create-user", help="create (or update the password and role of) a user")
    user.add_argument("--email", required=True)
    user.add_argument("--password", required=True)
    user.add_argument("--role", default="customer")
    user.add_argument("--name")
    user.set_defaults(func=cmd_create_user)

    mail = sub.add_parser("send-mail", help="send pending order confirmations (SMTP, or the log)")
    mail.add_argument("--loop", action="store_true", help="keep sending as messages arrive")
    mail.add_argument("--interval", type=float, default=5.0, help="seconds between polls with --loop")
    mail.set_defaults(func=cmd_send_mail)

    sub.add_parser("purge-carts", help="delete carts idle for 30 days").set_defaults(func=cmd_purge_carts)

    serve = sub.add_parser("serve", help="serve one app with waitress")
    serve.add_argument("app", choices=["api", "web"])
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=6543)
    serve.add_argument("--threads", type=int, help="worker threads (default: BOOKSTORE_THREADS or 8)")
    serve.set_defaults(func=cmd_serve)

    run = sub.add_parser("run", help="run the whole shop locally (embedded PostgreSQL and Redis if none configured)")
    run.add_argument("--var", default="var", help="folder for local data and logs")
    run.add_argument("--books", type=int, default=5000, help="size of the demo catalog seeded on first start")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
