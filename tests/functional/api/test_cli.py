"""The ``bookstore`` command: migrate and create-user (the API's), and a checkout's deterministic ``seed``."""

from __future__ import annotations

import hashlib

import psycopg2
import pytest

from bookstore_api.catalog.schemas import normalize_isbn
from bookstore_api.cli import main as cli
from bookstore_dev.cli import main as dev_cli
from tests.helpers.services import create_database, drop_database

pytestmark = [pytest.mark.needs_db, pytest.mark.slow]


def fingerprint(url: str) -> tuple[int, str]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT b.isbn, b.title, b.price::text, b.stock_quantity, b.authors_text, "
            "(SELECT string_agg(g.slug, ',' ORDER BY g.slug) FROM book_genres bg JOIN genres g ON g.id = bg.genre_id "
            " WHERE bg.book_id = b.id) FROM books b ORDER BY b.isbn"
        )
        rows = cursor.fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.fixture
def fresh_databases(services, monkeypatch):
    names = ["bookstore_cli_a", "bookstore_cli_b"]
    urls = [create_database(services.server_url, name) for name in names]
    monkeypatch.setenv("BOOKSTORE_REDIS_URL", services.redis_url)
    yield urls
    for name in names:
        drop_database(services.server_url, name)


def test_migrate_seed_is_deterministic_and_create_user(fresh_databases, monkeypatch, capsys):
    for url in fresh_databases:
        monkeypatch.setenv("BOOKSTORE_DATABASE_URL", url)
        assert cli(["migrate"]) == 0
        assert cli(["migrate"]) == 0  # idempotent
        assert dev_cli(["seed", "--books", "300", "--seed", "7", "--quiet"]) == 0
    first, second = (fingerprint(url) for url in fresh_databases)
    assert first == second and first[0] == 300

    url = fresh_databases[0]
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT isbn FROM books")
        assert all(normalize_isbn(isbn) == isbn for (isbn,) in cursor.fetchall())
        cursor.execute("SELECT count(*) FROM books WHERE authors_text IS NULL OR search_vector = ''::tsvector")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM books WHERE authors_text LIKE '%,%'")
        assert cursor.fetchone()[0] > 0  # some books have several authors
        cursor.execute("SELECT count(*) FROM books WHERE title = 'The Hobbit'")
        assert cursor.fetchone()[0] == 1

    monkeypatch.setenv("BOOKSTORE_DATABASE_URL", url)
    assert dev_cli(["seed", "--books", "50", "--seed", "8", "--quiet"]) == 0  # adds to an existing catalog
    assert fingerprint(url)[0] == 350
    assert cli(["create-user", "--email", "Boss@Example.com", "--password", "boss password 1", "--role", "admin"]) == 0
    assert cli(["create-user", "--email", "boss@example.com", "--password", "short", "--role", "admin"]) == 2
    assert cli(["create-user", "--email", "boss@example.com", "--password", "boss password 2", "--role", "king"]) == 2
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT role, password_hash LIKE '$argon2id$%' FROM users WHERE email = 'boss@example.com'")
        assert cursor.fetchone() == ("admin", True)
    assert "created admin boss@example.com" in capsys.readouterr().out


def test_bulk_seed_restores_indexes_and_foreign_keys(fresh_databases, monkeypatch):
    """A large load sets secondary indexes and link foreign keys aside; all must come back."""
    url = fresh_databases[1]
    monkeypatch.setenv("BOOKSTORE_DATABASE_URL", url)
    assert cli(["migrate"]) == 0

    def structures():
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'books' ORDER BY indexname")
            indexes = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' ORDER BY 1"
            )
            return indexes, cursor.fetchall()

    before = structures()
    assert dev_cli(["seed", "--books", "10000", "--seed", "3", "--quiet"]) == 0  # the bulk path
    assert structures() == before
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM books WHERE search_vector @@ websearch_to_tsquery('english', 'hobbit')")
        assert cursor.fetchone()[0] >= 1
        cursor.execute("SELECT count(*) FROM book_authors ba LEFT JOIN books b ON b.id = ba.book_id WHERE b.id IS NULL")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM books")
        assert cursor.fetchone()[0] == 10000
