"""Catalogue import and export through the real ``bookstore`` command, on a generated CSV.

Starts its own PostgreSQL and Redis (embedded, non-durable) unless
BOOKSTORE_DATABASE_URL / BOOKSTORE_REDIS_URL are set; writes a deterministic CSV
of N books (1-3 authors from a pool, 1-2 genres, prices, stock, descriptions),
then times ``bookstore import-books`` into an empty catalogue, the same file again
(every row unchanged), ``bookstore export-books``, and the export imported back.
Prints rows/s for each and writes bench/results/catalogue-import-<time>.json.
Asserts nothing.

    .venv/bin/python bench/catalogue_import.py --rows 100000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import services  # noqa: E402

from bookstore_api.imports.csvformat import COLUMNS  # noqa: E402
from bookstore_dev.seed import make_isbn  # noqa: E402
from bookstore_dev.words import FIRST, GENRES, LAST, NOUNS, PUBLISHERS, WORDS  # noqa: E402


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    authors = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(max(rows // 5, 10))]
    slugs = [slug for slug, _ in GENRES]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow(
                [
                    make_isbn(1_000_000 + i),
                    f"The {rng.choice(NOUNS).title()} of {rng.choice(NOUNS).title()} {i}",
                    ";".join(dict.fromkeys(rng.choice(authors) for _ in range(rng.randint(1, 3)))),
                    ";".join(dict.fromkeys(rng.choice(slugs) for _ in range(rng.randint(1, 2)))),
                    f"{rng.randint(3, 60)}.{rng.choice(['00', '50', '99'])}",
                    rng.randint(0, 40),
                    " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))),
                    rng.choice(PUBLISHERS),
                    (dt.date(1960, 1, 1) + dt.timedelta(days=rng.randint(0, 23000))).isoformat(),
                    rng.choice(["en", "en", "en", "fr", "de", "pt-BR"]),
                    rng.randint(80, 900),
                ]
            )


def bookstore(env: dict, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bookstore_api.cli", *args], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"bookstore {' '.join(args)} failed: {done.stderr[-2000:]}")
    return elapsed, done.stdout.strip() + " | " + done.stderr.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bookstore-import-bench-"))
    source, exported = work / "books.csv", work / "export.csv"
    started = time.monotonic()
    write_csv(source, args.rows)
    print(f"wrote {args.rows:,} rows ({source.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - started:.1f} s")
    results: dict = {"rows": args.rows, "batch_size": args.batch_size, "file_mb": round(source.stat().st_size / 1e6, 1)}
    with services("bench_import") as (database_url, redis_url):
        env = dict(
            os.environ,
            BOOKSTORE_DATABASE_URL=database_url,
            BOOKSTORE_REDIS_URL=redis_url,
            BOOKSTORE_LOG_LEVEL="WARNING",
        )
        bookstore(env, "migrate")
        import psycopg2

        with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
            cursor.executemany("INSERT INTO genres (slug, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", GENRES)
        steps = [
            ("import into an empty catalogue", ["import-books", str(source), "--batch-size", str(args.batch_size)]),
            (
                "the same file again (all unchanged)",
                ["import-books", str(source), "--batch-size", str(args.batch_size)],
            ),
            ("dry run", ["import-books", str(source), "--dry-run"]),
            ("export", ["export-books", str(exported)]),
            ("the export imported back (all unchanged)", ["import-books", str(exported)]),
        ]
        for name, command in steps:
            elapsed, said = bookstore(env, *command)
            rate = args.rows / elapsed
            results[name] = {"seconds": round(elapsed, 2), "rows_per_second": round(rate)}
            print(f"{name:45s} {elapsed:7.2f} s  {rate:9,.0f} rows/s   {said[:160]}")
    out = ROOT / "bench" / "results" / f"catalogue-import-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
