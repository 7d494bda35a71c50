"""The ``bookstore-web`` command: serve the storefront (what its image runs)."""

from __future__ import annotations

import argparse
import sys

from bookstore_core.serving import add_serve_command


def build_parser() -> argparse.ArgumentParser:
    from . import main as app_factory

    parser = argparse.ArgumentParser(prog="bookstore-web", description=__doc__.splitlines()[0])
    parser.add_argument("--ini", help="PasteDeploy ini file to read settings from (default: environment only)")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_command(sub, app_factory, "web", default_port=6544)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
