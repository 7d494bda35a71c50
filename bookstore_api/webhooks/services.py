"""Managing webhook endpoints (staff): create, list, change, delete, the delivery log, test events."""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..exceptions import InvalidInput, NotConfigured, NotFound
from . import events
from .addresses import AddressPolicy, RefusedURL
from .models import EVENT_TYPES, WebhookDelivery, WebhookEndpoint
from .signing import SecretBox, new_secret


def normalised_events(names: list[str]) -> list[str]:
    """The subscribed event types, once each, in the documented order (the spec has checked the names)."""
    wanted = set(names)
    return [name for name in EVENT_TYPES if name in wanted]


class WebhookService:
    def __init__(self, dbsession: Session, box: SecretBox | None, policy: AddressPolicy):
        self.db = dbsession
        self.box = box
        self.policy = policy

    def _checked_url(self, url: str) -> str:
        try:
            self.policy.check(url)
        except RefusedURL as exc:
            raise InvalidInput(str(exc), {"url": str(exc)}, code="url_refused") from exc
        return url

    def _box(self) -> SecretBox:
        if self.box is None:
            raise NotConfigured("Webhooks need BOOKSTORE_WEBHOOK_SECRET_KEY to be set on the server.")
        return self.box

    def create(
        self, url: str, event_types: list[str], description: str | None, actor_user_id: int | None
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its signing secret (shown once: only its ciphertext is kept)."""
        box = self._box()
        secret = new_secret()
        endpoint = WebhookEndpoint(
            url=self._checked_url(url),
            events=normalised_events(event_types),
            description=description,
            secret_ciphertext=box.encrypt(secret),
            created_by=actor_user_id,
        )
        self.db.add(endpoint)
        self.db.flush()
        self.db.refresh(endpoint)
        return endpoint, secret

    def get(self, endpoint_id: int, *, for_update: bool = False) -> WebhookEndpoint:
        statement = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        if for_update:
            statement = statement.with_for_update()
        endpoint = self.db.scalar(statement)
        if endpoint is None:
            raise NotFound("webhook")
        return endpoint

    def list(self, page: int, per_page: int) -> tuple[list[WebhookEndpoint], int]:
        total = self.db.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0
        rows = self.db.scalars(
            select(WebhookEndpoint).order_by(WebhookEndpoint.id).offset((page - 1) * per_page).limit(per_page)
        )
        return list(rows), total

    def update(self, endpoint_id: int, changes: dict[str, Any]) -> WebhookEndpoint:
        """Change the URL, events or description; any edit clears ``failing`` (staff have looked at it)."""
        endpoint = self.get(endpoint_id, for_update=True)
        if "url" in changes:
            endpoint.url = self._checked_url(changes["url"])
        if "events" in changes:
            endpoint.events = normalised_events(changes["events"])
        if "description" in changes:
            endpoint.description = changes["description"]
        endpoint.failing_since = None
        self.db.flush()
        self.db.refresh(endpoint)
        return endpoint

    def delete(self, endpoint_id: int) -> None:
        self.db.delete(self.get(endpoint_id, for_update=True))
        self.db.flush()

    def deliveries(self, endpoint_id: int, page: int, per_page: int) -> tuple[list[WebhookDelivery], int]:
        self.get(endpoint_id)
        condition = WebhookDelivery.endpoint_id == endpoint_id
        total = self.db.scalar(select(func.count()).select_from(WebhookDelivery).where(condition)) or 0
        rows = self.db.scalars(
            select(WebhookDelivery)
            .where(condition)
            .order_by(WebhookDelivery.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        return list(rows), total

    def send_test(self, endpoint_id: int) -> WebhookDelivery:
        """Queue a ``webhook.test`` event for this endpoint (the worker sends it like any other)."""
        self._box()
        self.get(endpoint_id)
        delivery_id = events.emit_test(self.db, endpoint_id)
        return self.db.get(WebhookDelivery, delivery_id)


def endpoint_out(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    body = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "failing": endpoint.failing,
        "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
        "created_at": endpoint.created_at.isoformat(),
        "updated_at": endpoint.updated_at.isoformat(),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def delivery_out(delivery: WebhookDelivery) -> dict[str, Any]:
    def stamp(value):
        return value.isoformat() if value is not None else None

    return {
        "id": str(delivery.public_id),
        "event_id": str(delivery.event_id),
        "event": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "status_code": delivery.last_status_code,
        "duration_ms": delivery.last_duration_ms,
        "error": delivery.last_error,
        "next_attempt_at": stamp(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "delivered_at": stamp(delivery.delivered_at),
        "failed_at": stamp(delivery.failed_at),
        "created_at": stamp(delivery.created_at),
    }


def includeme(config: Configurator) -> None:
    registry = config.registry

    def factory(context, request):
        return WebhookService(request.dbsession, registry["webhook_secret_box"], registry["webhook_address_policy"])

    config.register_service_factory(factory, WebhookService)
