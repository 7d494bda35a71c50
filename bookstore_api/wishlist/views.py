"""Wishlist endpoints under ``/me/wishlist``."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNoContent
from pyramid.request import Request
from pyramid.view import view_config

from ..catalog.schemas import book_out
from ..http.helpers import page_body, paging, path_param, query_params
from .services import WishlistService


@view_config(
    route_name="api.me.wishlist", request_method="GET", renderer="json", permission="authenticated", openapi=True
)
def list_wishlist(request: Request) -> dict:
    page, per_page = paging(query_params(request))
    books, total = request.find_service(WishlistService).list(request.identity.user_id, page, per_page)
    return page_body([book_out(book) for book in books], total, page, per_page)


@view_config(route_name="api.me.wishlist.book", request_method="PUT", permission="authenticated", openapi=True)
def add_to_wishlist(request: Request) -> HTTPNoContent:
    request.find_service(WishlistService).add(request.identity.user_id, path_param(request, "book_id"))
    return HTTPNoContent()


@view_config(route_name="api.me.wishlist.book", request_method="DELETE", permission="authenticated", openapi=True)
def remove_from_wishlist(request: Request) -> HTTPNoContent:
    request.find_service(WishlistService).remove(request.identity.user_id, path_param(request, "book_id"))
    return HTTPNoContent()
