"""The storefront's one way to reach bookstore_api: a small, pooled HTTP client.

* one ``httpx.Client`` per process (connection pooling, keep-alive), with
  connect/read timeouts;
* idempotent requests (GET/HEAD, and anything sent with an ``Idempotency-Key``)
  are retried a few times on connection errors, timeouts and 502/503/504;
* every call carries the ``X-Request-ID`` of the page being served, and the
  shopper's bearer token when they are signed in;
* errors come back as :class:`ApiError` (the API's ``{"error": {...}}`` body) or
  :class:`ApiUnavailable` (the API could not be reached or is down), which the
  error views turn into friendly pages.

Views use ``request.api``, a :class:`RequestApi` bound to the current shopper.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})


@dataclass
class ApiError(Exception):
    """The API answered with an error (4xx, or a 5xx that is not an outage)."""

    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    @property
    def fields(self) -> dict[str, str]:
        """Field name -> message, for 400 invalid input."""
        found = self.details.get("fields") if isinstance(self.details, dict) else None
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


class ApiUnavailable(Exception):
    """The API could not be reached, timed out, or said a dependency is down."""


class ApiClient:
    """A thread-safe, pooled client for bookstore_api (one per process)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 2.0,
        retries: int = 2,
        pool_size: int = 20,
        transport: httpx.BaseTransport | None = None,
        backoff_seconds: float = 0.05,
    ):
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._client = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout),
            limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
            headers={"Accept": "application/json", "User-Agent": "bookstore-web/1"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        token: str | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request (retrying idempotent ones); raise ApiError / ApiUnavailable.

        ``content`` sends a raw body (say, a CSV file) instead of ``json``; ``timeout``
        overrides the read timeout for a call known to take long (an import).
        """
        method = method.upper()
        sent_headers = _headers(headers, token, request_id)
        clean_params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        retryable = method in IDEMPOTENT_METHODS or "Idempotency-Key" in sent_headers
        attempts = 1 + (self.retries if retryable else 0)
        url = "/api/v1" + path if not path.startswith(("/api/", "/healthz", "/readyz")) else path
        for attempt in range(1, attempts + 1):
            try:
                extra: dict[str, Any] = {"content": content} if content is not None else {"json": json}
                if timeout is not None:
                    extra["timeout"] = httpx.Timeout(timeout, connect=self._client.timeout.connect)
                response = self._client.request(method, url, params=clean_params, headers=sent_headers, **extra)
            except httpx.TransportError as exc:
                if attempt < attempts:
                    log.warning("API %s %s failed (%s); retrying", method, url, exc.__class__.__name__)
                    time.sleep(self.backoff_seconds * attempt)
                    continue
                raise ApiUnavailable(f"{method} {url}: {exc.__class__.__name__}") from exc
            if response.status_code in RETRY_STATUSES:
                if attempt < attempts:
                    log.warning("API %s %s answered %s; retrying", method, url, response.status_code)
                    time.sleep(self.backoff_seconds * attempt)
                    continue
                raise ApiUnavailable(f"{method} {url}: HTTP {response.status_code}")
            if response.status_code >= 400:
                raise _error_from(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def stream_get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Start a GET whose body is read as it arrives (``iter_bytes``); the caller must ``close()`` it."""
        sent_headers = _headers(headers, token, request_id)
        clean_params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        request = self._client.build_request(
            "GET",
            "/api/v1" + path,
            params=clean_params,
            headers=sent_headers,
            timeout=httpx.Timeout(timeout or self._client.timeout.read, connect=self._client.timeout.connect),
        )
        try:
            response = self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise ApiUnavailable(f"GET {path}: {exc.__class__.__name__}") from exc
        if response.status_code >= 400:
            response.read()
            response.close()
            if response.status_code in RETRY_STATUSES:
                raise ApiUnavailable(f"GET {path}: HTTP {response.status_code}")
            raise _error_from(response)
        return response


def _headers(headers: Mapping[str, str] | None, token: str | None, request_id: str | None) -> dict[str, str]:
    sent: dict[str, str] = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if request_id:
        sent["X-Request-ID"] = request_id
    return sent


def _error_from(response: httpx.Response) -> ApiError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    details = error.get("details")
    return ApiError(
        status=response.status_code,
        code=str(error.get("code") or "error"),
        message=str(error.get("message") or response.reason_phrase or "Error"),
        details=details if isinstance(details, dict) else {},
    )


class RequestApi:
    """The API client bound to one page request: its request id and the shopper's token.

    ``on_unauthorized`` is called when the API answers 401 to a call made with the
    shopper's own token (revoked after a password reset or change, the account
    deleted, expired): the storefront then ends the shopper's session, whether or
    not the view goes on to handle the error itself.
    """

    def __init__(
        self,
        client: ApiClient,
        request_id: str | None,
        token: str | None,
        client_addr: str | None = None,
        on_unauthorized: Callable[[], None] | None = None,
    ):
        self.client = client
        self.request_id = request_id
        self.token = token
        self.client_addr = client_addr
        self.on_unauthorized = on_unauthorized

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.client_addr:
            headers.setdefault("X-Forwarded-For", self.client_addr)
        kwargs.setdefault("token", self.token)
        try:
            response = self.client.request(method, path, request_id=self.request_id, headers=headers, **kwargs)
        except ApiError as exc:
            if exc.status == 401 and self.token and kwargs["token"] == self.token:
                self.token = None  # no further call of this page sends it
                if self.on_unauthorized is not None:
                    self.on_unauthorized()
            raise
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The API's response itself (a CSV body, say), errors raised as for :meth:`call`."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self.client_addr:
            headers.setdefault("X-Forwarded-For", self.client_addr)
        kwargs.setdefault("token", self.token)
        return self.client.request(method, path, request_id=self.request_id, headers=headers, **kwargs)

    def stream_get(self, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("token", self.token)
        return self.client.stream_get(path, request_id=self.request_id, **kwargs)

    def get(self, path: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.call("GET", path, params=params, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.call("PUT", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.call("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)


def includeme(config: Any) -> None:
    settings = config.get_settings()
    client = ApiClient(
        settings["web.api_url"],
        timeout=float(settings["web.api_timeout_seconds"]),
        retries=int(settings["web.api_retries"]),
        pool_size=int(settings["web.api_pool_size"]),
        transport=settings.get("web.api_transport"),
    )
    config.registry["api_client"] = client  # request.api (bookstore_web.request) binds it to a page
