"""Review endpoints."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from ..views_common import json_body, page_body, paging, path_param, query_params
from .services import ReviewService, review_out


@view_config(
    route_name="api.book.reviews", request_method="POST", renderer="json", permission="authenticated", openapi=True
)
def create_review(request: Request) -> dict:
    body = json_body(request)
    service = request.find_service(ReviewService)
    review = service.create(
        path_param(request, "book_id"),
        request.identity.user_id,
        body.get("rating"),
        body.get("title"),
        body.get("body"),
    )
    request.response.status = 201
    request.dbsession.flush()
    request.dbsession.refresh(review)
    return review_out(review, request.identity.name)


@view_config(route_name="api.book.reviews", request_method="GET", renderer="json", openapi=True)
def list_reviews(request: Request) -> dict:
    page, per_page = paging(query_params(request))
    rows, total = request.find_service(ReviewService).list_for_book(path_param(request, "book_id"), page, per_page)
    return page_body([review_out(review, name) for review, name in rows], total, page, per_page)


def includeme(config) -> None:
    config.include(".services")
