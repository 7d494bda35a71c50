"""``bookstore import-books`` and ``bookstore export-books``: the catalogue CSV from the command line.

The import checks the whole file first (every bad row is printed; a file with
any bad row imports nothing), then writes it in batches, each committed on its
own, with a progress line on stderr. Rows that already match their book are left
alone, so an interrupted import can simply be run again; ``--start-row`` skips
the rows an earlier run reported as committed.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

import transaction

from bookstore_core.redisstore import RedisStore


class Progress:
    """A plain-text progress bar on a stream (redrawn in place on a terminal, a line per 10% elsewhere)."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30):
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.tty = self.stream.isatty()
        self.last_tenth = -1

    def show(self, done: int, note: str = "") -> None:
        fraction = min(done / self.total, 1.0)
        tenth = int(fraction * 10)
        if not self.tty and tenth == self.last_tenth and done < self.total:
            return
        self.last_tenth = tenth
        elapsed = max(time.monotonic() - self.started, 1e-6)
        filled = int(self.width * fraction)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"[{bar}] {done:,}/{self.total:,} rows {fraction:4.0%}  {done / elapsed:,.0f} rows/s  {note}"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _in_transaction(work, *, commit: bool):
    """Run ``work()`` in a transaction of its own: committed, or (a dry run, a read) rolled back."""
    manager = transaction.manager
    manager.begin()
    try:
        value = work()
    except BaseException:
        manager.abort()
        raise
    if commit:
        manager.commit()
    else:
        manager.abort()
    return value


def _services(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    from ..catalog.cache import CatalogCache
    from ..cli import load_settings
    from ..infra.db import make_engine, make_session_factory

    settings = load_settings(args.ini)
    engine = make_engine(settings, application_name="bookstore import")
    cache = CatalogCache(RedisStore.from_url(settings["redis.url"], settings["redis.prefix"]))
    return make_session_factory(engine), settings["bookstore.currency"], cache


def cmd_import_books(args: argparse.Namespace) -> int:
    from ..exceptions import InvalidInput
    from ..imports.services import ImportReport, ImportService, batches

    if args.batch_size < 1 or args.batch_size > 50_000:
        print("--batch-size must be from 1 to 50000", file=sys.stderr)
        return 2
    factory, currency, cache = _services(args)
    with open(args.file, "rb") as handle:
        body = handle.read()
    started = time.monotonic()
    try:
        with transaction.manager:
            parsed = ImportService(factory(), currency, cache).check(body)
    except InvalidInput as exc:
        print(f"{args.file}: {exc.message} {exc.details.get('fields', {}).get('body', '')}", file=sys.stderr)
        return 1
    for error in parsed.errors:
        print(f"row {error.row}: {error.field}: {error.code}: {error.message}", file=sys.stderr)
    if parsed.error_count:
        print(f"{parsed.error_count} problem(s) in {parsed.rows} rows; nothing was imported", file=sys.stderr)
        return 1
    rows = [book for book in parsed.good if book.row >= args.start_row]
    report = ImportReport(dry_run=args.dry_run, rows=parsed.rows)
    progress = Progress(len(rows))
    committed_through = None
    try:
        for done, batch in batches(rows, args.batch_size):
            result = _in_transaction(
                lambda batch=batch: ImportService(factory(), currency, cache).apply_batch(
                    batch, dry_run=args.dry_run, actor_user_id=None
                ),
                commit=not args.dry_run,
            )
            report.created += result.created
            report.updated += result.updated
            report.unchanged += result.unchanged
            report.stock_movements += result.stock_movements
            committed_through = batch[-1].row
            progress.show(done, f"created {report.created:,} updated {report.updated:,} unchanged {report.unchanged:,}")
    except KeyboardInterrupt:
        progress.close()
        _stopped(committed_through, args)
        return 130
    except Exception as exc:  # noqa: BLE001 - any failure: say how far the import got, then stop
        progress.close()
        print(f"import failed: {exc.__class__.__name__}: {str(exc).splitlines()[0][:300]}", file=sys.stderr)
        _stopped(committed_through, args)
        return 1
    progress.close()
    elapsed = time.monotonic() - started
    verb = "would create" if args.dry_run else "created"
    print(
        f"{parsed.rows} rows: {verb} {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"stock movements {report.stock_movements} ({elapsed:.1f} s, {parsed.rows / max(elapsed, 1e-6):,.0f} rows/s)"
    )
    return 0


def _stopped(committed_through: int | None, args: argparse.Namespace) -> None:
    if args.dry_run:
        return
    if committed_through is None:
        print("nothing was committed; run the import again", file=sys.stderr)
    else:
        print(
            f"rows up to {committed_through} are imported; run again to finish "
            f"(rows already imported count as unchanged), or add --start-row {committed_through + 1}",
            file=sys.stderr,
        )


def cmd_export_books(args: argparse.Namespace) -> int:
    from ..imports.services import export_lines

    factory, _, _ = _services(args)
    out = sys.stdout if args.file == "-" else open(args.file, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:

        def write() -> int:
            written = -1
            for line in export_lines(factory()):
                out.write(line)
                written += 1
            return written

        count = _in_transaction(write, commit=False)
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"exported {count} books", file=sys.stderr)
    return 0


def add_commands(sub: Any) -> None:
    importer = sub.add_parser("import-books", help="create and update books from a catalogue CSV file")
    importer.add_argument("file", help="the CSV file (see the README for its columns)")
    importer.add_argument("--dry-run", action="store_true", help="check and compare only; change nothing")
    importer.add_argument("--batch-size", type=int, default=1000, help="rows per committed batch (default 1000)")
    importer.add_argument(
        "--start-row", type=int, default=2, help="skip the rows before this one (the header is row 1)"
    )
    importer.set_defaults(func=cmd_import_books)

    exporter = sub.add_parser("export-books", help="write the live catalogue as CSV (re-importable)")
    exporter.add_argument("file", help="where to write it (- for standard output)")
    exporter.set_defaults(func=cmd_export_books)
