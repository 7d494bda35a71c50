"""Cover endpoints (staff): ``PUT /books/{id}/cover`` with the image as the body, ``DELETE`` to remove it.

The body guard (:mod:`bookstore_api.http.tweens`) has already refused bodies
over 5 MB on this route, by ``Content-Length`` and by a bounded read.
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNoContent
from pyramid.request import Request
from pyramid.view import view_config

from ..catalog.schemas import book_out
from .services import CoverService


@view_config(route_name="api.book.cover", request_method="PUT", renderer="json", permission="staff", openapi=True)
def put_cover(request: Request) -> dict:
    service = request.find_service(CoverService)
    book = service.set_cover(request.validated.path["book_id"], request.body, request.content_type)
    return book_out(book, staff=True)


@view_config(route_name="api.book.cover", request_method="DELETE", permission="staff", openapi=True)
def delete_cover(request: Request) -> HTTPNoContent:
    request.find_service(CoverService).delete_cover(request.validated.path["book_id"])
    return HTTPNoContent()
