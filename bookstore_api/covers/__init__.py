"""Covers: uploaded book covers, checked and re-encoded with Pillow, kept in a local directory or S3."""

from __future__ import annotations

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include(".services")
