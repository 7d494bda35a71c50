"""Catalog endpoints: books, authors and genres."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNoContent
from pyramid.request import Request
from pyramid.view import view_config

from ..covers.services import CoverService
from ..http.errors import invalid, not_found
from ..http.helpers import cacheable_json, paging
from ..http.renderers import dumps
from ..reviews.services import ReviewService
from .cache import LIST_TTL, VOLATILE_LIST_TTL, CatalogCache
from .schemas import author_out, book_out, genre_out, normalize_isbn, parse_book_fields, parse_price
from .services import BookQuery, CatalogService, book_rows


def _is_staff(request: Request) -> bool:
    return request.identity is not None and request.identity.is_staff


def book_query_from(params: dict) -> BookQuery:
    """Turn validated query parameters into a :class:`BookQuery` (shared with the cache layer).

    The spec has checked each parameter; what is left is the rule across two of them.
    """
    min_price, max_price = parse_price(params.get("min_price")), parse_price(params.get("max_price"))
    if min_price is not None and max_price is not None and min_price > max_price:
        raise invalid("min_price is above max_price.", {"min_price": "Must not be above max_price."})
    page, per_page = paging(params)
    return BookQuery(
        q=params.get("q"),
        author=params.get("author"),
        genre=params.get("genre"),
        min_price=min_price,
        max_price=max_price,
        in_stock=params.get("in_stock"),
        sort=params.get("sort"),
        page=page,
        per_page=per_page,
    )


def _render_books(service: CatalogService, ids: list[int]) -> dict[int, bytes]:
    return render_books(service.db, ids)


def render_books(connection, ids: list[int]) -> dict[int, bytes]:
    """The shared (anonymous) JSON of the live books among ``ids``, in one query."""
    return {book.id: dumps(book_out(book)) for book in book_rows(connection, ids)}


@view_config(route_name="api.books", request_method="GET", renderer="json", openapi=True)
def list_books(request: Request):
    query = book_query_from(request.validated.query)
    if _is_staff(request):
        service = request.find_service(CatalogService)
        return service.search_books(query).as_dict(lambda book: book_out(book, staff=True))
    cache: CatalogCache = request.registry["catalog_cache"]

    def build_ids() -> bytes:
        ids = request.find_service(CatalogService).search_ids(query)
        return dumps({"ids": ids.ids, "total": ids.total, "capped": ids.total_capped})

    ttl = VOLATILE_LIST_TTL if query.sort in ("bestselling", "rating") else LIST_TTL
    # the query's fields as a dict (a flat dataclass: what asdict() gives, without its deep copy)
    params = dict(vars(query))
    found, items = cache.listing(
        params, build_ids, ttl, lambda ids: _render_books(request.find_service(CatalogService), ids)
    )
    cache.remember_query(request.query_string, params, query.page, query.per_page, ttl)
    return cacheable_json(request, listing_body(found, query.page, query.per_page, items), max_age=0)


def listing_body(found: dict, page: int, per_page: int, items: list[bytes]) -> bytes:
    """A page of books: the listing's entry (total, capped) and the books' shared JSON."""
    head = dumps({"total": found["total"], "page": page, "per_page": per_page})
    capped = b',"total_capped":true' if found["capped"] else b""
    return b'{"items":[' + b",".join(items) + b"]," + head[1:-1] + capped + b"}"


@view_config(route_name="api.books", request_method="POST", renderer="json", permission="staff", openapi=True)
def create_book(request: Request) -> dict:
    service = request.find_service(CatalogService)
    values = parse_book_fields(request.validated.body, partial=False, currency=service.currency)
    book = service.create_book(values)
    request.response.status = 201
    request.response.headers["Location"] = request.route_path("api.book", book_id=book.id)
    return book_out(book, staff=True)


@view_config(route_name="api.book", request_method="GET", renderer="json", openapi=True)
def get_book(request: Request):
    book_id = request.validated.path["book_id"]
    if _is_staff(request):
        service = request.find_service(CatalogService)
        return book_out(service.get_book(book_id, include_archived=True), staff=True)
    # A cache hit needs neither the service container nor a database session.
    body = request.registry["catalog_cache"].book_json(
        book_id, lambda: _render_books(request.find_service(CatalogService), [book_id]).get(book_id)
    )
    if body is None:
        raise not_found("book")
    if request.identity is not None:
        body = _with_can_review(request, book_id, body)
    return cacheable_json(request, body, max_age=0)


def _with_can_review(request: Request, book_id: int, body: bytes) -> bytes:
    """A customer's copy of the shared book JSON, with whether they may review the book now.

    Per caller, so never part of the cached entry (which anonymous readers share).
    """
    allowed = request.find_service(ReviewService).can_review(request.identity.user_id, book_id)
    return body[: body.rindex(b"}")] + (b',"can_review":true}' if allowed else b',"can_review":false}')


@view_config(route_name="api.book.isbn", request_method="GET", renderer="json", openapi=True)
def get_book_by_isbn(request: Request) -> dict:
    isbn = normalize_isbn(request.validated.path["isbn"])
    if isbn is None:
        raise invalid("Not a valid ISBN-13.", {"isbn": "The check digit is wrong."})
    staff = _is_staff(request)
    book = request.find_service(CatalogService).get_book_by_isbn(isbn, include_archived=staff)
    return book_out(book, staff=staff)


@view_config(route_name="api.book", request_method="PATCH", renderer="json", permission="staff", openapi=True)
def update_book(request: Request) -> dict:
    service = request.find_service(CatalogService)
    values = parse_book_fields(request.validated.body, partial=True, currency=service.currency)
    if "cover_url" in values:
        request.find_service(CoverService).before_cover_url_change(request.validated.path["book_id"], values)
    book = service.update_book(request.validated.path["book_id"], values)
    return book_out(book, staff=True)


@view_config(route_name="api.book", request_method="DELETE", permission="staff", openapi=True)
def delete_book(request: Request) -> HTTPNoContent:
    book_id = request.validated.path["book_id"]
    orphan_cover_if_deleted = request.find_service(CoverService).before_book_delete(book_id)
    orphan_cover_if_deleted(request.find_service(CatalogService).delete_book(book_id) == "deleted")
    return HTTPNoContent()


@view_config(route_name="api.authors", request_method="GET", renderer="json", openapi=True)
def list_authors(request: Request) -> dict:
    params = request.validated.query
    page, per_page = paging(params)
    result = request.find_service(CatalogService).list_authors(params.get("q"), page, per_page)
    return result.as_dict(author_out)


@view_config(route_name="api.author", request_method="GET", renderer="json", openapi=True)
def get_author(request: Request) -> dict:
    author, book_count = request.find_service(CatalogService).get_author(request.validated.path["author_id"])
    return {**author_out(author), "bio": author.bio, "book_count": book_count}


@view_config(route_name="api.genres", request_method="GET", renderer="json", openapi=True)
def list_genres(request: Request):
    def build() -> bytes:
        genres = request.find_service(CatalogService).list_genres()
        items = [{**genre_out(genre), "book_count": count} for genre, count in genres]
        return dumps({"items": items, "total": len(items), "page": 1, "per_page": max(len(items), 1)})

    return cacheable_json(request, request.registry["catalog_cache"].catalog_entry("genres", {}, build), max_age=60)
