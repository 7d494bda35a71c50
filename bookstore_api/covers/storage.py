"""Where cover images live: a local directory in development, a private S3 bucket in AWS.

Both backends store immutable objects under content-addressed keys
(``<book id>/<digest>-<width>w.webp``): a replaced cover gets new keys, so no
cache (the browser's, the CDN's, the storefront's page cache) can ever serve a
stale cover, and the old objects become *orphans*. ``mark_orphaned`` hands
them to the backend's clean-up:

* ``LocalCoverStorage`` deletes them at once (development has no CDN).
* ``S3CoverStorage`` tags them ``orphaned=true``; the bucket's lifecycle rule
  (``roles/covers``) expires tagged objects after a grace period, so pages
  cached with the old URL keep their image until they expire too. A new upload
  of the same bytes writes the object again, which clears its tags.

The bucket is private (every public access blocked, ACLs disabled); shoppers
read covers through CloudFront with Origin Access Control, at stable URLs built
from ``public_url`` (see README, "Covers"). Objects are written with
``Cache-Control: public, max-age=31536000, immutable``.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from ..exceptions import Busy

log = logging.getLogger(__name__)

CACHE_CONTROL = "public, max-age=31536000, immutable"
ORPHAN_TAG = {"Key": "orphaned", "Value": "true"}
#: keys this code writes: "<book id>/<hex digest>-<width>w.webp"
_KEY = re.compile(r"[0-9]{1,19}/[0-9a-f]{32}-[0-9]{1,4}w\.webp")


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a cover key: {key!r}")
    return key


class CoverStorage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def mark_orphaned(self, keys: list[str]) -> None: ...

    def url(self, key: str) -> str: ...


class LocalCoverStorage:
    """Covers as files under ``root`` (``var/covers`` for ``make run``), served by the storefront at ``/covers/``."""

    def __init__(self, root: str | Path, public_url: str = "/covers/"):
        self.root = Path(root)
        self.public_url = public_url if public_url.endswith("/") else public_url + "/"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)  # readers see the whole file or none
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def mark_orphaned(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return self.public_url + check_key(key)


class S3CoverStorage:
    """Covers as objects under ``prefix`` in a private bucket; URLs on the CDN in front of it."""

    def __init__(self, bucket: str, public_url: str, *, prefix: str = "covers/", client: Any = None, **client_args):
        self.bucket = bucket
        self.prefix = prefix
        self.public_url = public_url if public_url.endswith("/") else public_url + "/"
        self._client = client
        self._client_args = client_args

    @property
    def client(self) -> Any:
        if self._client is None:  # boto3 is imported (about 0.3 s) on the first use, not at start-up
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
            self._client = boto3.client("s3", config=config, **self._client_args)
        return self._client

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if what == "read" and exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            log.error("cover storage %s failed: %s", method, exc.response.get("Error", {}).get("Code"))
            raise Busy("The cover storage is unavailable; please retry shortly.", retry_after=5) from exc
        except BotoCoreError as exc:
            log.error("cover storage %s failed: %s", method, exc.__class__.__name__)
            raise Busy("The cover storage is unavailable; please retry shortly.", retry_after=5) from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._call(
            "write",
            "put_object",
            Key=self._object(key),
            Body=data,
            ContentType=content_type,
            CacheControl=CACHE_CONTROL,
        )

    def get(self, key: str) -> bytes | None:
        found = self._call("read", "get_object", Key=self._object(key))
        return None if found is None else found["Body"].read()

    def mark_orphaned(self, keys: list[str]) -> None:
        for key in keys:
            self._call("write", "put_object_tagging", Key=self._object(key), Tagging={"TagSet": [ORPHAN_TAG]})

    def url(self, key: str) -> str:
        return self.public_url + self._object(key)


def storage_from_settings(settings: dict[str, Any]) -> CoverStorage:
    kind = settings.get("bookstore.covers_storage", "local")
    if kind == "s3":
        bucket = settings.get("bookstore.covers_bucket")
        public_url = settings.get("bookstore.covers_public_url")
        if not bucket or not public_url:
            raise ValueError("S3 cover storage needs BOOKSTORE_COVERS_BUCKET and BOOKSTORE_COVERS_PUBLIC_URL")
        client_args = {
            name: settings[setting]
            for name, setting in (
                ("region_name", "bookstore.covers_region"),
                ("endpoint_url", "bookstore.covers_endpoint_url"),
            )
            if settings.get(setting)
        }
        return S3CoverStorage(
            bucket, public_url, prefix=settings.get("bookstore.covers_prefix", "covers/"), **client_args
        )
    if kind != "local":
        raise ValueError(f"BOOKSTORE_COVERS_STORAGE must be local or s3, not {kind!r}")
    if settings.get("bookstore.env") == "production":
        log.warning("covers are kept in a local directory: set BOOKSTORE_COVERS_STORAGE=s3 in production")
    return LocalCoverStorage(
        settings["bookstore.covers_dir"], settings.get("bookstore.covers_public_url") or "/covers/"
    )
