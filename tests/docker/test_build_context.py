"""The images' build context (.dockerignore) holds what the project wheel needs,
and the builder stage's wheel step, run on exactly that context, makes a wheel
with the API's spec and migrations, the storefront's templates and static files,
and the `bookstore` console script the images run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from .dockerfile import REPO_ROOT, dockerfile_of


def ignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _matches(pattern: str, relative: str) -> bool:
    """Docker's rule, enough for our file: a pattern matches a path or any of its parent folders."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(fnmatchcase(part, tail) for part in parts)
    return any(fnmatchcase(prefix, pattern) for prefix in prefixes)


def in_context(relative: str, patterns: list[str]) -> bool:
    included = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _matches(pattern.lstrip("!").rstrip("/"), relative):
            included = negated
    return included


def build_context_files() -> list[str]:
    patterns = ignore_patterns()
    reincluded = [p.lstrip("!").rstrip("/") for p in patterns if p.startswith("!")]
    found: list[str] = []
    for folder, dirs, files in os.walk(REPO_ROOT):
        base = Path(folder).relative_to(REPO_ROOT).as_posix()
        base = "" if base == "." else base + "/"
        dirs[:] = [
            d for d in dirs if in_context(base + d, patterns) or any(r.startswith(base + d + "/") for r in reincluded)
        ]
        found += [base + f for f in files if in_context(base + f, patterns)]
    return sorted(found)


def test_build_context_is_small_and_holds_the_sources():
    files = build_context_files()
    assert {"setup.py", "MANIFEST.in", "README.md", "requirements.txt", "requirements/app.in"} <= set(files)
    assert "bookstore_api/openapi.yaml" in files
    assert not [f for f in files if f.startswith(("tests/", ".venv/", "var/", ".git/", "docker/"))]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


@pytest.mark.slow
def test_builder_makes_a_complete_wheel_from_the_build_context(tmp_path):
    context = tmp_path / "context"
    for relative in build_context_files():
        target = context / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, target)
    builder_runs = " ".join(i.args for i in dockerfile_of("api").stages[0].all("RUN"))
    assert "pip wheel --no-deps --no-build-isolation --wheel-dir /wheels ." in builder_runs
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            ".",
        ],
        cwd=context,  # as the builder does: WORKDIR /src, `pip wheel ... .`
        env={**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("bookstore-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "bookstore_api/openapi.yaml" in names
    assert "bookstore_api/migrations/env.py" in names
    assert any(n.startswith("bookstore_api/migrations/versions/") and n.endswith(".py") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "bookstore = bookstore_api.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    if (REPO_ROOT / "bookstore_web" / "__init__.py").exists():
        assert "bookstore_web/__init__.py" in names
        for folder in ("templates", "static"):
            if (REPO_ROOT / "bookstore_web" / folder).is_dir():
                assert any(n.startswith(f"bookstore_web/{folder}/") for n in names), folder
