"""The catalogue's tween: anonymous book reads answered from the cache, above the transaction manager."""

from __future__ import annotations

import re

from ..http.helpers import cacheable_json
from .cache import CatalogCache

_BOOK_PATH = re.compile(r"^/api/v1/books/([1-9][0-9]{0,17})$")


def cached_book_tween(handler, registry):
    """Answer anonymous ``GET /api/v1/books/{id}`` cache hits before the transaction manager.

    It is the shop's hottest read (every book page and cart line). A hit needs no
    database, so answering it here skips the transaction, routing, validation and
    view machinery: about a third of the request's cost. Everything else — a miss,
    a request with a token (staff see more than shoppers), an id outside the
    spec's range — goes down the normal path, which validates the request and
    builds and stores the entry. The response is the same as the view's
    (``cacheable_json``: ETag, 304, Cache-Control).
    """
    cache: CatalogCache = registry["catalog_cache"]

    def tween(request):
        if request.method == "GET" and "Authorization" not in request.headers:
            match = _BOOK_PATH.match(request.path_info)
            if match is not None:
                body = cache.cached_book_json(int(match.group(1)))
                if body is not None:
                    return cacheable_json(request, body, max_age=0)
        return handler(request)

    return tween
