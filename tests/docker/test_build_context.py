"""The images' build context (.dockerignore) holds what the wheels need, and each
image's distribution (``BOOKSTORE_DIST``), built from exactly that context, holds
its own app and the shared core, and nothing of the other app or the dev tooling."""

from __future__ import annotations

import subprocess
from email.parser import Parser

import pytest

from .dockerfile import build_context_files, dockerfile_of

#: what the storefront owns no use for: it has no tables
DATABASE_DISTRIBUTIONS = ("sqlalchemy", "psycopg2", "psycopg2-binary", "alembic", "argon2-cffi", "zope-sqlalchemy")


def test_build_context_is_small_and_holds_the_sources():
    files = set(build_context_files())
    assert {"setup.py", "MANIFEST.in", "README.md", "requirements/api.txt", "requirements/web.txt"} <= files
    assert {"bookstore_api/openapi.yaml", "bookstore_core/__init__.py", "bookstore_web/__init__.py"} <= files
    assert not [f for f in files if f.startswith(("tests/", ".venv/", "var/", ".git/", "docker/", "bookstore_dev/"))]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def _wheel(venv) -> tuple[list[str], str, str]:
    """The installed distribution's files, METADATA and entry points, read from the venv's RECORD."""
    (dist_info,) = [p for p in (venv / "lib").glob("python*/site-packages/bookstore_*-*.dist-info")] or [None]
    assert dist_info is not None, "the bookstore wheel is not installed"
    record = (dist_info / "RECORD").read_text().splitlines()
    names = [line.split(",")[0] for line in record]
    return names, (dist_info / "METADATA").read_text(), (dist_info / "entry_points.txt").read_text()


@pytest.mark.slow
def test_api_image_holds_the_api_and_the_core_only(image_venv):
    builder_runs = " ".join(i.args for i in dockerfile_of("api").stages[0].all("RUN"))
    assert "BOOKSTORE_DIST=api pip wheel --no-deps --no-build-isolation --wheel-dir /wheels ." in builder_runs
    names, metadata, entry_points = _wheel(image_venv("api"))
    assert "bookstore_api/openapi.yaml" in names
    assert "bookstore_api/migrations/env.py" in names
    assert any(n.startswith("bookstore_api/migrations/versions/") and n.endswith(".py") for n in names)
    assert "bookstore_core/__init__.py" in names
    assert not [n for n in names if n.startswith(("bookstore_web/", "bookstore_dev/"))]
    assert "bookstore = bookstore_api.cli:main" in entry_points
    assert "bookstore-web" not in entry_points and "bookstore_dev" not in entry_points
    requires = [v.lower() for k, v in Parser().parsestr(metadata).items() if k == "Requires-Dist"]
    assert any(r.startswith("sqlalchemy") for r in requires)
    assert not [r for r in requires if r.startswith(("httpx", "pyramid-jinja2", "pyramid_jinja2"))]


@pytest.mark.slow
def test_web_image_has_no_database_driver_orm_migrations_or_password_hasher(image_venv):
    venv = image_venv("web")
    names, metadata, entry_points = _wheel(venv)
    assert any(n.startswith("bookstore_web/templates/") for n in names)
    assert any(n.startswith("bookstore_web/static/") for n in names)
    assert "bookstore_core/__init__.py" in names
    assert not [n for n in names if n.startswith(("bookstore_api/", "bookstore_dev/"))]
    assert "bookstore-web = bookstore_web.cli:main" in entry_points
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.lower()
    present = [name for name in DATABASE_DISTRIBUTIONS if f"\n{name}==" in "\n" + installed]
    assert present == [], f"the storefront image would ship {present}"
    requires = [v for k, v in Parser().parsestr(metadata).items() if k == "Requires-Dist"]
    assert not [r for r in requires if r.lower().startswith(DATABASE_DISTRIBUTIONS)]
    # the storefront imports and builds its app without any of them
    probe = (
        "import sys, bookstore_web; app = bookstore_web.main({}); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'psycopg2', 'alembic', 'argon2', 'bookstore_api', 'bookstore_dev')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
        env={"PATH": str(venv / "bin"), "BOOKSTORE_REDIS_URL": "redis://127.0.0.1:9/0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
