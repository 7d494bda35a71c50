"""Voucher endpoints (staff): create, list, read and change; deactivating is ``active: false``."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.view import view_config

from ..http.helpers import json_body, page_body, paging, path_param, query_params
from .schemas import parse_voucher_fields, voucher_out
from .services import VoucherService


@view_config(route_name="api.vouchers", request_method="POST", renderer="json", permission="staff", openapi=True)
def create_voucher(request: Request) -> dict:
    voucher = request.find_service(VoucherService).create(parse_voucher_fields(json_body(request)))
    request.response.status = 201
    request.response.headers["Location"] = request.route_path("api.voucher", voucher_id=voucher.id)
    return voucher_out(voucher)


@view_config(route_name="api.vouchers", request_method="GET", renderer="json", permission="staff", openapi=True)
def list_vouchers(request: Request) -> dict:
    params = query_params(request)
    page, per_page = paging(params)
    vouchers, total = request.find_service(VoucherService).list(params.get("active"), page, per_page)
    return page_body([voucher_out(voucher) for voucher in vouchers], total, page, per_page)


@view_config(route_name="api.voucher", request_method="GET", renderer="json", permission="staff", openapi=True)
def get_voucher(request: Request) -> dict:
    return voucher_out(request.find_service(VoucherService).get(path_param(request, "voucher_id")))


@view_config(route_name="api.voucher", request_method="PATCH", renderer="json", permission="staff", openapi=True)
def update_voucher(request: Request) -> dict:
    values = parse_voucher_fields(json_body(request))
    return voucher_out(request.find_service(VoucherService).update(path_param(request, "voucher_id"), values))
