"""Packaging for the bookstore platform: the JSON API and the web storefront."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def requirements() -> list[str]:
    """Top-level runtime requirements (the pinned set lives in requirements.txt)."""
    lines = (HERE / "requirements" / "app.in").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="bookstore",
    version="0.1.0",
    description="Online bookstore platform: Pyramid JSON API and web storefront",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["bookstore_api", "bookstore_api.*", "bookstore_web", "bookstore_web.*"]),
    include_package_data=True,
    package_data={
        "bookstore_api": ["openapi.yaml", "migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"],
        "bookstore_web": ["templates/**/*", "static/**/*"],
    },
    install_requires=requirements(),
    entry_points={
        "paste.app_factory": [
            "main = bookstore_api:main",
            "api = bookstore_api:main",
            "web = bookstore_web:main",
        ],
        "console_scripts": ["bookstore = bookstore_api.cli:main"],
    },
    zip_safe=False,
)
