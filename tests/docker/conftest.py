"""Each image's virtualenv, made here as its Dockerfile's builder stage makes it.

From the build context (.dockerignore) alone: ``pip install -r requirements/<app>.txt``,
then the app's wheel (``BOOKSTORE_DIST=<app> pip wheel``) installed without
dependencies. The tests run the image's command from this venv, and check what it
holds, so an import the image cannot satisfy fails here rather than on a host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .dockerfile import REPO_ROOT, build_context_files


def _run(argv: list[str], **kwargs) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, **kwargs)
    assert result.returncode == 0, f"{' '.join(argv)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"


@pytest.fixture(scope="session")
def build_context(tmp_path_factory) -> Path:
    context = tmp_path_factory.mktemp("context")
    for relative in build_context_files():
        target = context / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, target)
    return context


@pytest.fixture(scope="session")
def image_venv(build_context, tmp_path_factory):
    """``image_venv(app)`` -> the path of a venv built as that image's builder builds /opt/venv."""
    made: dict[str, Path] = {}

    def make(app: str) -> Path:
        if app not in made:
            venv = tmp_path_factory.mktemp(f"{app}-venv")
            wheels = tmp_path_factory.mktemp(f"{app}-wheels")
            env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
            _run([sys.executable, "-m", "venv", str(venv)])
            python = str(venv / "bin" / "python")
            # the images pin setuptools < 81 for Pyramid's pkg_resources; take this interpreter's
            _run([python, "-m", "pip", "install", "-q", "setuptools<81", "wheel"], env=env)
            _run([python, "-m", "pip", "install", "-q", "-r", f"requirements/{app}.txt"], cwd=build_context, env=env)
            _run(
                [
                    python,
                    "-m",
                    "pip",
                    "wheel",
                    "-q",
                    "--no-deps",
                    "--no-build-isolation",
                    "--wheel-dir",
                    str(wheels),
                    ".",
                ],
                cwd=build_context,
                env={**env, "BOOKSTORE_DIST": app, "PIP_NO_INDEX": "1"},
            )
            (wheel,) = wheels.glob("*.whl")
            _run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], env=env)
            made[app] = venv
        return made[app]

    return make
