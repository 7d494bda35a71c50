"""Packaging for the bookstore platform.

One source tree, three distributions, chosen with ``BOOKSTORE_DIST``:

* ``all`` (default): every package, for a development checkout (``pip install -e .``);
  its requirements are both apps' (``requirements/app.in``).
* ``api``: ``bookstore_core`` and ``bookstore_api`` with ``requirements/api.in`` — what the
  API image installs.
* ``web``: ``bookstore_core`` and ``bookstore_web`` with ``requirements/web.in`` — what the
  storefront image installs: no database driver, ORM, migration tool or password hasher.

The development tooling (``bookstore_dev``: embedded servers, ``make run``, demo data)
is only in ``all``; no image installs it.
"""

import os
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

DISTRIBUTIONS = {
    "all": {
        "name": "bookstore",
        "packages": ["bookstore_core", "bookstore_api", "bookstore_web", "bookstore_dev"],
        "requirements": "app.in",
        "apps": ["api", "web"],
    },
    "api": {
        "name": "bookstore-api",
        "packages": ["bookstore_core", "bookstore_api"],
        "requirements": "api.in",
        "apps": ["api"],
    },
    "web": {
        "name": "bookstore-web",
        "packages": ["bookstore_core", "bookstore_web"],
        "requirements": "web.in",
        "apps": ["web"],
    },
}

PACKAGE_DATA = {
    "bookstore_core": ["data/*"],
    "bookstore_api": [
        "openapi.yaml",
        "migrations/*.py",
        "migrations/*.mako",
        "migrations/versions/*.py",
        "mail/templates/*",
    ],
    "bookstore_web": ["templates/**/*", "static/**/*"],
}

APP_ENTRY_POINTS = {
    "api": {
        "paste.app_factory": ["main = bookstore_api:main", "api = bookstore_api:main"],
        "console_scripts": ["bookstore = bookstore_api.cli:main"],
    },
    "web": {
        "paste.app_factory": ["web = bookstore_web:main"],
        "console_scripts": ["bookstore-web = bookstore_web.cli:main"],
    },
}


def requirements(name: str) -> list[str]:
    """The top-level requirements of ``requirements/<name>``, following ``-r`` includes."""
    found: list[str] = []
    for raw in (HERE / "requirements" / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += [req for req in requirements(line[3:].strip()) if req not in found]
        elif line and not line.startswith("-"):
            found.append(line)
    return found


def entry_points(dist: dict) -> dict[str, list[str]]:
    points: dict[str, list[str]] = {"paste.app_factory": [], "console_scripts": []}
    for app in dist["apps"]:
        for group, entries in APP_ENTRY_POINTS[app].items():
            points[group] += entries
    if "bookstore_dev" in dist["packages"]:
        # a development checkout's `bookstore` also runs the shop locally and seeds demo data
        points["console_scripts"] = [
            "bookstore = bookstore_dev.cli:main" if entry.startswith("bookstore =") else entry
            for entry in points["console_scripts"]
        ]
    return points


DIST_NAME = os.environ.get("BOOKSTORE_DIST", "all")
DIST = DISTRIBUTIONS[DIST_NAME]

setup(
    name=DIST["name"],
    version="0.1.0",
    description="Online bookstore platform: Pyramid JSON API and web storefront",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=[f"{package}*" for package in DIST["packages"]]),
    include_package_data=True,
    package_data={package: data for package, data in PACKAGE_DATA.items() if package in DIST["packages"]},
    install_requires=requirements(DIST["requirements"]),
    entry_points=entry_points(DIST),
    zip_safe=False,
    # one build folder per distribution: a web wheel built after an api wheel never picks up its files
    options={"build": {"build_base": f"build/{DIST_NAME}"}},
)
