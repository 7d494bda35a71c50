"""Address book endpoints under ``/me/addresses``."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNoContent
from pyramid.request import Request
from pyramid.view import view_config

from ..http.helpers import json_body, page_body, paging, path_param, query_params
from .services import AddressService, address_out


@view_config(
    route_name="api.me.addresses", request_method="GET", renderer="json", permission="authenticated", openapi=True
)
def list_addresses(request: Request) -> dict:
    page, per_page = paging(query_params(request))
    rows, total = request.find_service(AddressService).list(request.identity.user_id, page, per_page)
    return page_body([address_out(address) for address in rows], total, page, per_page)


@view_config(
    route_name="api.me.addresses", request_method="POST", renderer="json", permission="authenticated", openapi=True
)
def create_address(request: Request) -> dict:
    address = request.find_service(AddressService).create(request.identity.user_id, json_body(request))
    request.response.status = 201
    request.response.headers["Location"] = request.route_path("api.me.address", address_id=address.id)
    return address_out(address)


@view_config(
    route_name="api.me.address", request_method="PATCH", renderer="json", permission="authenticated", openapi=True
)
def update_address(request: Request) -> dict:
    service = request.find_service(AddressService)
    return address_out(service.update(request.identity.user_id, path_param(request, "address_id"), json_body(request)))


@view_config(route_name="api.me.address", request_method="DELETE", permission="authenticated", openapi=True)
def delete_address(request: Request) -> HTTPNoContent:
    request.find_service(AddressService).delete(request.identity.user_id, path_param(request, "address_id"))
    return HTTPNoContent()
