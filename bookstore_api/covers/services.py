"""Cover rules: putting an uploaded cover on a book, removing it, and what becomes of the old images.

A book shows at most one cover: an uploaded one (renditions in the cover
storage; ``cover_url`` points at the largest, ``cover_srcset`` lists them all)
or an image URL given with the book's fields. Uploading replaces either;
setting a different ``cover_url`` replaces an upload; deleting the cover
removes both, and the storefront draws its typographic cover again.

Images are checked and re-encoded (:mod:`.images`) before any lock is taken;
the renditions are written under new content-addressed keys before the row
changes, so the database never names an object that is not there. Objects
that stop being named are marked orphaned once the transaction commits (or,
when it fails or is aborted, the ones just written), for the storage's clean-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import transaction
from pyramid.config import Configurator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..catalog.cache import CatalogCache
from ..catalog.models import Book
from ..exceptions import NotFound
from .images import ProcessedCover, process_cover, rendition_widths
from .storage import CoverStorage, storage_from_settings

log = logging.getLogger(__name__)

RENDITION_TYPE = "image/webp"


def cover_keys(book_id: int, digest: str | None, width: int | None) -> list[str]:
    """The storage keys of a book's uploaded cover renditions (none without an upload)."""
    if not digest or not width:
        return []
    return [f"{book_id}/{digest}-{w}w.webp" for w in rendition_widths(width)]


class CoverService:
    def __init__(self, dbsession: Session, storage: CoverStorage, cache: CatalogCache | None = None):
        self.db = dbsession
        self.storage = storage
        self.cache = cache

    def _book(self, book_id: int, *, lock: bool = False) -> Book:
        statement = select(Book).where(Book.id == book_id)
        if lock:  # uploads to one book take their turn
            statement = statement.with_for_update(of=Book)
        book = self.db.scalar(statement)
        if book is None:
            raise NotFound("book")
        return book

    def set_cover(self, book_id: int, data: bytes, content_type: str | None) -> Book:
        self._book(book_id)  # a 404 before the work of decoding
        cover: ProcessedCover = process_cover(data, content_type)
        book = self._book(book_id, lock=True)
        old = cover_keys(book.id, book.cover_image, book.cover_width)
        new = cover_keys(book.id, cover.digest, cover.largest.width)
        for key, rendition in zip(new, cover.renditions, strict=True):
            self.storage.put(key, rendition.data, RENDITION_TYPE)
        urls = [self.storage.url(key) for key in new]
        book.cover_image = cover.digest
        book.cover_width, book.cover_height = cover.largest.width, cover.largest.height
        book.cover_url = urls[-1]
        book.cover_srcset = ", ".join(f"{url} {r.width}w" for url, r in zip(urls, cover.renditions, strict=True))
        self.db.flush()
        self._after_commit(dropped=[key for key in old if key not in new], written=[k for k in new if k not in old])
        self._changed(book.id)
        return book

    def delete_cover(self, book_id: int) -> None:
        book = self._book(book_id, lock=True)
        if book.cover_url is None and book.cover_image is None:
            return
        self._forget_upload(book)
        book.cover_url = None
        self.db.flush()
        self._changed(book.id)

    def before_cover_url_change(self, book_id: int, values: dict[str, Any]) -> None:
        """Prepare an update that sets ``cover_url``: the same URL again keeps the cover as it is
        (clients send back what they read); another one replaces an uploaded cover."""
        book = self.db.get(Book, book_id)
        if book is None or "cover_url" not in values:
            return  # the update itself answers 404
        if values["cover_url"] == book.cover_url:
            values.pop("cover_url")
        elif book.cover_image is not None:
            self._forget_upload(book)
            self._changed(book.id)

    def before_book_delete(self, book_id: int) -> Callable[[bool], None]:
        """Call the result with whether the book was deleted (not archived): a deleted book's
        uploaded renditions are orphaned once that commits."""
        book = self.db.get(Book, book_id)
        keys = cover_keys(book.id, book.cover_image, book.cover_width) if book is not None else []

        def deleted(gone: bool) -> None:
            if gone:
                self._after_commit(dropped=keys, written=[])

        return deleted

    def _forget_upload(self, book: Book) -> None:
        dropped = cover_keys(book.id, book.cover_image, book.cover_width)
        book.cover_image = book.cover_srcset = book.cover_width = book.cover_height = None
        self._after_commit(dropped=dropped, written=[])

    def _after_commit(self, *, dropped: list[str], written: list[str]) -> None:
        if not dropped and not written:
            return
        storage = self.storage

        def orphan(committed: bool) -> None:
            keys = dropped if committed else written
            if not keys:
                return
            try:
                storage.mark_orphaned(keys)
            except Exception:  # the clean-up must never fail a request that has committed
                log.exception("could not mark %d cover object(s) orphaned", len(keys))

        current = transaction.get()
        current.addAfterCommitHook(orphan)
        current.addAfterAbortHook(orphan, args=(False,))  # an error after the upload: what it wrote is not named

    def _changed(self, book_id: int) -> None:
        if self.cache is not None:
            self.cache.after_commit_bump(books=[book_id])


def includeme(config: Configurator) -> None:
    config.registry["cover_storage"] = storage_from_settings(config.get_settings())
    config.register_service_factory(
        lambda context, request: CoverService(
            request.dbsession, request.registry["cover_storage"], request.registry["catalog_cache"]
        ),
        CoverService,
    )
