"""Inventory endpoints (staff): the stock ledger and the low-stock report."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from ..catalog.schemas import book_out
from ..http.helpers import json_body, page_body, paging, path_param, query_params
from .services import LOW_STOCK_THRESHOLD, InventoryService, movement_out


@view_config(route_name="api.book.stock", request_method="POST", renderer="json", permission="staff", openapi=True)
def add_movement(request: Request) -> dict:
    body = json_body(request)
    movement = request.find_service(InventoryService).staff_movement(
        path_param(request, "book_id"), body["delta"], body["reason"], body.get("note"), request.identity.user_id
    )
    request.response.status = 201
    return movement_out(movement)


@view_config(route_name="api.book.stock", request_method="GET", renderer="json", permission="staff", openapi=True)
def ledger(request: Request) -> dict:
    page, per_page = paging(query_params(request))
    rows, total = request.find_service(InventoryService).ledger(path_param(request, "book_id"), page, per_page)
    return page_body([movement_out(row) for row in rows], total, page, per_page)


@view_config(route_name="api.low_stock", request_method="GET", renderer="json", permission="staff", openapi=True)
def low_stock(request: Request) -> dict:
    params = query_params(request)
    page, per_page = paging(params)
    threshold = int(params.get("threshold") if params.get("threshold") is not None else LOW_STOCK_THRESHOLD)
    books, total = request.find_service(InventoryService).low_stock(threshold, page, per_page)
    return page_body([book_out(book, staff=True) for book in books], total, page, per_page)
