"""The ``bookstore`` command: migrate, create users, send and read mail, send webhooks, purge carts,
roll up the report figures, import and export the catalogue, and serve the API.

Settings come from the environment (``BOOKSTORE_*``) or an ini file given with
``--ini``; both go through the same settings code as the app.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from bookstore_core.serving import add_serve_command

from ..settings import build_settings


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


def cmd_create_user(args: argparse.Namespace) -> int:
    from bookstore_core.accounts import ROLES, password_problem

    from .users import ensure_user

    if args.role not in ROLES:
        print(f"role must be one of {', '.join(ROLES)}", file=sys.stderr)
        return 2
    problem = password_problem(args.password, args.email)
    if problem:
        print(f"password: {problem}", file=sys.stderr)
        return 2
    settings = load_settings(args.ini)
    created = ensure_user(settings, args.email, args.password, args.name or args.email.split("@")[0], args.role)
    print(f"{'created' if created else 'updated'} {args.role} {args.email.lower()}")
    return 0


def cmd_send_mail(args: argparse.Namespace) -> int:
    from bookstore_core.logs import configure_logging

    from ..infra.db import make_engine
    from ..mail.services import Mailer, make_transport

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


def cmd_mail_list(args: argparse.Namespace) -> int:
    from .mail import list_mails

    return list_mails(load_settings(args.ini), sys.stdout, args.limit, args.to)


def cmd_mail_show(args: argparse.Namespace) -> int:
    from .mail import show_mail

    return show_mail(load_settings(args.ini), args.number, sys.stdout, args.html)


def make_deliverer(settings: dict[str, Any], *, concurrency: int = 8, batch: int = 100):
    """The webhook worker for these settings (None when no secret key is configured in production)."""
    from bookstore_core.settings import as_bool

    from ..infra.db import make_engine
    from ..webhooks.addresses import AddressPolicy
    from ..webhooks.delivery import Deliverer, Sender
    from ..webhooks.signing import secret_box

    box = secret_box(settings)
    if box is None:
        return None
    engine = make_engine(settings, application_name="bookstore webhooks")
    policy = AddressPolicy(allow_loopback=as_bool(settings.get("webhooks.allow_loopback")))
    timeout = float(settings.get("webhooks.timeout_seconds") or 5.0)
    sender = Sender(policy, timeout=timeout, deadline=3 * timeout)
    return Deliverer(engine, box, sender, batch=batch, concurrency=concurrency)


def cmd_deliver_webhooks(args: argparse.Namespace) -> int:
    from bookstore_core.logs import configure_logging

    settings = load_settings(args.ini)
    configure_logging(settings["bookstore.log_level"], settings["bookstore.log_format"])
    deliverer = make_deliverer(settings, concurrency=args.concurrency, batch=args.batch)
    if deliverer is None:
        print("set BOOKSTORE_WEBHOOK_SECRET_KEY to deliver webhooks", file=sys.stderr)
        return 2
    try:
        if not args.once:
            try:
                deliverer.run_forever(args.interval)
            except KeyboardInterrupt:
                return 0
        delivered, failed = deliverer.deliver_due()
    finally:
        deliverer.close()
        deliverer.engine.dispose()
    print(f"delivered {delivered}, failed {failed}")
    return 0 if not failed else 1


def cmd_purge_carts(args: argparse.Namespace) -> int:
    import transaction

    from ..carts.services import CartService
    from ..infra.db import make_engine, make_session_factory

    settings = load_settings(args.ini)
    engine = make_engine(settings, application_name="bookstore cli")
    with transaction.manager:
        removed = CartService(make_session_factory(engine)(), settings["bookstore.currency"]).purge_expired()
    print(f"removed {removed} expired carts")
    return 0


def cmd_rollup_reports(args: argparse.Namespace) -> int:
    import datetime as dt
    import time

    from bookstore_core.logs import configure_logging

    from ..infra.db import make_engine
    from ..reports.rollup import Rollup

    since = None
    if args.since:
        try:
            since = dt.date.fromisoformat(args.since)
        except ValueError:
            print("--since must be a date (YYYY-MM-DD)", file=sys.stderr)
            return 2
    settings = load_settings(args.ini)
    configure_logging(settings["bookstore.log_level"], settings["bookstore.log_format"])
    engine = make_engine(settings, application_name="bookstore rollup")
    rollup = Rollup(engine, settle=dt.timedelta(minutes=args.settle_minutes))
    try:
        print(rollup.run(since=since).summary(), flush=True)
        if args.loop:
            time.sleep(args.interval)
            rollup.run_forever(args.interval)
    except KeyboardInterrupt:
        return 0
    finally:
        engine.dispose()
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, Any]:
    """The parser and its subcommands (a development checkout adds ``run`` and ``seed``)."""
    parser = argparse.ArgumentParser(prog="bookstore", description=__doc__.splitlines()[0])
    parser.add_argument("--ini", help="PasteDeploy ini file to read settings from (default: environment only)")
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub)
    return parser, sub


def add_commands(sub: Any) -> None:
    from .. import main as app_factory

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    user = sub.add_parser("create-user", help="create (or update the password and role of) a user")
    user.add_argument("--email", required=True)
    user.add_argument("--password", required=True)
    user.add_argument("--role", default="customer")
    user.add_argument("--name")
    user.set_defaults(func=cmd_create_user)

    mail = sub.add_parser("send-mail", help="send pending mails (SMTP, or the log)")
    mail.add_argument("--loop", action="store_true", help="keep sending as messages arrive")
    mail.add_argument("--interval", type=float, default=5.0, help="seconds between polls with --loop")
    mail.set_defaults(func=cmd_send_mail)

    outbox = sub.add_parser("mail", help="read the mails the shop wrote (the outbox)")
    reading = outbox.add_subparsers(dest="mail_command", required=True)
    listing = reading.add_parser("list", help="the latest mails: number, time, status, recipient, subject")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--to", help="only mails to this address")
    listing.set_defaults(func=cmd_mail_list)
    showing = reading.add_parser("show", help="one mail: recipient, subject, status and its text")
    showing.add_argument("number", type=int, help="the mail's number (from `bookstore mail list`)")
    showing.add_argument("--html", action="store_true", help="print the HTML part instead of the text")
    showing.set_defaults(func=cmd_mail_show)
    hooks = sub.add_parser("deliver-webhooks", help="send queued webhook deliveries (signed, retried for 24 hours)")
    hooks.add_argument("--once", action="store_true", help="send what is due now, then stop")
    hooks.add_argument("--interval", type=float, default=2.0, help="seconds between polls when idle")
    hooks.add_argument("--concurrency", type=int, default=8, help="deliveries sent at once")
    hooks.add_argument("--batch", type=int, default=100, help="deliveries claimed per round")
    hooks.set_defaults(func=cmd_deliver_webhooks)

    rollup = sub.add_parser(
        "rollup-reports", help="roll closed days of sales up for the staff reports (idempotent, resumable)"
    )
    rollup.add_argument("--since", help="roll every closed day from this date (YYYY-MM-DD) again")
    rollup.add_argument("--loop", action="store_true", help="keep rolling up, every --interval seconds")
    rollup.add_argument("--interval", type=float, default=300.0, help="seconds between runs with --loop")
    rollup.add_argument(
        "--settle-minutes", type=float, default=15.0, help="close a day only this long after it ended (UTC)"
    )
    rollup.set_defaults(func=cmd_rollup_reports)

    sub.add_parser("purge-carts", help="delete carts idle for 30 days").set_defaults(func=cmd_purge_carts)

    from .catalogue import add_commands as add_catalogue_commands

    add_catalogue_commands(sub)

    add_serve_command(sub, app_factory, "main", default_port=6543)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
