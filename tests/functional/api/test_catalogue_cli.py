"""``bookstore import-books`` / ``export-books`` on a database of their own (they commit batch by batch)."""

from __future__ import annotations

import psycopg2
import pytest

from bookstore_api.cli import main as cli
from bookstore_dev.seed import make_isbn
from tests.helpers.services import create_database, drop_database

pytestmark = [pytest.mark.needs_db, pytest.mark.slow]

HEADER = "isbn,title,authors,genres,price,stock,description,publisher,published,language,pages\n"


@pytest.fixture
def database(services, monkeypatch):
    url = create_database(services.server_url, "bookstore_import_cli")
    monkeypatch.setenv("BOOKSTORE_DATABASE_URL", url)
    monkeypatch.setenv("BOOKSTORE_REDIS_URL", services.redis_url)
    monkeypatch.setenv("BOOKSTORE_REDIS_PREFIX", services.redis_prefix + "cli:")
    assert cli(["migrate"]) == 0
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("INSERT INTO genres (slug, name) VALUES ('fiction', 'Fiction'), ('poetry', 'Poetry')")
    yield url
    drop_database(services.server_url, "bookstore_import_cli")


def query(url: str, sql: str) -> list[tuple]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def test_import_in_batches_again_and_export(database, tmp_path, capsys):
    rows = [
        f"{make_isbn(800_000_000 + i)},Book {i},Author {i % 7};Second {i % 3},fiction,{i % 50}.25,{i % 4},,,,,\n"
        for i in range(25)
    ]
    source = tmp_path / "books.csv"
    source.write_text(HEADER + "".join(rows))

    assert cli(["import-books", str(source), "--dry-run", "--batch-size", "10"]) == 0
    assert "would create 25" in capsys.readouterr().out
    assert query(database, "SELECT count(*) FROM books") == [(0,)]

    assert cli(["import-books", str(source), "--batch-size", "10"]) == 0
    out, err = capsys.readouterr()
    assert "25 rows: created 25, updated 0, unchanged 0" in out
    assert "25/25 rows" in err  # the progress line
    assert query(database, "SELECT count(*) FROM books") == [(25,)]
    assert query(database, "SELECT count(*) FROM stock_movements WHERE note = 'catalogue import'") == [
        (sum(1 for i in range(25) if i % 4),)
    ]
    assert query(database, f"SELECT authors_text FROM books WHERE isbn = '{make_isbn(800_000_008)}'") == [
        ("Author 1, Second 2",)
    ]

    assert cli(["import-books", str(source), "--batch-size", "7"]) == 0
    assert "created 0, updated 0, unchanged 25" in capsys.readouterr().out

    exported = tmp_path / "export.csv"
    assert cli(["export-books", str(exported)]) == 0
    assert "exported 25 books" in capsys.readouterr().err
    assert cli(["import-books", str(exported)]) == 0
    assert "created 0, updated 0, unchanged 25" in capsys.readouterr().out

    # --start-row skips what an interrupted run committed
    changed = tmp_path / "changed.csv"
    changed.write_text(HEADER + "".join(row.replace(",fiction,", ",poetry,") for row in rows))
    assert cli(["import-books", str(changed), "--start-row", "20"]) == 0
    assert "created 0, updated 7, unchanged 0" in capsys.readouterr().out


def test_a_bad_file_imports_nothing(database, tmp_path, capsys):
    source = tmp_path / "bad.csv"
    source.write_text(
        HEADER
        + f"{make_isbn(800_000_001)},Fine,Ann,fiction,1.00,1,,,,,\n"
        + "9780000000001,Bad,Ann,westerns,x,1,,,,,\n"
    )
    assert cli(["import-books", str(source)]) == 1
    err = capsys.readouterr().err
    assert "row 3: isbn: invalid_isbn" in err
    assert "row 3: genres: unknown_genre" in err
    assert "row 3: price: invalid_price" in err
    assert "nothing was imported" in err
    assert query(database, "SELECT count(*) FROM books") == [(0,)]
    (tmp_path / "empty.csv").write_text("")
    assert cli(["import-books", str(tmp_path / "empty.csv")]) == 1
    assert "header" in capsys.readouterr().err
