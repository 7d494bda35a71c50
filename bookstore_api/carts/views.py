"""Cart endpoints."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from ..http.helpers import json_body, path_param, query_params
from ..http.security import client_address
from ..vouchers.services import VoucherGuessLimit
from .services import CartService


@view_config(route_name="api.carts", request_method="POST", renderer="json", openapi=True)
def create_cart(request: Request) -> dict:
    service = request.find_service(CartService)
    cart, created = service.create(request.identity)
    request.response.status = 201 if created else 200
    request.response.headers["Location"] = request.route_path("api.cart", cart_id=cart.id)
    return service.render(cart)


@view_config(route_name="api.cart", request_method="GET", renderer="json", openapi=True)
def get_cart(request: Request) -> dict:
    service = request.find_service(CartService)
    cart = service.get(path_param(request, "cart_id"), request.identity)
    code = query_params(request).get("voucher_code")
    if code is None:
        return service.render(cart, identity=request.identity)
    guesses = request.find_service(VoucherGuessLimit)
    guesses.check(client_address(request))
    body = service.render(cart, voucher_code=code, identity=request.identity)
    if body.get("voucher_error", {}).get("reason") == "unknown":
        guesses.missed(client_address(request))
    return body


@view_config(route_name="api.cart.item", request_method="PUT", renderer="json", openapi=True)
def put_item(request: Request) -> dict:
    service = request.find_service(CartService)
    cart = service.get(path_param(request, "cart_id"), request.identity, for_update=True)
    quantity = json_body(request)["quantity"]
    return service.render(service.set_item(cart, path_param(request, "book_id"), quantity))


@view_config(route_name="api.cart.item", request_method="DELETE", renderer="json", openapi=True)
def delete_item(request: Request) -> dict:
    service = request.find_service(CartService)
    cart = service.get(path_param(request, "cart_id"), request.identity, for_update=True)
    return service.render(service.remove_item(cart, path_param(request, "book_id")))


@view_config(
    route_name="api.cart.merge", request_method="POST", renderer="json", permission="authenticated", openapi=True
)
def merge_cart(request: Request) -> dict:
    service = request.find_service(CartService)
    target = service.get(path_param(request, "cart_id"), request.identity, for_update=True)
    if target.user_id != request.identity.user_id:
        from ..http.errors import not_found

        raise not_found("cart")  # only a cart you own can absorb another
    merged = service.merge(target, json_body(request)["from_cart_id"], request.identity)
    return service.render(merged)
