"""Order endpoints: checkout, reading and the lifecycle."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from ..exceptions import VoucherInvalid
from ..http.helpers import json_body, page_body, paging, path_param, query_params
from ..http.security import client_address
from ..vouchers.services import VoucherGuessLimit
from . import lifecycle
from .models import Order
from .schemas import order_out, parse_checkout
from .services import OrderService


def _order_body(request: Request, service: OrderService, order: Order) -> dict:
    """The order as the caller sees it, with the ``actions`` the lifecycle allows them now."""
    return {**order_out(order), "actions": service.actions(order, request.identity)}


@view_config(route_name="api.orders", request_method="POST", renderer="json", permission="authenticated", openapi=True)
def place_order(request: Request) -> dict:
    key = request.validated.headers["Idempotency-Key"].strip()  # the spec requires it, 1 to 255 characters
    checkout = parse_checkout(json_body(request))
    service = request.find_service(OrderService)
    address = client_address(request)
    guesses = request.find_service(VoucherGuessLimit) if checkout.voucher_code is not None else None
    if guesses is not None:
        guesses.check(address)
    try:
        order, created = service.place_order(request.identity, key, checkout, address)
    except VoucherInvalid as exc:
        if guesses is not None and exc.details.get("reason") == "unknown":
            guesses.missed(address)
        raise
    request.response.status = 201 if created else 200
    request.response.headers["Location"] = request.route_path("api.order", order_id=order.id)
    return _order_body(request, service, order)


@view_config(route_name="api.orders", request_method="GET", renderer="json", permission="authenticated", openapi=True)
def list_orders(request: Request) -> dict:
    params = query_params(request)
    page, per_page = paging(params)
    service = request.find_service(OrderService)
    orders, total = service.list(request.identity, params.get("status"), page, per_page)
    return page_body([_order_body(request, service, order) for order in orders], total, page, per_page)


@view_config(route_name="api.order", request_method="GET", renderer="json", permission="authenticated", openapi=True)
def get_order(request: Request) -> dict:
    service = request.find_service(OrderService)
    return _order_body(request, service, service.get(path_param(request, "order_id"), request.identity))


def _transition(request: Request, action: str) -> dict:
    service = request.find_service(OrderService)
    return _order_body(request, service, service.transition(path_param(request, "order_id"), request.identity, action))


@view_config(
    route_name="api.order.cancel", request_method="POST", renderer="json", permission="authenticated", openapi=True
)
def cancel_order(request: Request) -> dict:
    return _transition(request, lifecycle.CANCEL)


@view_config(route_name="api.order.ship", request_method="POST", renderer="json", permission="staff", openapi=True)
def ship_order(request: Request) -> dict:
    return _transition(request, lifecycle.SHIP)


@view_config(route_name="api.order.deliver", request_method="POST", renderer="json", permission="staff", openapi=True)
def deliver_order(request: Request) -> dict:
    return _transition(request, lifecycle.DELIVER)
