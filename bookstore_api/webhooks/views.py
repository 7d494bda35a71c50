"""Webhook endpoints (staff): create, list, change, delete, the delivery log, test events."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNoContent
from pyramid.request import Request
from pyramid.view import view_config

from ..http.helpers import json_body, page_body, paging, path_param, query_params
from .services import WebhookService, delivery_out, endpoint_out


def _service(request: Request) -> WebhookService:
    return request.find_service(WebhookService)


@view_config(route_name="api.webhooks", request_method="POST", renderer="json", permission="staff", openapi=True)
def create_webhook(request: Request) -> dict:
    body = json_body(request)
    endpoint, secret = _service(request).create(
        body["url"], body["events"], body.get("description"), request.identity.user_id
    )
    request.response.status = 201
    request.response.headers["Location"] = request.route_path("api.webhook", webhook_id=endpoint.id)
    return endpoint_out(endpoint, secret)


@view_config(route_name="api.webhooks", request_method="GET", renderer="json", permission="staff", openapi=True)
def list_webhooks(request: Request) -> dict:
    page, per_page = paging(query_params(request))
    endpoints, total = _service(request).list(page, per_page)
    return page_body([endpoint_out(endpoint) for endpoint in endpoints], total, page, per_page)


@view_config(route_name="api.webhook", request_method="GET", renderer="json", permission="staff", openapi=True)
def get_webhook(request: Request) -> dict:
    return endpoint_out(_service(request).get(path_param(request, "webhook_id")))


@view_config(route_name="api.webhook", request_method="PATCH", renderer="json", permission="staff", openapi=True)
def update_webhook(request: Request) -> dict:
    return endpoint_out(_service(request).update(path_param(request, "webhook_id"), json_body(request)))


@view_config(route_name="api.webhook", request_method="DELETE", permission="staff", openapi=True)
def delete_webhook(request: Request) -> HTTPNoContent:
    _service(request).delete(path_param(request, "webhook_id"))
    return HTTPNoContent()


@view_config(
    route_name="api.webhook.deliveries", request_method="GET", renderer="json", permission="staff", openapi=True
)
def list_deliveries(request: Request) -> dict:
    page, per_page = paging(query_params(request))
    rows, total = _service(request).deliveries(path_param(request, "webhook_id"), page, per_page)
    return page_body([delivery_out(row) for row in rows], total, page, per_page)


@view_config(route_name="api.webhook.test", request_method="POST", renderer="json", permission="staff", openapi=True)
def send_test(request: Request) -> dict:
    delivery = _service(request).send_test(path_param(request, "webhook_id"))
    request.response.status = 202
    return delivery_out(delivery)
