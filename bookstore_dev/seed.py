"""A realistic, deterministic demo catalog, loaded fast with COPY.

``seed_catalog(engine, books=N, seed=S)`` adds N books (valid ISBN-13s, one to
three authors each, one or two genres, prices, stock, descriptions made of real
words so search is meaningful). The same seed always yields the same catalog.
Rows are generated while PostgreSQL consumes them (COPY from a streaming
reader), and ``bookstore.bulk_load`` tells the triggers that the loader fills
``books.authors_text`` and ``books.genre_ids`` itself.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bookstore_api.catalog.schemas import isbn13_check_digit

from .words import ADJECTIVES, CLASSICS, FIRST, GENRES, LANGUAGES, LAST, NOUNS, PLACES, PUBLISHERS, WORDS

#: loads at least this large (and at least half the existing catalog) rebuild indexes once
BULK_THRESHOLD = 10_000
NULL = r"\N"


def make_isbn(number: int) -> str:
    """A valid ISBN-13 for ``number`` (0 <= number < 2 * 10**9)."""
    prefix = "978" if number < 10**9 else "979"
    first12 = f"{prefix}{number % 10**9:09d}"
    return first12 + str(isbn13_check_digit(first12))


def copy_line(row: tuple) -> str:
    """One row in COPY text format, escaped."""
    return "\t".join(_copy_escape(value) for value in row) + "\n"


def _copy_escape(value: object) -> str:
    if value is None:
        return r"\N"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ").replace("\r", " ")


class _RowStream(io.RawIOBase):
    """A file-like object that COPY reads; rows are produced only as PostgreSQL asks."""

    def __init__(self, lines: Iterator[str], progress: Callable[[int], None] | None = None):
        self.lines = lines
        self.buffer = b""
        self.progress = progress
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 20
        parts = [self.buffer]
        length = len(self.buffer)
        while length < size:
            try:
                line = next(self.lines).encode()
            except StopIteration:
                break
            parts.append(line)
            length += len(line)
            self.count += 1
            if self.progress and self.count % 5000 == 0:
                self.progress(self.count)
        data = b"".join(parts)
        self.buffer = data[size:]
        return data[:size]

    def readline(self, size: int = -1) -> bytes:  # pragma: no cover - COPY uses read()
        return self.read(size)


@dataclass
class SeedResult:
    books: int
    authors: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.books / self.seconds if self.seconds else float("inf")


def _progress_bar(total: int, label: str, stream=sys.stderr) -> Callable[[int], None]:
    started = time.monotonic()
    interactive = stream.isatty()

    shown = {"last": -1}

    def show(done: int) -> None:
        if done == shown["last"]:
            return
        shown["last"] = done
        elapsed = time.monotonic() - started
        rate = done / elapsed if elapsed else 0
        width = 30
        filled = int(width * done / total) if total else width
        line = f"{label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} {rate:,.0f}/s"
        if interactive:
            stream.write("\r" + line)
            if done >= total:
                stream.write("\n")
        elif done >= total or done % max(total // 10, 5000) < 5000:
            stream.write(line + "\n")
        stream.flush()

    return show


#: secondary indexes and foreign keys set aside during a bulk load and rebuilt after it
BULK_INDEXES = (
    "ix_books_search",
    "ix_books_search_text_trgm",
    "ix_books_live_title",
    "ix_books_live_price",
    "ix_books_live_newest",
    "ix_books_live_bestselling",
    "ix_books_live_rating",
)
BULK_FOREIGN_KEYS = ("book_authors", "book_genres")


def _drop_secondary_structures(cursor) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Drop the books' secondary indexes and the link tables' foreign keys; return their definitions.

    Building a GIN index once is several times faster than maintaining it row by
    row, and one validation query beats a foreign-key check per row. The
    definitions come from the catalog, so they always match the migrations.
    """
    cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)", (list(BULK_INDEXES),))
    indexes = []
    for name, definition in cursor.fetchall():
        indexes.append(definition)
        cursor.execute(f'DROP INDEX "{name}"')
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
        (list(BULK_FOREIGN_KEYS),),
    )
    constraints = []
    for table, name, definition in cursor.fetchall():
        constraints.append((table, name, definition))
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    return indexes, constraints


def _parallel(engine: Engine, jobs: list[Callable]) -> None:
    """Run each job(cursor) on its own connection and transaction, concurrently."""
    errors: list[BaseException] = []

    def run(job: Callable) -> None:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("SET synchronous_commit = off")
            cursor.execute("SET statement_timeout = 0")  # index builds on a big catalog take long
            cursor.execute("SET maintenance_work_mem = '256MB'")
            cursor.execute("SET bookstore.bulk_load = 'on'")
            job(cursor)
            raw.commit()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            raw.rollback()
            errors.append(exc)
        finally:
            raw.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


CHUNK = 10_000
LOADERS = 2


def _title(r: random.Random) -> str:
    pattern = r.random()
    if pattern < 0.3:
        return f"The {r.choice(ADJECTIVES)} {r.choice(NOUNS)}"
    if pattern < 0.55:
        return f"The {r.choice(NOUNS)} of {r.choice(PLACES)}"
    if pattern < 0.75:
        return f"{r.choice(ADJECTIVES)} {r.choice(NOUNS)}s"
    if pattern < 0.9:
        return f"A {r.choice(NOUNS)} in {r.choice(PLACES)}"
    return f"{r.choice(FIRST)} and the {r.choice(ADJECTIVES)} {r.choice(NOUNS)}"


def _author_names(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct generated names (first name, middle initial or none, last name)."""
    combos = len(FIRST) * len(LAST) * 27
    names = []
    for pick in rng.sample(range(combos), min(count, combos)):
        first, rest = divmod(pick, len(LAST) * 27)
        last, middle = divmod(rest, 27)
        initial = f" {chr(64 + middle)}." if middle else ""
        names.append(f"{FIRST[first]}{initial} {LAST[last]}")
    return names


class _Seeder:
    """One seeding run: the shared pools (genres, authors, blurbs) and the book rows of each chunk."""

    def __init__(self, cursor, books: int, seed: int, currency: str, today: dt.date):
        self.books, self.seed, self.currency, self.today = books, seed, currency, today
        self.rng = random.Random(seed)
        self.genre_ids = self._genres(cursor)
        self.genre_slugs = [slug for slug, _ in GENRES]
        self.existing, self.pool, self.new_authors = self._authors(cursor)
        cursor.execute("SELECT setval('books_id_seq', nextval('books_id_seq') + %s - 1) - %s + 1", (books, books))
        self.first_book_id = cursor.fetchone()[0]
        self.last_book_id = self.first_book_id + books - 1
        self.isbn_base = self.rng.randrange(0, 2 * 10**9 - books - 1)
        # a pool of blurbs: each book draws one (4096 distinct)
        self.descriptions = [
            " ".join(self.rng.choices(WORDS, k=self.rng.randint(18, 36))).capitalize() + "." for _ in range(4096)
        ]

    @staticmethod
    def _genres(cursor) -> dict[str, int]:
        for slug, name in GENRES:
            cursor.execute(
                "INSERT INTO genres (slug, name) VALUES (%s, %s) ON CONFLICT (slug) DO NOTHING", (slug, name)
            )
        cursor.execute("SELECT slug, id FROM genres")
        return dict(cursor.fetchall())

    def _authors(self, cursor) -> tuple[dict[str, tuple[int, str]], list[tuple[int, str]], int]:
        """A deterministic pool of authors, reusing any that already exist; the new ones are COPYed."""
        names = _author_names(self.rng, max(40, self.books // 4))
        classic_names = [author for _, author, _, _ in CLASSICS]
        cursor.execute("SELECT lower(name), id, name FROM authors")
        existing = {low: (ident, name) for low, ident, name in cursor.fetchall()}
        new_names = [n for n in dict.fromkeys(classic_names + names) if n.lower() not in existing]
        if new_names:
            cursor.execute(
                "SELECT setval('authors_id_seq', nextval('authors_id_seq') + %s - 1) - %s + 1",
                (len(new_names), len(new_names)),
            )
            first_author_id = cursor.fetchone()[0]
            author_rows = ((first_author_id + i, name) for i, name in enumerate(new_names))
            cursor.copy_expert("COPY authors (id, name) FROM STDIN", _RowStream(map(copy_line, author_rows)))
            for i, name in enumerate(new_names):
                existing[name.lower()] = (first_author_id + i, name)
        return existing, [existing[n.lower()] for n in names], len(new_names)

    def _book(self, r: random.Random, i: int) -> tuple[str, str | None, list[tuple[int, str]], list[str]]:
        """Title, subtitle, authors and genre slugs of the ``i``-th book (the classics first)."""
        if i < len(CLASSICS) and self.books >= len(CLASSICS):
            title, author_name, g1, g2 = CLASSICS[i]
            return title, None, [self.existing[author_name.lower()]], [g for g in (g1, g2) if g]
        title = _title(r)
        roll = r.random()
        count = 1 if roll < 0.72 else 2 if roll < 0.93 else 3
        authors = r.sample(self.pool, count) if len(self.pool) >= count else self.pool[:1]
        genres = r.sample(self.genre_slugs, 1 if r.random() < 0.6 else 2)
        subtitle = f"A Novel of {r.choice(PLACES)}" if r.random() < 0.15 else None
        return title, subtitle, authors, genres

    def load_chunk(self, cursor, chunk: int) -> int:
        """COPY one chunk of books with their author and genre links; returns how many books."""
        r = random.Random(f"{self.seed}:{chunk}")
        start, stop = chunk * CHUNK, min(self.books, (chunk + 1) * CHUNK)
        links_authors: list[str] = []
        links_genres: list[str] = []

        def book_rows() -> Iterator[str]:
            for i in range(start, stop):
                book_id = self.first_book_id + i
                title, subtitle, authors, genres = self._book(r, i)
                published = self.today - dt.timedelta(days=r.randint(0, 365 * 60))
                price = f"{r.randint(4, 79)}.{r.choice(('99', '95', '50', '00', '49'))}"
                stock = 0 if r.random() < 0.08 else r.randint(1, 60)
                sales = max(int(r.paretovariate(1.5) * 10) - 10, 0)
                links_authors.extend(f"{book_id}\t{author_id}\t{pos}\n" for pos, (author_id, _) in enumerate(authors))
                linked_genres = sorted(self.genre_ids[slug] for slug in genres)
                links_genres.extend(f"{book_id}\t{genre_id}\n" for genre_id in linked_genres)
                # Generated text never holds tabs, newlines or backslashes: no escaping needed.
                yield (
                    f"{book_id}\t{make_isbn(self.isbn_base + i)}\t{title}\t{subtitle or NULL}\t"
                    f"{self.descriptions[r.getrandbits(12)]}\t{r.choice(PUBLISHERS)}\t{published.isoformat()}\t"
                    f"{r.choice(LANGUAGES)}\t{r.randint(80, 1200)}\t{price}\t{self.currency}\t{stock}\t{sales}\t"
                    f"{', '.join(name for _, name in authors)}\t{{{','.join(map(str, linked_genres))}}}\n"
                )

        cursor.copy_expert(
            "COPY books (id, isbn, title, subtitle, description, publisher, published_on, language, pages, "
            "price, currency, stock_quantity, sales_count, authors_text, genre_ids) FROM STDIN",
            _RowStream(book_rows()),
        )
        cursor.copy_expert(
            "COPY book_authors (book_id, author_id, position) FROM STDIN", _RowStream(iter(links_authors))
        )
        cursor.copy_expert("COPY book_genres (book_id, genre_id) FROM STDIN", _RowStream(iter(links_genres)))
        return stop - start

    def remove_loaded(self, cursor) -> None:
        for table in ("book_genres", "book_authors", "books"):
            column = "id" if table == "books" else "book_id"
            cursor.execute(
                f"DELETE FROM {table} WHERE {column} BETWEEN %s AND %s", (self.first_book_id, self.last_book_id)
            )


def _load_bulk(engine: Engine, raw, cursor, seeder: _Seeder, load: Callable, chunks: list[int]) -> None:
    """Set secondary indexes and link foreign keys aside, load with two connections, rebuild."""
    indexes, constraints = _drop_secondary_structures(cursor)
    raw.commit()
    try:
        _parallel(
            engine, [lambda c, mine=chunks[w::LOADERS]: [load(c, chunk) for chunk in mine] for w in range(LOADERS)]
        )
    except BaseException:
        seeder.remove_loaded(cursor)
        raw.commit()
        raise
    finally:
        # GIN builds are the slow ones: one per connection first, then the b-trees.
        indexes.sort(key=lambda definition: "USING gin" not in definition)
        _parallel(engine, [lambda c, mine=indexes[w::LOADERS]: [c.execute(d) for d in mine] for w in range(LOADERS)])
        for table, name, definition in constraints:
            cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        raw.commit()


def seed_catalog(
    engine: Engine,
    books: int,
    seed: int = 1,
    currency: str = "USD",
    progress: bool = True,
    today: dt.date | None = None,
) -> SeedResult:
    """Add ``books`` generated books (and their authors) to the catalog.

    Small loads run in one transaction. Large ones (``BULK_THRESHOLD`` books and
    at least half the existing catalog) set secondary indexes and link-table
    foreign keys aside, load with two connections in parallel, and rebuild; if
    the load fails, the rows it added are removed and the structures restored.
    Each chunk of books has its own random stream, so the result does not depend
    on how the chunks were scheduled. Publication dates reach back 60 years from
    ``today`` (the real today unless given).
    """
    started = time.monotonic()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT pg_advisory_lock(7363)")  # one seeder at a time
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET statement_timeout = 0")
        cursor.execute("SET bookstore.bulk_load = 'on'")
        seeder = _Seeder(cursor, books, seed, currency, today or dt.date.today())
        cursor.execute("SELECT count(*) FROM books")
        bulk = books >= BULK_THRESHOLD and books >= cursor.fetchone()[0] // 2
        raw.commit()

        bar = _progress_bar(books, "seeding books") if progress else None
        done = [0]
        done_lock = threading.Lock()

        def load(cursor, chunk: int) -> None:
            count = seeder.load_chunk(cursor, chunk)
            if bar:
                with done_lock:
                    done[0] += count
                    bar(done[0])

        chunks = list(range((books + CHUNK - 1) // CHUNK))
        if bulk:
            _load_bulk(engine, raw, cursor, seeder, load, chunks)
        else:
            for chunk in chunks:
                load(cursor, chunk)
            raw.commit()
        # Fresh statistics, so the very next searches are planned well (the two in parallel).
        _parallel(
            engine, [lambda c: c.execute("ANALYZE books"), lambda c: c.execute("ANALYZE book_authors, book_genres")]
        )
        cursor.execute("SELECT pg_advisory_unlock(7363)")
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    return SeedResult(books, seeder.new_authors, time.monotonic() - started)


def catalog_size(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM books")).scalar_one())


# -- demo covers ---------------------------------------------------------------

#: (top, bottom, ink) colours of the demo covers' gradients
COVER_PALETTES = [
    ((19, 49, 92), (8, 20, 40), (244, 226, 186)),
    ((107, 45, 92), (40, 12, 36), (255, 236, 214)),
    ((31, 95, 74), (10, 36, 28), (236, 244, 220)),
    ((122, 59, 18), (48, 20, 6), (255, 230, 190)),
    ((59, 63, 143), (20, 22, 60), (230, 232, 255)),
    ((200, 170, 110), (120, 90, 50), (30, 24, 16)),
]


def draw_cover(title: str, author: str, rng: random.Random, size: tuple[int, int] = (600, 900)) -> bytes:
    """A plausible book cover drawn with Pillow (a gradient, an ornament, the title and author), as PNG."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = size
    top, bottom, ink = rng.choice(COVER_PALETTES)
    image = Image.new("RGB", size, top)
    draw = ImageDraw.Draw(image)
    for y in range(height):  # vertical gradient
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    margin = width // 12
    draw.rectangle([margin // 2, margin // 2, width - margin // 2, height - margin // 2], outline=ink, width=3)
    # an ornament: concentric circles or a sun of rays, in the lower half
    cx, cy, radius = width // 2, int(height * 0.62), width // 5
    if rng.random() < 0.5:
        for step in range(4):
            r = radius - step * radius // 4
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=ink, width=2)
    else:
        for ray in range(24):
            angle = ray * 15
            end = (cx + radius * math.cos(math.radians(angle)), cy + radius * math.sin(math.radians(angle)))
            draw.line([(cx, cy), end], fill=ink, width=2)
    title_font = ImageFont.load_default(size=width // 11)
    author_font = ImageFont.load_default(size=width // 20)
    draw.multiline_text(
        (width // 2, height // 6), _wrap(title, 16), font=title_font, fill=ink, anchor="ma", align="center"
    )
    draw.text((width // 2, height - margin * 2), author, font=author_font, fill=ink, anchor="ms")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _wrap(text_: str, width: int) -> str:
    lines: list[str] = []
    for word in text_.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines[:5])


def seed_covers(engine: Engine, settings: dict, count: int = 24, seed: int = 1) -> int:
    """Give the ``count`` best-selling books without a cover one drawn here (nothing is downloaded),
    through the same checks, renditions and storage as a staff upload. Returns how many got one."""
    from bookstore_api.covers.images import process_cover
    from bookstore_api.covers.services import RENDITION_TYPE, cover_keys
    from bookstore_api.covers.storage import storage_from_settings

    storage = storage_from_settings(settings)
    rng = random.Random(seed)
    with engine.begin() as connection:
        rows = connection.execute(
            text(
                "SELECT id, title, coalesce(authors_text, '') FROM books"
                " WHERE cover_url IS NULL AND archived_at IS NULL ORDER BY sales_count DESC, id LIMIT :n"
            ),
            {"n": count},
        ).all()
        for book_id, title, authors in rows:
            cover = process_cover(draw_cover(title, authors.split(",")[0].strip(), rng), "image/png")
            keys = cover_keys(book_id, cover.digest, cover.largest.width)
            for key, rendition in zip(keys, cover.renditions, strict=True):
                storage.put(key, rendition.data, RENDITION_TYPE)
            urls = [storage.url(key) for key in keys]
            connection.execute(
                text(
                    "UPDATE books SET cover_image = :digest, cover_url = :url, cover_srcset = :srcset,"
                    " cover_width = :width, cover_height = :height WHERE id = :id"
                ),
                {
                    "digest": cover.digest,
                    "url": urls[-1],
                    "srcset": ", ".join(f"{u} {r.width}w" for u, r in zip(urls, cover.renditions, strict=True)),
                    "width": cover.largest.width,
                    "height": cover.largest.height,
                    "id": book_id,
                },
            )
    return len(rows)


def has_uploaded_covers(engine: Engine) -> bool:
    with engine.connect() as connection:
        return connection.execute(text("SELECT EXISTS (SELECT 1 FROM books WHERE cover_image IS NOT NULL)")).scalar()
