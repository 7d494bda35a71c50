"""The ``bookstore`` command of a development checkout: the API's commands, plus
``run`` (the whole shop locally) and ``seed`` (a demo catalogue).

The API image's ``bookstore`` has the API's commands only (migrate, create-user,
send-mail, deliver-webhooks, purge-carts, serve): no image carries demo data or embedded servers.
"""

from __future__ import annotations

import argparse
import logging
import sys


def cmd_run(args: argparse.Namespace) -> int:
    from .shop import run_shop

    return run_shop(var_dir=args.var, demo_books=args.books)


def cmd_seed(args: argparse.Namespace) -> int:
    from bookstore_api.cli import load_settings
    from bookstore_api.infra.db import make_engine

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
    from bookstore_api.reports.rollup import Rollup

    print(Rollup(engine).run().summary())  # the staff reports' rollups, up to date with the data
    return 0


def build_parser() -> argparse.ArgumentParser:
    from bookstore_api.cli import build_parser as api_parser

    parser, sub = api_parser()

    run = sub.add_parser("run", help="run the whole shop locally (embedded PostgreSQL and Redis if none configured)")
    run.add_argument("--var", default="var", help="folder for local data and logs")
    run.add_argument("--books", type=int, default=5000, help="size of the demo catalog seeded on first start")
    run.set_defaults(func=cmd_run)

    seed = sub.add_parser("seed", help="add a generated demo catalog to BOOKSTORE_DATABASE_URL")
    seed.add_argument("--books", type=int, required=True)
    seed.add_argument("--seed", type=int, default=1)
    seed.add_argument("--quiet", action="store_true")
    seed.set_defaults(func=cmd_seed)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
