"""Review endpoints."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from ..http.helpers import cacheable_json, json_body, page_body, paging, path_param, query_params
from ..http.renderers import dumps
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
def list_reviews(request: Request):
    book_id = path_param(request, "book_id")
    page, per_page = paging(query_params(request))

    def build() -> bytes:
        rows, total = request.find_service(ReviewService).list_for_book(book_id, page, per_page)
        return dumps(page_body([review_out(review, name) for review, name in rows], total, page, per_page))

    # A new review bumps the book's version, so this entry follows it.
    body = request.registry["catalog_cache"].book_entry(book_id, "reviews", [page, per_page], build)
    return cacheable_json(request, body, max_age=0)
