"""Catalogue import (CSV in, a report out) and export (the catalogue as CSV, streamed) — staff only."""

from __future__ import annotations

import logging

import transaction
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from ..http.errors import APIError
from ..http.helpers import query_params
from .services import ImportService, export_lines

log = logging.getLogger(__name__)


@view_config(route_name="api.imports.books", request_method="POST", renderer="json", permission="staff", openapi=True)
def import_books(request: Request) -> dict:
    dry_run = bool(query_params(request).get("dry_run"))
    service = request.find_service(ImportService)
    parsed = service.check(request.body or b"")
    if parsed.error_count and not dry_run:
        report = service.report(parsed, dry_run=False).as_dict()
        raise APIError(
            400,
            "import_invalid",
            f"{parsed.error_count} problem(s) in the file; nothing was imported.",
            {"fields": {"body": "Some rows are not valid; see errors."}, **report},
        )
    report = service.run(parsed, dry_run=dry_run, actor_user_id=request.identity.user_id)
    if not dry_run:
        log.info(
            "catalogue import",
            extra={
                "rows": report.rows,
                "created": report.created,
                "updated": report.updated,
                "user": request.identity.user_id,
            },
        )
    return report.as_dict()


@view_config(route_name="api.exports.books", request_method="GET", permission="staff", openapi=True)
def export_books(request: Request) -> Response:
    """The live catalogue as CSV, streamed: read in chunks in a read-only transaction of its own.

    The request's transaction has ended by the time the body is sent, so the
    stream opens a session of its own and ends it when the last row is out (or
    the client goes away).
    """
    factory = request.registry["dbsession_factory"]

    def stream():
        manager = transaction.manager
        manager.begin()
        try:
            session = factory()
            for line in export_lines(session):
                yield line.encode()
        finally:
            manager.abort()

    response = Response(content_type="text/csv", charset="utf-8")
    response.app_iter = stream()
    response.headers["Content-Disposition"] = 'attachment; filename="catalogue.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
