"""The storefront's request class: ``request.user`` and ``request.api``, computed once per request.

They are declared on the class rather than added with ``add_request_method``:
Pyramid applies added properties by deriving a new class for every request,
which cost about a tenth of a cached book page.
"""

from __future__ import annotations

from typing import Any

from pyramid.decorator import reify
from pyramid.request import Request


class WebRequest(Request):
    @reify
    def user(self) -> dict[str, Any] | None:
        """``{id, email, name, role, email_verified}`` of the signed-in shopper, or None."""
        from .auth import current_user

        return current_user(self)

    @reify
    def api(self):
        """The API client bound to this page: its request id, the shopper's token and address."""
        from .api import RequestApi
        from .auth import end_revoked_session, session_token

        return RequestApi(
            self.registry["api_client"],
            getattr(self, "request_id", None),
            session_token(self),
            self.client_addr,
            on_unauthorized=lambda: end_revoked_session(self),
        )


def includeme(config: Any) -> None:
    config.set_request_factory(WebRequest)
